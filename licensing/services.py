"""Writes for licenses and seats (R11–R16). Every function is atomic, locks what it checks,
writes the audit event and raises a domain error with a stable code.

Lock order (docs/licensing.md): product row (purchases and grants only), then the seat row,
then the membership row. Assign, revoke and reassign never lock a product, so they cannot
deadlock against each other or against member removal, which locks a membership and then
the seats assigned to it (a seat that is not yet assigned to that member is not matched).
"""

from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import validate_slug
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from billing.models import Order, OrderLine
from billing.services import LineSpec, order_for_checkout, order_place
from licensing import hooks
from licensing.models import (
    License,
    LicenseKind,
    Product,
    SeatTally,
    active_license_q,
)
from organizations.models import Account, Membership, Organization, normalize_email
from portal import errors
from portal.audit import audit_record
from portal.emails import email_send

TRIAL_DAYS = 30  # R16
BETA_DAYS = 90  # docs/licensing.md: a beta runs for one programme cycle
TERM_CHOICES = {365: "1 year", 730: "2 years", 1095: "3 years"}
MAX_SEATS_PER_ORDER = 1000
MAX_GRANT_SEATS = 10_000


class ProductUnavailable(errors.Conflict):
    """R11: an inactive product is neither sold nor granted."""

    code = "product_unavailable"
    default_message = "This product is no longer available."


class AlreadyApplied(errors.Conflict):
    """R16: a trial, and a beta, once per product."""

    code = "already_applied"
    default_message = "You have already had this for this product."


class OrganizationSeatAssigned(errors.Conflict):
    """R16: no trial or beta of a product while an organizational seat of it is assigned."""

    code = "organization_seat_assigned"
    default_message = "An organization seat of this product is assigned to you."


# --- Helpers --------------------------------------------------------------------------------


def _seat_for_update(*, seat_id: int, organization: Organization) -> License:
    """The organization's seat, locked; 404 alike for missing and not this organization's."""
    seat = (
        License.objects.select_for_update(of=("self",))
        .filter(pk=seat_id, organization=organization)
        .select_related("product")
        .first()
    )
    if seat is None:
        raise errors.NotFound("No such seat in this organization.")
    return seat


def _membership_for_update(*, organization: Organization, email: str | None = None, pk=None):
    """The member's membership row, locked (after the seat: the fixed order). `not_a_member`
    for an unknown email and for an account that is not a member of this organization."""
    # of=self: the join on the account must not lock the account row too.
    memberships = Membership.objects.select_for_update(of=("self",)).filter(
        organization=organization
    )
    if pk is not None:
        memberships = memberships.filter(pk=pk)
    else:
        memberships = memberships.filter(account__email=normalize_email(email or ""))
    membership = memberships.first()
    if membership is None:
        raise errors.NotAMember(
            f"{email or 'This account'} is not a member of {organization.name}.",
            field="email",
            fields={"email": "not a member of this organization"},
        )
    # The account is read separately: joining it would lock its row as well.
    membership.account = Account.objects.get(pk=membership.account_id)
    membership.organization = organization
    return membership


def _release_ended_seats(*, actor, membership: Membership, product: Product, now) -> None:
    """R13: an ended or cancelled seat still holding `membership` must not block a new
    assignment of the same product; release it inside the assigning transaction."""
    stale = (
        License.objects.select_for_update()
        .filter(assignee=membership, product=product)
        .exclude(active_license_q(now))
        .order_by("id")
    )
    for seat in stale:
        _unassign(actor=actor, seat=seat, membership=membership, reason="ended", notify=False)


def _unassign(*, actor, seat: License, membership: Membership, reason: str, notify=True):
    seat.assignee = None
    seat.assigned_at = None
    seat.save(update_fields=["assignee", "assigned_at"])
    audit_record(
        actor=actor,
        action="seat.revoked",
        organization=membership.organization,
        target=membership.account.email,
        details={"license_id": seat.pk, "product": seat.product.code, "reason": reason},
    )
    if notify:
        email_send(
            to=membership.account.email,
            subject=f"Your {seat.product.name} seat was removed",
            template="seat_revoked",
            context={"seat": seat, "membership": membership, "reason": reason},
        )


def _check_assignable(*, seat: License, now) -> None:
    if not seat.is_active_at(now):
        state = (
            "cancelled"
            if seat.cancelled_at
            else ("not valid yet" if seat.starts_at > now else "expired")
        )
        raise errors.SeatUnavailable(f"Seat #{seat.pk} is {state} and cannot be assigned.")


