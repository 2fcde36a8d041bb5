"""Prices and totals (R39): money is `Decimal`, each line's total is rounded half-up to cents,
and one order may not cost more than the portal's ceiling (a total equal to it is accepted)."""

from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings

from portal import errors
from portal.text import money

CENT = Decimal("0.01")


class OrderLimitExceeded(errors.InvalidRequest):
    code = "order_limit"
    default_message = "This order is above the limit for one order."


def currency() -> str:
    return settings.PORTAL_CURRENCY


def credit_price() -> Decimal:
    """The price of one credit, in the portal's currency."""
    return Decimal(str(settings.PORTAL_CREDIT_PRICE))


def order_limit() -> Decimal:
    """The most one order may cost."""
    return Decimal(str(settings.PORTAL_ORDER_LIMIT))


def line_total(*, unit_price: Decimal, quantity: Decimal | int, years: int = 1) -> Decimal:
    """Unit price × quantity × whole years, rounded half-up to cents (never float)."""
    exact = Decimal(unit_price) * Decimal(quantity) * Decimal(years)
    return exact.quantize(CENT, rounding=ROUND_HALF_UP)


def order_limit_check(*, total: Decimal, field: str | None = None) -> None:
    """Refuse an order above the ceiling, naming it; a total equal to it is accepted."""
    limit = order_limit()
    if total > limit:
        raise OrderLimitExceeded(
            f"One order may cost at most {money(limit, currency())}; this one comes to "
            f"{money(total, currency())}. Buy less now and the rest in another order.",
            field=field,
            fields={field or "total": f"at most {limit}"},
        )
