"""Where a session stands with its second factor (R42), read from the session and from flags
the account carries since it was loaded (organizations.backends), so no page pays a query.

- verified: a second factor (authenticator code, passkey or recovery code) was given in this
  session. Staff need this for the Django admin.
- meets the requirement: verified, or signed in through the organization's identity provider
  (R43), which does its own second factor.
"""

import django_otp
from django.db.models import Exists, OuterRef
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from organizations.models import Account, Membership, Passkey

# Set by a sign-in through the organization's identity provider (R43).
SSO_SESSION_KEY = "sso_organization"


def session_verified(request) -> bool:
    return DEVICE_ID_SESSION_KEY in request.session


def session_meets_requirement(request) -> bool:
    return session_verified(request) or SSO_SESSION_KEY in request.session


def session_mark_verified(request, device) -> None:
    """The session passed `device`: a new session key (whoever knew the half-signed-in key
    learns nothing), then django-otp's record of the device."""
    request.session.cycle_key()
    django_otp.login(request, device)


def account_flags() -> dict:
    """Annotations for loading an account with its second-factor facts in the same query."""
    account = OuterRef("pk")
    return {
        "has_second_factor": Exists(TOTPDevice.objects.filter(user=account, confirmed=True))
        | Exists(Passkey.objects.filter(user=account)),
        "second_factor_required": Exists(
            Membership.objects.filter(account=account, organization__require_second_factor=True)
        ),
    }


def flags_for(account) -> tuple[bool, bool]:
    """(has a second factor, is required to have one); from the load's annotations when there,
    else asked once."""
    if not hasattr(account, "has_second_factor"):
        loaded = Account.objects.filter(pk=account.pk).annotate(**account_flags())
        row = loaded.values("has_second_factor", "second_factor_required").first() or {}
        account.has_second_factor = bool(row.get("has_second_factor"))
        account.second_factor_required = bool(row.get("second_factor_required"))
    return account.has_second_factor, account.second_factor_required
