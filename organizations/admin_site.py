from django.contrib.admin import AdminSite

from organizations.second_factor import session_verified


class PortalAdminSite(AdminSite):
    """Staff use the admin only in a session verified by a second factor (R42).

    The middleware already sends staff without one to set it up or to enter it; this check
    stands behind it so that no admin page depends on the middleware's list of paths."""

    def has_permission(self, request):
        return super().has_permission(request) and session_verified(request)
