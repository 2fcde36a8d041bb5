"""Purchases and grants of seats and licenses (R11, R15): a paid order in billing, the
licenses it brings."""

from datetime import timedelta
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from billing.models import Order, OrderLine
from billing.services import LineSpec, order_for_checkout, order_place
from licensing.models import (
    License,
    LicenseKind,
    Product,
)
from organizations.models import Account, Organization
from portal import errors
from portal.audit import audit_record
from portal.emails import email_send

TERM_CHOICES = {365: "1 year", 730: "2 years", 1095: "3 years"}


MAX_SEATS_PER_ORDER = 1000


MAX_GRANT_SEATS = 10_000


class AlreadyApplied(errors.Conflict):
    """R16: a trial, and a beta, once per product."""

    code = "already_applied"
    default_message = "You have already had this for this product."


class ProductUnavailable(errors.Conflict):
    """R11: an inactive product is neither sold nor granted."""

    code = "product_unavailable"
    default_message = "This product is no longer available."


def _product_for_sale(product_id: int) -> Product:
    product = Product.objects.select_for_update().filter(pk=product_id).first()
    if product is None or not product.active:
        raise ProductUnavailable(
            f"{product.name if product else 'This product'} can no longer be bought or granted.",
            field="product",
            fields={"product": "not available"},
        )
    return product


def order_line(*, product: Product, item: str, quantity: int, term_days: int) -> LineSpec:
    """The order line for seats or a license: price per seat-year × seats × whole years."""
    return LineSpec(
        item=item,
        product_code=product.code,
        description=product.name,
        quantity=quantity,
        term_days=term_days,
        unit_price=product.price,
    )


def order_total(*, product: Product, quantity: int, term_days: int) -> Decimal:
    """Product.price is per seat-year; a term is a whole number of years (R39)."""
    return order_line(
        product=product, item=OrderLine.Item.SEATS, quantity=quantity, term_days=term_days
    ).total


def _check_order(quantity: int, term_days: int) -> None:
    if term_days not in TERM_CHOICES:
        raise errors.InvalidRequest(
            "Choose a term of 1, 2 or 3 years.", field="term", fields={"term": "unknown term"}
        )
    if not 1 <= quantity <= MAX_SEATS_PER_ORDER:
        raise errors.InvalidRequest(
            f"Buy between 1 and {MAX_SEATS_PER_ORDER} seats at a time.",
            field="quantity",
            fields={"quantity": "out of range"},
        )


def _order_place(
    *, actor, organization, product_id, item, quantity, term_days, checkout_token
) -> tuple[Order, OrderLine | None, Product]:
    """Inside the caller's transaction: a new paid order with its one line (R15), or, for a
    checkout token already used, the order it placed and no line.

    The product lock serializes purchases of it, so the token check after it sees an order
    placed by a concurrent submission of the same checkout page."""
    product = _product_for_sale(product_id)
    existing = order_for_checkout(checkout_token=checkout_token)
    if existing is not None:
        return existing, None, product
    order, lines = order_place(
        buyer=actor,
        organization=organization,
        lines=[order_line(product=product, item=item, quantity=quantity, term_days=term_days)],
        checkout_token=checkout_token,
        limit_field="quantity" if item == OrderLine.Item.SEATS else "term",
    )
    return order, lines[0], product


def seats_purchase(
    *,
    actor: Account,
    organization: Organization,
    product: Product,
    quantity: int,
    term_days: int,
    checkout_token: str | None = None,
) -> Order:
    """R15: the administrator buys `quantity` seats for `term_days`; they arrive unassigned.
    Checkout is simulated: a paid order with one line is recorded. A repeated
    `checkout_token` returns the order already placed."""
    _check_order(quantity, term_days)
    with transaction.atomic():
        order, line, product = _order_place(
            actor=actor,
            organization=organization,
            product_id=product.pk,
            item=OrderLine.Item.SEATS,
            quantity=quantity,
            term_days=term_days,
            checkout_token=checkout_token,
        )
        if line is None:
            return order
        now = timezone.now()
        License.objects.bulk_create(
            License(
                product=product,
                organization=organization,
                kind=LicenseKind.COMMERCIAL,
                starts_at=now,
                ends_at=now + timedelta(days=term_days),
                order_line=line,
                created_at=now,
            )
            for _ in range(quantity)
        )
        audit_record(
            actor=actor,
            action="seats.purchased",
            organization=organization,
            target=product.code,
            details={
                "order_id": order.pk,
                "quantity": quantity,
                "term_days": term_days,
                "total": str(order.total),
            },
        )
    return order