def _give(*, actor, seat: License, membership: Membership, now, previous=None) -> License:
    """Set the assignee; the partial unique index is the last word on R13's "one seat of a
    product per member" and a lost race becomes `duplicate_product_seat`."""
    holds = (
        License.objects.filter(assignee=membership, product=seat.product)
        .filter(active_license_q(now))
        .exclude(pk=seat.pk)
        .exists()
    )
    if holds:
        raise _duplicate(membership, seat.product)
    seat.assignee = membership
    seat.assigned_at = now
    try:
        with transaction.atomic():
            seat.save(update_fields=["assignee", "assigned_at"])
    except IntegrityError as exc:
        raise _duplicate(membership, seat.product) from exc
    details = {"license_id": seat.pk, "product": seat.product.code}
    if previous is not None:
        details["from"] = previous.account.email
    audit_record(
        actor=actor,
        action="seat.reassigned" if previous is not None else "seat.assigned",
        organization=membership.organization,
        target=membership.account.email,
        details=details,
    )
    email_send(
        to=membership.account.email,
        subject=f"You have a {seat.product.name} seat",
        template="seat_assigned",
        context={"seat": seat, "membership": membership},
    )
    return seat


def _duplicate(membership: Membership, product: Product) -> errors.DuplicateProductSeat:
    return errors.DuplicateProductSeat(
        f"{membership.account.email} already has a {product.name} seat.",
        field="email",
        fields={"email": "already has a seat of this product"},
    )


# --- Assign, revoke, reassign (R13) ---------------------------------------------------------


def seat_assign(
    *,
    actor,
    organization: Organization,
    seat_id: int,
    email: str | None = None,
    membership_id: int | None = None,
    allow_reassign: bool = False,
) -> License:
    """R13: give one active seat of `organization` to one of its current members.

    Locks the seat, then the membership. The seat must be active (`seat_unavailable`), free
    unless `allow_reassign` (`seat_unavailable`), the account a current member
    (`not_a_member`) holding no other active seat of the product (`duplicate_product_seat`).
    With `allow_reassign` a seat assigned to someone else moves in this one transaction.
    Assigning a seat to the member who already holds it changes nothing.
    """
    now = timezone.now()
    with transaction.atomic():
        seat = _seat_for_update(seat_id=seat_id, organization=organization)
        _check_assignable(seat=seat, now=now)
        membership = _membership_for_update(
            organization=organization, email=email, pk=membership_id
        )
        if seat.assignee_id == membership.pk:
            return seat
        previous = None
        if seat.assignee_id is not None:
            if not allow_reassign:
                raise errors.SeatUnavailable(f"Seat #{seat.pk} is already assigned.")
            previous = Membership.objects.select_related("account", "organization").get(
                pk=seat.assignee_id
            )
        _release_ended_seats(actor=actor, membership=membership, product=seat.product, now=now)
        seat = _give(actor=actor, seat=seat, membership=membership, now=now, previous=previous)
        if previous is not None:
            # Only once the move has succeeded: nothing is sent for a refused reassignment.
            email_send(
                to=previous.account.email,
                subject=f"Your {seat.product.name} seat was removed",
                template="seat_revoked",
                context={"seat": seat, "membership": previous, "reason": "reassigned"},
            )
        return seat


def seat_reassign(
    *, actor, organization: Organization, seat_id: int, email: str | None = None, membership_id=None
) -> License:
    """R13: move an assigned seat to another member in one transaction (the new member must
    qualify as for an assignment)."""
    return seat_assign(
        actor=actor,
        organization=organization,
        seat_id=seat_id,
        email=email,
        membership_id=membership_id,
        allow_reassign=True,
    )


def seat_revoke(*, actor, organization: Organization, seat_id: int) -> License:
    """R13: unassign a seat. Revoking a free seat changes nothing."""
    with transaction.atomic():
        seat = _seat_for_update(seat_id=seat_id, organization=organization)
        if seat.assignee_id is None:
            return seat
        membership = Membership.objects.select_related("account").get(pk=seat.assignee_id)
        membership.organization = organization
        _unassign(actor=actor, seat=seat, membership=membership, reason="revoked")
    return seat


def seat_assign_any(
    *,
    actor,
    organization: Organization,
    product: Product,
    email: str | None = None,
    membership_id: int | None = None,
) -> License:
    """Assign some free active seat of `product` (the oldest first) to a member. A seat taken
    by a concurrent request meanwhile is skipped for the next free one."""
    tried: set[int] = set()
    for _attempt in range(10):
        seat_id = _free_seat_ids(organization=organization, product=product, exclude=tried, n=1)
        if not seat_id:
            raise errors.SeatUnavailable(f"No free {product.name} seat is left.")
        try:
            return seat_assign(
                actor=actor,
                organization=organization,
                seat_id=seat_id[0],
                email=email,
                membership_id=membership_id,
            )
        except errors.SeatUnavailable:
            tried.add(seat_id[0])
    raise errors.SeatUnavailable(f"No free {product.name} seat is left.")


