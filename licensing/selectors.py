"""Reads of licenses, scoped by account or organization (R12, R14)."""

from django.db.models import Q

from licensing.models import License


def licenses_for_account(*, account):
    """Personal licenses and organizational seats assigned to `account` (R14, R31)."""
    return (
        License.objects.filter(Q(account=account) | Q(assignee__account=account))
        .select_related("product", "organization")
        .order_by("product__name", "id")
    )
