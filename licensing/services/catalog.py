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
                price=price or 0,
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
