from django.contrib.auth.backends import ModelBackend

from organizations.models import Account, normalize_email
from organizations.second_factor import account_flags


class EmailBackend(ModelBackend):
    """Sign in by email, whatever its case (R1)."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        username = username or kwargs.get("email")
        if username is None:
            return None
        return super().authenticate(request, username=normalize_email(username), password=password)

    def get_user(self, user_id):
        """The signed-in account of each request, with its second-factor facts (R42) in the
        same query: the middleware needs them on every page."""
        account = Account.objects.annotate(**account_flags()).filter(pk=user_id).first()
        return account if account is not None and self.user_can_authenticate(account) else None


def throttle_username(request, credentials) -> str:
    """django-axes counts failed sign-ins per email as the portal compares it (R1: case and
    surrounding spaces do not matter), so that "Carol@…" shares "carol@…"'s counter."""
    username = (credentials or {}).get("username") or ""
    return normalize_email(username)
