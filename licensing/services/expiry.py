"""Cancellation and expiry of seats (R12, R13): ended seats stop counting and are
unassigned; the seat tallies' log is folded."""

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from licensing.models import (
    License,
    SeatTally,
)
from licensing.services.seats import _unassign
from organizations.models import Membership
from portal.audit import audit_record


def license_cancel(*, actor, license_id: int, reason: str = "cancelled") -> License:
    """Cancel a license now: it stops being active at once and, if it is an assigned seat,
    it is unassigned (R13). Cancelling twice changes nothing."""
    with transaction.atomic():
        lic = (
            License.objects.select_for_update(of=("self",))
            .select_related("product")
            .get(pk=license_id)
        )
        if lic.cancelled_at is not None:
            return lic
        lic.cancelled_at = timezone.now()
        lic.save(update_fields=["cancelled_at"])
        organization = lic.organization if lic.organization_id else None
        audit_record(
            actor=actor,
            action="license.cancelled",
            organization=organization,
            target=str(lic.account) if lic.account_id else f"{lic.product.code} #{lic.pk}",
            details={"license_id": lic.pk, "product": lic.product.code, "reason": reason},
        )
        if lic.assignee_id:
            membership = Membership.objects.select_related("account", "organization").get(
                pk=lic.assignee_id
            )
            _unassign(actor=actor, seat=lic, membership=membership, reason="cancelled")
    return lic


def seats_release_ended(*, actor=None, now=None) -> int:
    """R13: unassign every seat that has ended or was cancelled but still holds an assignee
    (the `expire_seats` command; safe to run repeatedly). Each seat is its own transaction."""
    now = now or timezone.now()
    ids = list(
        License.objects.filter(assignee__isnull=False)
        .filter(Q(cancelled_at__isnull=False) | Q(ends_at__lte=now))
        .order_by("id")
        .values_list("id", flat=True)
    )
    released = 0
    for seat_id in ids:
        with transaction.atomic():
            seat = (
                License.objects.select_for_update(of=("self",))
                .select_related("product")
                .filter(pk=seat_id, assignee__isnull=False)
                .first()
            )
            if seat is None or seat.is_active_at(now):
                continue
            membership = Membership.objects.select_related("account", "organization").get(
                pk=seat.assignee_id
            )
            _unassign(actor=actor, seat=seat, membership=membership, reason="ended")
            released += 1
    return released


def seat_tallies_compact() -> int:
    """Fold the seat tallies' log into one row per organization, product and window, dropping
    windows that add up to nothing; returns the rows left. Safe while seats change: one
    statement deletes the rows it sees and writes their sums, so a change committed meanwhile
    keeps its own row."""
    table = SeatTally._meta.db_table
    columns = "organization_id, product_id, starts_at, ends_at"
    sums = "sum(live), sum(cancelled), sum(assigned)"
    having = "HAVING sum(live) <> 0 OR sum(cancelled) <> 0 OR sum(assigned) <> 0"
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"WITH gone AS (DELETE FROM {table} RETURNING *) "
            f"INSERT INTO {table} ({columns}, live, cancelled, assigned) "
            f"SELECT {columns}, {sums} FROM gone GROUP BY {columns} {having}"
        )
    return SeatTally.objects.count()
