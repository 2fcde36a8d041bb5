"""The product catalog (R11)."""

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import validate_slug
from django.db import IntegrityError, transaction

from licensing.models import (
    Product,
)
from portal import errors
from portal.audit import audit_record
from portal.names import visible_name

# R39: a product created without a price sells at this price per seat per year.
DEFAULT_SEAT_PRICE = Decimal("120.00")
MAX_PRICE = Decimal("9999999999.99")


def price_check(price) -> Decimal:
    """A price per seat per year: a number of cents, zero or more (a free product is allowed)."""
    try:
        value = Decimal(str(price).strip())
    except (ArithmeticError, ValueError) as exc:
        raise errors.InvalidRequest(
            f"{price!r} is not a price: write it like 120 or 99.50.", fields={"price": "invalid"}
        ) from exc
    if (
        not value.is_finite()
        or value < 0
        or value > MAX_PRICE
        or value != value.quantize(Decimal("0.01"))
    ):
        raise errors.InvalidRequest(
            f"{price!r} is not a price: at most two decimals, from 0 to {MAX_PRICE:,}.",
            fields={"price": "out of range"},
        )
    return value.quantize(Decimal("0.01"))


def product_create(
    *,
    actor,
    code: str,
    name: str,
    price: Decimal | None = None,
    active: bool = True,
    trial_available: bool = True,
    beta_available: bool = False,
) -> Product:
    """R11: add a catalog product with a stable code."""
    code = (code or "").strip()
    name = visible_name(name, required=True, message="Give the product a name.")
    try:
        validate_slug(code)
    except ValidationError as exc:
        raise errors.InvalidRequest(
            f"{code!r} is not a valid code: use letters, digits, - and _.",
            fields={"code": "invalid"},
        ) from exc
    try:
        with transaction.atomic():
            product = Product.objects.create(
                code=code,
                name=name,
                price=DEFAULT_SEAT_PRICE if price is None else price_check(price),
                active=active,
                trial_available=trial_available,
                beta_available=beta_available,
            )
            audit_record(actor=actor, action="product.created", target=code, details={"name": name})
    except IntegrityError as exc:
        raise errors.Conflict(
            f"A product with code {code!r} already exists.", fields={"code": "taken"}
        ) from exc
    return product


PRODUCT_EDITABLE = ("name", "active", "price", "trial_available", "beta_available")


def product_update(*, actor, product: Product, **changes) -> Product:
    """R11: staff edit a product's name, price, flags; the code is stable. Audited with each
    change as from → to."""
    unknown = set(changes) - set(PRODUCT_EDITABLE)
    if unknown:
        raise errors.InvalidRequest(f"{sorted(unknown)} cannot be changed.")
    if "name" in changes:
        changes["name"] = visible_name(
            changes["name"], required=True, message="Give the product a name."
        )
    if "price" in changes:
        changes["price"] = price_check(changes["price"])
    with transaction.atomic():
        product = Product.objects.select_for_update().get(pk=product.pk)
        details = {
            field: {"from": str(getattr(product, field)), "to": str(value)}
            for field, value in changes.items()
            if getattr(product, field) != value
        }
        if details:
            for field, value in changes.items():
                setattr(product, field, value)
            product.save(update_fields=list(changes))
            audit_record(
                actor=actor, action="product.changed", target=product.code, details=details
            )
    return product
