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
