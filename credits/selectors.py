"""Reads of balances and usage, scoped by organization or account (R18, R22)."""

from decimal import Decimal

from django.db.models import Q, Sum
from django.utils import timezone

from credits.models import Lot

ZERO = Decimal("0.00")


def unexpired_lots_q(moment=None) -> Q:
    moment = moment or timezone.now()
    return Q(expires_at__isnull=True) | Q(expires_at__gt=moment)


def pool_available(*, organization, moment=None) -> Decimal:
    """R18: the sum of the remaining amounts of the pool's unexpired lots."""
    total = (
        Lot.objects.filter(wallet__organization=organization, remaining__gt=0)
        .filter(unexpired_lots_q(moment))
        .aggregate(total=Sum("remaining"))["total"]
    )
    return total or ZERO


def personal_available(*, account, moment=None) -> Decimal:
    """R18: the sum of the remaining amounts of the account's unexpired personal lots."""
    total = (
        Lot.objects.filter(wallet__account=account, remaining__gt=0)
        .filter(unexpired_lots_q(moment))
        .aggregate(total=Sum("remaining"))["total"]
    )
    return total or ZERO
