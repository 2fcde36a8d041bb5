"""Who may see an order: 404 alike for "missing" and "not yours"."""

from django.http import Http404

from billing.models import Order
from organizations.models import Organization


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
        administers = Organization.objects.filter(pk=order.organization_id, administrator=user)
        if not administers.exists():
            raise Http404("No such order.")
    elif order.buyer_id != user.pk:
        raise Http404("No such order.")
    return order