def _free_seat_ids(*, organization, product, exclude=(), n: int) -> list[int]:
    return list(
        License.objects.filter(organization=organization, product=product, assignee__isnull=True)
        .filter(active_license_q())
        .exclude(pk__in=exclude)
        .order_by("id")
        .values_list("id", flat=True)[:n]
    )


@dataclass
class BulkReport:
    assigned: list[str] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)


def seats_bulk_assign(
    *, actor, organization: Organization, product: Product, membership_ids: list[int]
) -> BulkReport:
    """Assign one seat of `product` to each selected member while free seats last. Each member
    is its own transaction; the report says who got a seat and, for the others, why not."""
    report = BulkReport()
    members = {
        m.pk: m
        for m in Membership.objects.filter(
            organization=organization, pk__in=membership_ids
        ).select_related("account")
    }
    for membership_id in dict.fromkeys(membership_ids):
        membership = members.get(membership_id)
        if membership is None:
            report.refused.append((f"member #{membership_id}", "not a member any more"))
            continue
        email = membership.account.email
        try:
            seat_assign_any(
                actor=actor, organization=organization, product=product, membership_id=membership_id
            )
        except errors.SeatUnavailable:
            report.refused.append((email, "no free seat left"))
        except errors.DuplicateProductSeat:
            report.refused.append((email, f"already has a {product.name} seat"))
        except errors.NotAMember:
            report.refused.append((email, "not a member any more"))
        else:
            report.assigned.append(email)
    return report


def member_seats_revoke(*, actor, membership) -> list[License]:
    """R9: removing a member unassigns every organizational seat assigned to them.

    Called inside the removal's transaction; locks the seats (by id, the fixed order) before
    changing them.
    """
    with transaction.atomic():
        seats = list(
            License.objects.select_for_update(of=("self",))
            .filter(assignee=membership)
            .select_related("product")
            .order_by("id")
        )
        for seat in seats:
            seat.assignee = None
            seat.assigned_at = None
            seat.save(update_fields=["assignee", "assigned_at"])
            audit_record(
                actor=actor,
                action="seat.revoked",
                organization=membership.organization,
                target=membership.account.email,
                details={"license_id": seat.pk, "product": seat.product.code, "reason": "removed"},
            )
    return seats


# --- Cancellation and expiry (R13) ----------------------------------------------------------


def license_cancel(*, actor, license_id: int, reason: str = "cancelled") -> License:
    """Cancel a license now: it stops being active at once and, if it is an assigned seat,
    it is unassigned (R13). Cancelling twice changes nothing."""
    with transaction.atomic():
        lic = (
            License.objects.select_for_update(of=("self",))
            .select_related("product")
            .get(pk=license_id)
        )
        if lic.cancelled_at is not None:
            return lic
        lic.cancelled_at = timezone.now()
        lic.save(update_fields=["cancelled_at"])
        organization = lic.organization if lic.organization_id else None
        audit_record(
            actor=actor,
            action="license.cancelled",
            organization=organization,
            target=str(lic.account) if lic.account_id else f"{lic.product.code} #{lic.pk}",
            details={"license_id": lic.pk, "product": lic.product.code, "reason": reason},
        )
        if lic.assignee_id:
            membership = Membership.objects.select_related("account", "organization").get(
                pk=lic.assignee_id
            )
            _unassign(actor=actor, seat=lic, membership=membership, reason="cancelled")
    return lic


def seats_release_ended(*, actor=None, now=None) -> int:
    """R13: unassign every seat that has ended or was cancelled but still holds an assignee
    (the `expire_seats` command; safe to run repeatedly). Each seat is its own transaction."""
    now = now or timezone.now()
    ids = list(
        License.objects.filter(assignee__isnull=False)
        .filter(Q(cancelled_at__isnull=False) | Q(ends_at__lte=now))
        .order_by("id")
        .values_list("id", flat=True)
    )
    released = 0
    for seat_id in ids:
        with transaction.atomic():
            seat = (
                License.objects.select_for_update(of=("self",))
                .select_related("product")
                .filter(pk=seat_id, assignee__isnull=False)
                .first()
            )
            if seat is None or seat.is_active_at(now):
                continue
            membership = Membership.objects.select_related("account", "organization").get(
                pk=seat.assignee_id
            )
            _unassign(actor=actor, seat=seat, membership=membership, reason="ended")
            released += 1
    return released


def seat_tallies_compact() -> int:
    """Fold the seat tallies' log into one row per organization, product and window, dropping
    windows that add up to nothing; returns the rows left. Safe while seats change: one
    statement deletes the rows it sees and writes their sums, so a change committed meanwhile
    keeps its own row."""
    table = SeatTally._meta.db_table
    columns = "organization_id, product_id, starts_at, ends_at"
    sums = "sum(live), sum(cancelled), sum(assigned)"
    having = "HAVING sum(live) <> 0 OR sum(cancelled) <> 0 OR sum(assigned) <> 0"
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"WITH gone AS (DELETE FROM {table} RETURNING *) "
            f"INSERT INTO {table} ({columns}, live, cancelled, assigned) "
            f"SELECT {columns}, {sums} FROM gone GROUP BY {columns} {having}"
        )
    return SeatTally.objects.count()


