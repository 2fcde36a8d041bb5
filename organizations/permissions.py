"""Access checks at the boundary: one `<thing>_for_admin_or_404(*, user, pk)` per object the
organization's administrator acts on, answering 404 alike for "missing" and "not yours"."""

from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect

from organizations.models import Invitation, Membership, Organization
from organizations.selectors import organization_administered_by
from portal.models import ApiToken, AuditEvent


def organization_for_admin_or_404(user) -> Organization:
    """The organization `user` administers; 404 for everybody else (rules.md "Security").
    The signed-in account is loaded with it (organizations.backends): no query of its own."""
    organization = organization_administered_by(user)
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
        try:
            request.organization = organization_for_admin_or_404(request.user)
        except Http404:
            former = _formerly_administered(request.user)
            if former is None:
                raise
            # The role went to someone else: the former administrator's bookmarks lead to
            # their own start page, with the reason, not to "page not found".
            messages.info(request, f"You are no longer the administrator of {former.name}.")
            return redirect("home")
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


def _formerly_administered(user) -> Organization | None:
    """The organization whose administrator role `user` handed over, if they are still one of
    its users (the role's transfer is in the audit trail)."""
    transfer = (
        AuditEvent.objects.filter(
            action="organization.administrator_transferred",
            details__from=user.email,
            organization__memberships__account=user,
        )
        .select_related("organization")
        .order_by("-created_at")
        .first()
    )
    return transfer.organization if transfer is not None else None
