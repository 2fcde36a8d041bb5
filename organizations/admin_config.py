from django.contrib.admin.apps import AdminConfig


class PortalAdminConfig(AdminConfig):
    """The Django admin on a site that also asks for a verified second factor (R42)."""

    default_site = "organizations.admin_site.PortalAdminSite"
