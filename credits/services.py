"""Writes for credits: lots, ledger, access, consumption, refunds (R17–R30)."""

from django.db import transaction
from django.utils import timezone

from credits.models import AccessMode, CreditAccess
from portal.audit import audit_record


def member_access_disable(*, actor, membership) -> CreditAccess | None:
    """R9: removing a member disables their organizational credit access."""
    with transaction.atomic():
        access = CreditAccess.objects.select_for_update().filter(membership=membership).first()
        if access is None or access.mode == AccessMode.DISABLED:
            return access
        old = access.mode
        access.mode = AccessMode.DISABLED
        access.limit = None
        access.updated_at = timezone.now()
        access.save(update_fields=["mode", "limit", "updated_at"])
        audit_record(
            actor=actor,
            action="credit_access.changed",
            organization=membership.organization,
            target=membership.account.email,
            details={"from": old, "to": AccessMode.DISABLED, "reason": "removed"},
        )
    return access
