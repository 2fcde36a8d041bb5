"""Credit helpers for tests: every state is reached through the services, as in the portal."""

import uuid
from decimal import Decimal

from credits import services
from credits.models import CreditAccess


def ref(prefix: str = "auto") -> str:
    """A fresh reference that can never equal the hand-written ones tests use ("job-7")."""
    return f"{prefix}-{uuid.uuid4().hex}"


def fund_pool(organization, amount="100.00", *, days=None):
    """Grant credits to the organization's pool (days: expiry; default settings)."""
    return services.credits_grant(
        actor=None, organization=organization, amount=Decimal(amount), days=days
    )


def fund_personal(account, amount="100.00", *, days=None):
    return services.credits_grant(actor=None, account=account, amount=Decimal(amount), days=days)


def access_of(account, organization=None) -> CreditAccess:
    qs = CreditAccess.objects.filter(account=account)
    if organization is not None:
        qs = qs.filter(organization=organization)
    return qs.get()


def set_access(account, organization, mode, limit=None, period=None):
    return services.access_set(
        actor=None,
        access=access_of(account, organization),
        mode=mode,
        limit=None if limit is None else Decimal(limit),
        period=period,
    )


def consume(account, amount, reference=None):
    return services.credits_consume(
        account=account, amount=Decimal(amount), reference=reference or ref()
    )
