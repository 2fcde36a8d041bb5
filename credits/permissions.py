"""Access checks at the boundary for credits: 404 alike for "missing" and "not yours"."""

from django.http import Http404

from credits.models import CreditAccess, CreditRequest, CreditRequestState
from organizations.permissions import organization_for_admin_or_404


def access_for_admin_or_404(*, user, pk: int) -> CreditAccess:
    """A member's credit access in the organization `user` administers."""
    organization = organization_for_admin_or_404(user)
    access = (
        CreditAccess.objects.select_related("account", "membership", "organization")
        .filter(pk=pk, organization=organization)
        .first()
    )
    if access is None:
        raise Http404("No such member.")
    return access


def credit_request_for_admin_or_404(*, user, pk: int) -> CreditRequest:
    """A request for credits addressed to the organization `user` administers."""
    organization = organization_for_admin_or_404(user)
    credit_request = (
        CreditRequest.objects.select_related("account", "organization")
        .filter(pk=pk, organization=organization)
        .first()
    )
    if credit_request is None:
        raise Http404("No such request.")
    return credit_request


def own_open_credit_request_or_404(*, user, pk: int) -> CreditRequest:
    """A request of `user`'s own that still waits for an answer."""
    credit_request = CreditRequest.objects.filter(
        pk=pk, account=user, state=CreditRequestState.OPEN
    ).first()
    if credit_request is None:
        raise Http404("No such request.")
    return credit_request
