"""Access checks at the boundary: 404 alike for "missing" and "not yours"."""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.http import Http404

from organizations.models import Organization


def organization_for_admin_or_404(user) -> Organization:
    """The organization `user` administers; 404 for everybody else (SPEC "Security")."""
    organization = getattr(user, "administered_organization_cache", None)
    if organization is None:
        organization = Organization.objects.filter(administrator=user).first()
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
