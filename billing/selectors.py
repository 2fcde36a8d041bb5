"""Reads for orders (R40), always scoped by organization or buyer."""

from billing.models import Order


def orders_for_org(*, organization):
    """The organization's orders, newest first, with their lines."""
    return (
        Order.objects.filter(organization=organization)
        .select_related("buyer")
        .prefetch_related("lines")
        .order_by("-created_at", "-id")
    )


def personal_orders(*, account):
    """What the account bought for itself (licenses, credits), newest first."""
    return (
        Order.objects.filter(buyer=account, organization__isnull=True)
        .prefetch_related("lines")
        .order_by("-created_at", "-id")
    )
