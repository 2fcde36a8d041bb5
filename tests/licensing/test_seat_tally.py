"""Seat tallies (rules.md "Performance"): the seat summary adds up a log written by triggers on
the seats; whatever writes the seats, the summary must equal counting the seats."""

import random
from datetime import timedelta

import pytest
from django.utils import timezone

from licensing import selectors, services
from licensing.models import License, SeatTally
from tests.factories import add_member
from tests.licensing.factories import ProductFactory, make_seats

pytestmark = pytest.mark.django_db


def counted_from_seats(organization, now):
    """The summary as the seats themselves say it (the reference)."""
    soon = now + timedelta(days=30)
    out = {}
    for seat in License.objects.filter(organization=organization):
        row = out.setdefault(
            seat.product_id,
            dict.fromkeys(["total", "assigned", "expiring", "upcoming", "ended"], 0),
        )
        live = seat.cancelled_at is None
        if seat.is_active_at(now):
            row["total"] += 1
            row["assigned"] += seat.assignee_id is not None
            row["expiring"] += seat.ends_at is not None and seat.ends_at <= soon
        elif live and seat.starts_at > now:
            row["upcoming"] += 1
        if not live or (seat.ends_at is not None and seat.ends_at <= now):
            row["ended"] += 1
    return out


def summary(organization, now):
    keys = ["total", "assigned", "expiring", "upcoming", "ended"]
    return {
        row["product_id"]: {k: row[k] for k in keys}
        for row in selectors.seat_summary_for_org(organization=organization, now=now)
    }


def test_summary_equals_counting_the_seats_through_every_kind_of_write(organization):
    rng = random.Random(7)
    now = timezone.now()
    products = [ProductFactory() for _ in range(3)]
    members = [add_member(organization) for _ in range(12)]
    seats = []
    for product in products:
        for starts, days in [(-400, 365), (-100, 365), (-10, 20), (5, 365), (-30, None)]:
            seats += make_seats(
                organization, product, rng.randint(1, 4), starts_in_days=starts, days=days
            )
    # Assign, reassign, cancel, move in time, delete: model saves and queryset updates.
    for seat, membership in zip(rng.sample(seats, 12), members, strict=True):
        seat.assignee = membership
        seat.save(update_fields=["assignee"])
    License.objects.filter(pk__in=[s.pk for s in rng.sample(seats, 5)]).update(
        cancelled_at=now - timedelta(days=1)
    )
    moved = rng.choice(seats)
    License.objects.filter(pk=moved.pk).update(ends_at=now + timedelta(days=3))
    License.objects.filter(pk=rng.choice(seats).pk, assignee__isnull=True).delete()
    License.objects.filter(assignee__isnull=False).update(assigned_at=now)  # changes nothing
    expected = counted_from_seats(organization, now)
    assert summary(organization, now) == {k: v for k, v in expected.items() if any(v.values())}
    assert selectors.seat_tally_problems() == []


def test_the_services_keep_the_tallies(organization, org_admin):
    product = ProductFactory(code="tally")
    services.seats_purchase(
        actor=org_admin, organization=organization, product=product, quantity=6, term_days=365
    )
    members = [add_member(organization) for _ in range(3)]
    for membership in members:
        services.seat_assign_any(
            actor=org_admin,
            organization=organization,
            product=product,
            email=membership.account.email,
        )
    seat = License.objects.filter(assignee__isnull=False).first()
    services.seat_revoke(actor=org_admin, organization=organization, seat_id=seat.pk)
    services.license_cancel(actor=org_admin, license_id=seat.pk)
    (row,) = selectors.seat_summary_for_org(organization=organization)
    assert (row["total"], row["assigned"], row["free"], row["ended"]) == (5, 2, 3, 1)
    assert selectors.seat_tally_problems() == []


def test_folding_keeps_the_sums_and_leaves_one_row_per_window(organization):
    product = ProductFactory()
    now = timezone.now()
    seats = make_seats(organization, product, 5)  # one window
    for seat in seats:  # one tally row per statement
        License.objects.filter(pk=seat.pk).update(cancelled_at=now)
        License.objects.filter(pk=seat.pk).update(cancelled_at=None)
    before = summary(organization, now)
    assert SeatTally.objects.count() > 1
    assert services.seat_tallies_compact() == 1
    assert summary(organization, now) == before
    assert selectors.seat_tally_problems() == []


def test_verify_finds_a_tally_that_disagrees_with_the_seats(organization):
    make_seats(organization, ProductFactory(), 2)
    assert selectors.seat_tally_problems() == []
    SeatTally.objects.update(assigned=1)
    (problem,) = selectors.seat_tally_problems()
    # Two rows (one per seat created), each now claiming one assigned seat.
    assert "seat tally of organization" in problem and "(2, 0, 2) != seats (2, 0, 0)" in problem


def test_personal_licenses_are_not_tallied(member):
    from tests.licensing.factories import make_personal

    make_personal(member, ProductFactory())
    assert not SeatTally.objects.exists()
