"""Access checks at the boundary: one `<thing>_for_admin_or_404(*, user, pk)` per object the
organization's administrator acts on, answering 404 alike for "missing" and "not yours"."""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.http import Http404

from organizations.models import Invitation, Membership, Organization
from portal.models import ApiToken

_CACHE = "_administered_organization"


def organization_for_admin_or_404(user) -> Organization:
    """The organization `user` administers; 404 for everybody else (rules.md "Security").
    Looked up once per request: the answer is kept on the user object."""
    if _CACHE not in user.__dict__:
        organization = None
        if getattr(user, "is_authenticated", False):
            organization = Organization.objects.filter(administrator=user).first()
        user.__dict__[_CACHE] = organization
    organization = user.__dict__[_CACHE]
    if organization is None:
        raise Http404("No organization here.")
    return organization


def org_admin_required(view):
    """Sign-in required; then only the organization's administrator gets past (else 404).

    The view receives the organization as `request.organization`.
    """

    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        request.organization = organization_for_admin_or_404(request.user)
        request.administered_organization = request.organization
        return view(request, *args, **kwargs)

    return wrapper


def membership_for_admin_or_404(*, user, pk: int) -> Membership:
    organization = organization_for_admin_or_404(user)
    membership = (
        Membership.objects.select_related("account", "credit_access", "organization")
        .filter(organization=organization, pk=pk)
        .first()
    )
    if membership is None:
        raise Http404("No such member.")
    return membership


def invitation_for_admin_or_404(*, user, pk: int) -> Invitation:
    organization = organization_for_admin_or_404(user)
    invitation = Invitation.objects.filter(organization=organization, pk=pk).first()
    if invitation is None:
        raise Http404("No such invitation.")
    return invitation


def api_token_for_admin_or_404(*, user, pk: int) -> ApiToken:
    organization = organization_for_admin_or_404(user)
    token = ApiToken.objects.filter(organization=organization, pk=pk).first()
    if token is None:
        raise Http404("No such token.")
    return token
