"""Assign, revoke and reassign organizational seats (R9, R13).

Lock order (docs/licensing.md): product row (purchases and grants only), then the seat row,
then the membership row. Assign, revoke and reassign never lock a product, so they cannot
deadlock against each other or against member removal, which locks a membership and then
the seats assigned to it (a seat that is not yet assigned to that member is not matched).
"""

from dataclasses import dataclass, field

from django.db import IntegrityError, transaction
from django.utils import timezone

from licensing.models import (
    License,
    Product,
    active_license_q,
)
from organizations.models import Account, Membership, Organization, normalize_email
from portal import errors
from portal.audit import audit_record
from portal.emails import email_send
from portal.text import with_article


def _seat_for_update(*, seat_id: int, organization: Organization) -> License:
    """The organization's seat, locked; 404 alike for missing and not this organization's."""
    seat = (
        License.objects.select_for_update(of=("self",))
        .filter(pk=seat_id, organization=organization)
        .select_related("product")
        .first()
    )
    if seat is None:
        raise errors.NotFound("No such seat in this organization.")
    return seat


def _membership_for_update(*, organization: Organization, email: str | None = None, pk=None):
    """The member's membership row, locked (after the seat: the fixed order). `not_a_member`
    for an unknown email and for an account that is not a member of this organization."""
    # of=self: the join on the account must not lock the account row too.
    memberships = Membership.objects.select_for_update(of=("self",)).filter(
        organization=organization
    )
    if pk is not None:
        memberships = memberships.filter(pk=pk)
    else:
        memberships = memberships.filter(account__email=normalize_email(email or ""))
    membership = memberships.first()
    if membership is None:
        raise errors.NotAMember(
            f"{email or 'This account'} is not a member of {organization.name}.",
            field="email",
            fields={"email": "not a member of this organization"},
        )
    # The account is read separately: joining it would lock its row as well.
    membership.account = Account.objects.get(pk=membership.account_id)
    membership.organization = organization
    return membership


def _release_ended_seats(*, actor, membership: Membership, product: Product, now) -> None:
    """R13: an ended or cancelled seat still holding `membership` must not block a new
    assignment of the same product; release it inside the assigning transaction."""
    stale = (
        License.objects.select_for_update()
        .filter(assignee=membership, product=product)
        .exclude(active_license_q(now))
        .order_by("id")
    )
    for seat in stale:
        _unassign(actor=actor, seat=seat, membership=membership, reason="ended", notify=False)


def _unassign(*, actor, seat: License, membership: Membership, reason: str, notify=True):
    seat.assignee = None
    seat.assigned_at = None
    seat.save(update_fields=["assignee", "assigned_at"])
    audit_record(
        actor=actor,
        action="seat.revoked",
        organization=membership.organization,
        target=membership.account.email,
        details={"license_id": seat.pk, "product": seat.product.code, "reason": reason},
    )
    if notify:
        email_send(
            to=membership.account.email,
            subject=f"Your {seat.product.name} seat was removed",
            template="seat_revoked",
            context={"seat": seat, "membership": membership, "reason": reason},
        )


def _check_assignable(*, seat: License, now) -> None:
    if not seat.is_active_at(now):
        state = (
            "cancelled"
            if seat.cancelled_at
            else ("not valid yet" if seat.starts_at > now else "expired")
        )
        raise errors.SeatUnavailable(f"Seat #{seat.pk} is {state} and cannot be assigned.")


def _give(*, actor, seat: License, membership: Membership, now, previous=None) -> License:
    """Set the assignee; the partial unique index is the last word on R13's "one seat of a
    product per member" and a lost race becomes `duplicate_product_seat`."""
    holds = (
        License.objects.filter(assignee=membership, product=seat.product)
        .filter(active_license_q(now))
        .exclude(pk=seat.pk)
        .exists()
    )
    if holds:
        raise _duplicate(membership, seat.product)
    seat.assignee = membership
    seat.assigned_at = now
    try:
        with transaction.atomic():
            seat.save(update_fields=["assignee", "assigned_at"])
    except IntegrityError as exc:
        raise _duplicate(membership, seat.product) from exc
    details = {"license_id": seat.pk, "product": seat.product.code}
    if previous is not None:
        details["from"] = previous.account.email
    audit_record(
        actor=actor,
        action="seat.reassigned" if previous is not None else "seat.assigned",
        organization=membership.organization,
        target=membership.account.email,
        details=details,
    )
    email_send(
        to=membership.account.email,
        subject=f"You have {with_article(seat.product.name)} seat",
        template="seat_assigned",
        context={"seat": seat, "membership": membership},
    )
    return seat


def _duplicate(membership: Membership, product: Product) -> errors.DuplicateProductSeat:
    return errors.DuplicateProductSeat(
        f"{membership.account.email} already has {with_article(product.name)} seat.",
        field="email",
        fields={"email": "already has a seat of this product"},
    )


