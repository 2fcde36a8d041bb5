from django.contrib.auth.backends import ModelBackend

from organizations.models import normalize_email


class EmailBackend(ModelBackend):
    """Sign in by email, whatever its case (R1)."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        username = username or kwargs.get("email")
        if username is None:
            return None
        return super().authenticate(request, username=normalize_email(username), password=password)


def throttle_username(request, credentials) -> str:
    """django-axes counts failed sign-ins per email as the portal compares it (R1: case and
    surrounding spaces do not matter), so that "Carol@…" shares "carol@…"'s counter."""
    username = (credentials or {}).get("username") or ""
    return normalize_email(username)
