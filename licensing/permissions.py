"""Access checks at the boundary for licensing: 404 alike for "missing" and "not yours"."""

from django.http import Http404

from licensing.models import License, Product
from organizations.permissions import organization_for_admin_or_404


def seat_for_admin_or_404(*, user, pk: int) -> License:
    """An organizational seat of the organization `user` administers."""
    organization = organization_for_admin_or_404(user)
    seat = (
        License.objects.filter(pk=pk, organization=organization)
        .select_related("product", "assignee__account")
        .first()
    )
    if seat is None:
        raise Http404("No such seat.")
    return seat


def product_or_404(*, code) -> Product:
    """A catalog product by its code, for anyone signed in (an inactive one is refused by the
    service that would sell or grant it, with its own message)."""
    code = str(code or "").replace("\x00", "")[:50]
    product = Product.objects.filter(code=code).first()
    if product is None:
        raise Http404("No such product.")
    return product