def seat_assign(
    *,
    actor,
    organization: Organization,
    seat_id: int,
    email: str | None = None,
    membership_id: int | None = None,
    allow_reassign: bool = False,
) -> License:
    """R13: give one active seat of `organization` to one of its current members.

    Locks the seat, then the membership. The seat must be active (`seat_unavailable`), free
    unless `allow_reassign` (`seat_unavailable`), the account a current member
    (`not_a_member`) holding no other active seat of the product (`duplicate_product_seat`).
    With `allow_reassign` a seat assigned to someone else moves in this one transaction.
    Assigning a seat to the member who already holds it changes nothing.
    """
    now = timezone.now()
    with transaction.atomic():
        seat = _seat_for_update(seat_id=seat_id, organization=organization)
        _check_assignable(seat=seat, now=now)
        membership = _membership_for_update(
            organization=organization, email=email, pk=membership_id
        )
        if seat.assignee_id == membership.pk:
            return seat
        previous = None
        if seat.assignee_id is not None:
            if not allow_reassign:
                raise errors.SeatUnavailable(f"Seat #{seat.pk} is already assigned.")
            previous = Membership.objects.select_related("account", "organization").get(
                pk=seat.assignee_id
            )
        _release_ended_seats(actor=actor, membership=membership, product=seat.product, now=now)
        seat = _give(actor=actor, seat=seat, membership=membership, now=now, previous=previous)
        if previous is not None:
            # Only once the move has succeeded: nothing is sent for a refused reassignment.
            email_send(
                to=previous.account.email,
                subject=f"Your {seat.product.name} seat was removed",
                template="seat_revoked",
                context={"seat": seat, "membership": previous, "reason": "reassigned"},
            )
        return seat


def seat_reassign(
    *, actor, organization: Organization, seat_id: int, email: str | None = None, membership_id=None
) -> License:
    """R13: move an assigned seat to another member in one transaction (the new member must
    qualify as for an assignment)."""
    return seat_assign(
        actor=actor,
        organization=organization,
        seat_id=seat_id,
        email=email,
        membership_id=membership_id,
        allow_reassign=True,
    )


def seat_revoke(*, actor, organization: Organization, seat_id: int) -> License:
    """R13: unassign a seat. Revoking a free seat changes nothing."""
    with transaction.atomic():
        seat = _seat_for_update(seat_id=seat_id, organization=organization)
        if seat.assignee_id is None:
            return seat
        membership = Membership.objects.select_related("account").get(pk=seat.assignee_id)
        membership.organization = organization
        _unassign(actor=actor, seat=seat, membership=membership, reason="revoked")
    return seat


def seat_assign_any(
    *,
    actor,
    organization: Organization,
    product: Product,
    email: str | None = None,
    membership_id: int | None = None,
) -> License:
    """Assign some free active seat of `product` (the oldest first) to a member. A seat taken
    by a concurrent request meanwhile is skipped for the next free one."""
    tried: set[int] = set()
    for _attempt in range(10):
        seat_id = _free_seat_ids(organization=organization, product=product, exclude=tried, n=1)
        if not seat_id:
            raise errors.SeatUnavailable(f"No free {product.name} seat is left.")
        try:
            return seat_assign(
                actor=actor,
                organization=organization,
                seat_id=seat_id[0],
                email=email,
                membership_id=membership_id,
            )
        except errors.SeatUnavailable:
            tried.add(seat_id[0])
    raise errors.SeatUnavailable(f"No free {product.name} seat is left.")


def _free_seat_ids(*, organization, product, exclude=(), n: int) -> list[int]:
    return list(
        License.objects.filter(organization=organization, product=product, assignee__isnull=True)
        .filter(active_license_q())
        .exclude(pk__in=exclude)
        .order_by("id")
        .values_list("id", flat=True)[:n]
    )


@dataclass
class BulkReport:
    assigned: list[str] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)


def seats_bulk_assign(
    *, actor, organization: Organization, product: Product, membership_ids: list[int]
) -> BulkReport:
    """Assign one seat of `product` to each selected member while free seats last. Each member
    is its own transaction; the report says who got a seat and, for the others, why not."""
    report = BulkReport()
    members = {
        m.pk: m
        for m in Membership.objects.filter(
            organization=organization, pk__in=membership_ids
        ).select_related("account")
    }
    for membership_id in dict.fromkeys(membership_ids):
        membership = members.get(membership_id)
        if membership is None:
            report.refused.append((f"member #{membership_id}", "not a member any more"))
            continue
        email = membership.account.email
        try:
            seat_assign_any(
                actor=actor, organization=organization, product=product, membership_id=membership_id
            )
        except errors.SeatUnavailable:
            report.refused.append((email, "no free seat left"))
        except errors.DuplicateProductSeat:
            report.refused.append((email, f"already has {with_article(product.name)} seat"))
        except errors.NotAMember:
            report.refused.append((email, "not a member any more"))
        else:
            report.assigned.append(email)
    return report


def member_seats_revoke(*, actor, membership) -> list[License]:
    """R9: removing a member unassigns every organizational seat assigned to them.

    Called inside the removal's transaction; locks the seats (by id, the fixed order) before
    changing them.
    """
    with transaction.atomic():
        seats = list(
            License.objects.select_for_update(of=("self",))
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


def seats_revoke_on_removal(*, actor, membership) -> dict:
    """`organizations.hooks.member_removing`: R9's seats, for the removal's summary."""
    seats = member_seats_revoke(actor=actor, membership=membership)
    return {"seats": [seat.product.code for seat in seats]}