def license_purchase(
    *, actor: Account, product: Product, term_days: int, checkout_token: str | None = None
) -> Order:
    """R15: any account, member or not, buys a personal license for itself."""
    _check_order(1, term_days)
    with transaction.atomic():
        order, line, product = _order_place(
            actor=actor,
            organization=None,
            product_id=product.pk,
            item=OrderLine.Item.LICENSE,
            quantity=1,
            term_days=term_days,
            checkout_token=checkout_token,
        )
        if line is None:
            return order
        now = timezone.now()
        lic = License.objects.create(
            product=product,
            account=actor,
            kind=LicenseKind.COMMERCIAL,
            starts_at=now,
            ends_at=now + timedelta(days=term_days),
            order_line=line,
        )
        audit_record(
            actor=actor,
            action="license.purchased",
            target=actor.email,
            details={"order_id": order.pk, "license_id": lic.pk, "product": product.code},
        )
    return order


def licenses_grant(
    *,
    actor,
    product: Product,
    organization: Organization | None = None,
    account: Account | None = None,
    seats: int = 1,
    days: int | None = None,
    kind: str = LicenseKind.COMMERCIAL,
) -> list[License]:
    """Staff grant seats to an organization or one personal license to an account (R11,
    R32): no order, no price. `days` None means perpetual. A trial or beta grant obeys the
    once-per-product rule (R16)."""
    if (organization is None) == (account is None):
        raise errors.InvalidRequest("Grant to an organization or to an account, not both.")
    if kind not in LicenseKind.values:
        raise errors.InvalidRequest(f"Unknown kind {kind!r}.", fields={"kind": "unknown kind"})
    if days is not None and days < 1:
        raise errors.InvalidRequest("Days must be at least 1.", fields={"days": "at least 1"})
    if account is not None and seats != 1:
        raise errors.InvalidRequest(
            "A personal license is one seat.", fields={"seats": "must be 1 for an account"}
        )
    if not 1 <= seats <= MAX_GRANT_SEATS:
        raise errors.InvalidRequest(
            f"Grant between 1 and {MAX_GRANT_SEATS} seats.", fields={"seats": "out of range"}
        )
    with transaction.atomic():
        product = _product_for_sale(product.pk)
        now = timezone.now()
        ends_at = now + timedelta(days=days) if days else None
        licenses = [
            License(
                product=product,
                organization=organization,
                account=account,
                kind=kind,
                starts_at=now,
                ends_at=ends_at,
                created_at=now,
            )
            for _ in range(seats)
        ]
        try:
            with transaction.atomic():
                licenses = License.objects.bulk_create(licenses)
        except IntegrityError as exc:
            raise AlreadyApplied(
                f"{account} already had a {kind} of {product.name}.", field="kind"
            ) from exc
        audit_record(
            actor=actor,
            action="licenses.granted",
            organization=organization,
            target=organization.name if organization else account.email,
            details={
                "product": product.code,
                "seats": seats,
                "kind": kind,
                "valid_until": ends_at.isoformat() if ends_at else None,
            },
        )
        email_send(
            to=organization.administrator.email if organization else account.email,
            subject=f"{product.name}: "
            + (f"{seats} seat{'s' * (seats != 1)} granted" if organization else "license granted"),
            template="licenses_granted",
            context={
                "organization": organization,
                "product": product,
                "seats": seats,
                "kind_label": LicenseKind(kind).label.lower(),
                "valid_until": ends_at,
            },
        )
    return licenses
