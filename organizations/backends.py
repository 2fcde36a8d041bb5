from django.contrib.auth.backends import ModelBackend

from organizations.models import normalize_email


class EmailBackend(ModelBackend):
    """Sign in by email, whatever its case (R1)."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        username = username or kwargs.get("email")
        if username is None:
            return None
        return super().authenticate(request, username=normalize_email(username), password=password)
