"""Who may see an order: 404 alike for "missing" and "not yours"."""

from django.http import Http404

from billing.models import Order
from organizations.permissions import organization_for_admin_or_404


def order_for_viewer_or_404(*, user, pk: int) -> Order:
    """An organization's order for its administrator; a personal order for its buyer."""
    order = (
        Order.objects.filter(pk=pk)
        .select_related("buyer", "organization")
        .prefetch_related("lines")
        .first()
    )
    if order is None:
        raise Http404("No such order.")
    if order.organization_id is not None:
        # The organization's own check (404 for anyone who does not administer one).
        if organization_for_admin_or_404(user).pk != order.organization_id:
            raise Http404("No such order.")
    elif order.buyer_id != user.pk:
        raise Http404("No such order.")
    return order
