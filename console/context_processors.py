from organizations.selectors import organization_administered_by
from portal.selectors import announcements_for


def navigation(request):
    """Flags the navigation needs; computed once per request, never decided in templates."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    if not hasattr(request, "administered_organization"):
        request.administered_organization = organization_administered_by(user)
    return {
        "administered_organization": request.administered_organization,
        "announcements": announcements_for(user),
        "can_request_setup": request.administered_organization is None
        and user.kind != "commercial",
    }
