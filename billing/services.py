"""Writes for orders (R15, R39, R40): a checkout is recorded as one paid order with its lines,
priced in the portal's currency, under the per-order ceiling, and its receipt is emailed."""

from dataclasses import dataclass
from decimal import Decimal

from django.urls import reverse

from billing.models import Order, OrderLine
from billing.pricing import currency, line_total, order_limit_check
from organizations.models import Account, Organization
from portal.emails import email_send


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

    @property
    def total(self) -> Decimal:
        # Seats and licenses are priced per year of their term; credits one by one.
        if self.credits is not None:
            return line_total(unit_price=self.unit_price, quantity=self.credits)
        years = (self.term_days or 365) // 365
        return line_total(unit_price=self.unit_price, quantity=self.quantity, years=years)


def order_total(*, lines: list[LineSpec]) -> Decimal:
    return sum((spec.total for spec in lines), Decimal("0.00"))


def order_for_checkout(*, checkout_token: str | None) -> Order | None:
    """The order a checkout page already placed, if any."""
    if not checkout_token:
        return None
    return Order.objects.filter(checkout_token=checkout_token).first()


def order_place(
    *,
    buyer: Account,
    organization: Organization | None,
    lines: list[LineSpec],
    checkout_token: str | None = None,
    limit_field: str | None = None,
) -> tuple[Order, list[OrderLine]]:
    """Record a paid order with its lines, inside the caller's transaction (R15: checkout is
    simulated, no payment provider is called), and email its receipt to the buyer once that
    transaction commits (R40). Refused above the per-order ceiling (R39), the message placed
    next to `limit_field`. The caller serializes purchases of the same checkout and checks
    `order_for_checkout` first."""
    total = order_total(lines=lines)
    order_limit_check(total=total, field=limit_field)
    order = Order.objects.create(
        buyer=buyer,
        organization=organization,
        total=total,
        currency=currency(),
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
            total=spec.total,
        )
        for spec in lines
    )
    email_send(
        to=buyer.email,
        subject=f"Receipt for your order #{order.pk}",
        template="receipt",
        context={
            "order": order,
            "lines": created,
            "receipt_path": reverse("billing:receipt", args=[order.pk]),
            "pdf_path": reverse("billing:receipt_pdf", args=[order.pk]),
        },
    )
    return order, created
