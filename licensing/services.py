"""Writes for licenses and seats (R11–R16). Every function is atomic, locks what it checks,
writes the audit event and raises a domain error with a stable code."""

from django.db import transaction

from licensing.models import License
from portal.audit import audit_record


def member_seats_revoke(*, actor, membership) -> list[License]:
    """R9: removing a member unassigns every organizational seat assigned to them.

    Called inside the removal's transaction; locks the seats (by id, the fixed order) before
    changing them.
    """
    with transaction.atomic():
        seats = list(
            License.objects.select_for_update()
            .filter(assignee=membership)
            .select_related("product")
            .order_by("id")
        )
        for seat in seats:
            seat.assignee = None
            seat.assigned_at = None
            seat.save(update_fields=["assignee", "assigned_at"])
            audit_record(
                actor=actor,
                action="seat.revoked",
                organization=membership.organization,
                target=membership.account.email,
                details={"license_id": seat.pk, "product": seat.product.code, "reason": "removed"},
            )
    return seats
