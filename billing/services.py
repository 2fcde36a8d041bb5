"""Writes for orders (R15): a checkout is recorded as one paid order with its lines."""

from dataclasses import dataclass
from decimal import Decimal

from billing.models import Order, OrderLine
from organizations.models import Account, Organization


@dataclass(frozen=True)
class LineSpec:
    """One line of a checkout, in the words the order keeps."""

    item: str
    description: str
    unit_price: Decimal
    quantity: int = 1
    term_days: int | None = None
    credits: Decimal | None = None
    product_code: str = ""


def order_for_checkout(*, checkout_token: str | None) -> Order | None:
    """The order a checkout page already placed, if any."""
    if not checkout_token:
        return None
    return Order.objects.filter(checkout_token=checkout_token).first()


def order_place(
    *,
    buyer: Account,
    organization: Organization | None,
    total: Decimal,
    lines: list[LineSpec],
    checkout_token: str | None = None,
) -> tuple[Order, list[OrderLine]]:
    """Record a paid order with its lines, inside the caller's transaction (R15: checkout is
    simulated, no payment provider is called). The caller serializes purchases of the same
    checkout and checks `order_for_checkout` first."""
    order = Order.objects.create(
        buyer=buyer,
        organization=organization,
        total=total.quantize(Decimal("0.01")),
        checkout_token=checkout_token or None,
    )
    created = OrderLine.objects.bulk_create(
        OrderLine(
            order=order,
            item=spec.item,
            product_code=spec.product_code,
            description=spec.description,
            quantity=spec.quantity,
            term_days=spec.term_days,
            credits=spec.credits,
            unit_price=spec.unit_price,
        )
        for spec in lines
    )
    return order, created