# --- Purchase and grants (R11, R15) ---------------------------------------------------------


def _product_for_sale(product_id: int) -> Product:
    product = Product.objects.select_for_update().filter(pk=product_id).first()
    if product is None or not product.active:
        raise ProductUnavailable(
            f"{product.name if product else 'This product'} can no longer be bought or granted.",
            field="product",
            fields={"product": "not available"},
        )
    return product


def order_total(*, product: Product, quantity: int, term_days: int) -> Decimal:
    """Product.price is per seat-year; a term is a whole number of years."""
    years = Decimal(term_days) / Decimal(365)
    return (product.price * quantity * years).quantize(Decimal("0.01"))


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
        total=order_total(product=product, quantity=quantity, term_days=term_days),
        lines=[
            LineSpec(
                item=item,
                product_code=product.code,
                description=product.name,
                quantity=quantity,
                term_days=term_days,
                unit_price=product.price,
            )
        ],
        checkout_token=checkout_token,
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
    return licenses


# --- Trials and betas (R16) -----------------------------------------------------------------


def license_apply(*, account: Account, product: Product, kind: str) -> License:
    """R16: an account applies for a trial (30 days) or a beta of a product, once per product
    and kind, unless an organizational seat of that product is assigned to it. Granted at
    once; the partial unique index makes "once" hold under concurrent applications too."""
    if kind not in (LicenseKind.TRIAL, LicenseKind.BETA):
        raise errors.InvalidRequest("Apply for a trial or a beta.", fields={"kind": "trial|beta"})
    with transaction.atomic():
        product = _product_for_sale(product.pk)
        open_flag = product.trial_available if kind == LicenseKind.TRIAL else product.beta_available
        if not open_flag:
            raise ProductUnavailable(f"{product.name} has no {kind} programme open.")
        # Serialize against seat assignments to this account (they lock the membership).
        list(Membership.objects.select_for_update().filter(account=account).order_by("id"))
        now = timezone.now()
        assigned = (
            License.objects.filter(assignee__account=account, product=product)
            .filter(active_license_q(now))
            .select_related("organization")
            .first()
        )
        if assigned is not None:
            raise OrganizationSeatAssigned(
                f"{assigned.organization.name} has assigned you a {product.name} seat, so you "
                f"cannot apply for a {kind} of it."
            )
        if License.objects.filter(account=account, product=product, kind=kind).exists():
            raise AlreadyApplied(f"You have already had a {kind} of {product.name}.")
        days = TRIAL_DAYS if kind == LicenseKind.TRIAL else BETA_DAYS
        try:
            with transaction.atomic():
                lic = License.objects.create(
                    product=product,
                    account=account,
                    kind=kind,
                    starts_at=now,
                    ends_at=now + timedelta(days=days),
                )
        except IntegrityError as exc:
            raise AlreadyApplied(f"You have already had a {kind} of {product.name}.") from exc
        audit_record(
            actor=account,
            action=f"license.{kind}_started",
            target=account.email,
            details={"license_id": lic.pk, "product": product.code, "days": days},
        )
        lic.trial_credits = None
        if kind == LicenseKind.TRIAL:
            given = [lot for lot in hooks.trial_started(account=account) if lot is not None]
            lic.trial_credits = given[0] if given else None
    return lic


# --- Catalog (R11) --------------------------------------------------------------------------


def product_create(*, actor, code: str, name: str, price: Decimal | None = None) -> Product:
    """R11: add a catalog product with a stable code."""
    code = (code or "").strip()
    name = (name or "").strip()
    try:
        validate_slug(code)
    except ValidationError as exc:
        raise errors.InvalidRequest(
            f"{code!r} is not a valid code: use letters, digits, - and _.",
            fields={"code": "invalid"},
        ) from exc
    if not name:
        raise errors.InvalidRequest("Give the product a name.", fields={"name": "required"})
    try:
        with transaction.atomic():
            product = Product.objects.create(code=code, name=name[:150], price=price or 0)
            audit_record(actor=actor, action="product.created", target=code, details={"name": name})
    except IntegrityError as exc:
        raise errors.Conflict(
            f"A product with code {code!r} already exists.", fields={"code": "taken"}
        ) from exc
    return product


def seats_revoke_on_removal(*, actor, membership) -> dict:
    """`organizations.hooks.member_removing`: R9's seats, for the removal's summary."""
    seats = member_seats_revoke(actor=actor, membership=membership)
    return {"seats": [seat.product.code for seat in seats]}
