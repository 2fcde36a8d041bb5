from django.apps import AppConfig


class ProvisioningConfig(AppConfig):
    """R44: the organization's directory manages its members through SCIM 2.0."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "provisioning"
