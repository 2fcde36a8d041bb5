from django import template
from django.conf import settings

from portal.text import money, with_article

register = template.Library()
register.filter("with_article", with_article)


@register.filter(name="money")
def money_filter(amount) -> str:
    return money(amount, settings.PORTAL_CURRENCY)
