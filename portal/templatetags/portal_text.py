from decimal import Decimal

from django import template
from django.conf import settings

from portal.text import money, with_article

register = template.Library()
register.filter("with_article", with_article)


@register.filter(name="money")
def money_filter(amount, currency: str | None = None) -> str:
    """R39: "1,234.50 EUR"; an order passes its own (`order.total|money:order.currency`)."""
    return money(amount, currency or settings.PORTAL_CURRENCY)


@register.filter(name="credits")
def credits_filter(amount) -> str:
    """R39: a credit amount with thousands separators, "12,500.00"."""
    if amount is None or amount == "":
        return ""
    return f"{Decimal(amount):,.2f}"
