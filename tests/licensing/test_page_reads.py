"""The Licenses page reads its seat lists in plain SQL (licensing.selectors), which restates
R12's "active" condition; these tests hold it to `active_license_q` on seats at every edge."""

from datetime import timedelta

import pytest
from django.db.models import Q
from django.utils import timezone

from licensing import selectors
from licensing.models import License, active_license_q
from tests.factories import add_member
from tests.licensing.factories import make_seat

pytestmark = pytest.mark.django_db


@pytest.fixture
def edges(organization, product):
    """Seats on either side of every boundary of `now`, assigned and free."""
    now = timezone.now().replace(microsecond=0)
    day = timedelta(days=1)
    spans = [
        (now - day, now + day, None),  # active
        (now - day, None, None),  # perpetual
        (now, now + day, None),  # starts exactly now: active
        (now + timedelta(seconds=1), now + day, None),  # starts a second later
        (now - day, now, None),  # ends exactly now: ended
        (now - day, now + timedelta(seconds=1), None),  # ends a second later
        (now - 2 * day, now - day, None),  # ran out
        (now - day, now + day, now - day),  # cancelled
        (now + day, now + 2 * day, now),  # cancelled before it started
    ]
    for i, (starts, ends, cancelled) in enumerate(spans):
        for assigned in (False, True):
            seat = make_seat(organization, product)
            License.objects.filter(pk=seat.pk).update(
                starts_at=starts,
                ends_at=ends,
                cancelled_at=cancelled,
                assignee=add_member(organization, email=f"edge{i}@x.example", name="Edge")
                if assigned
                else None,
            )
    return now


def _ids(rows) -> set[int]:
    return {row.pk for row in rows[0:1000]}


def _orm(organization, product, condition) -> set[int]:
    seats = License.objects.filter(organization=organization, product=product)
    return set(seats.filter(condition).values_list("pk", flat=True))


def test_the_seat_lists_hold_the_seats_the_orm_rule_names(organization, product, edges):
    now = edges
    active = active_license_q(now)
    upcoming = Q(cancelled_at__isnull=True, starts_at__gt=now)
    seats = selectors.seat_rows_for_org

    def listed(state):
        return _ids(seats(organization=organization, product=product, state=state, now=now))

    assert listed("all") == _orm(organization, product, active | upcoming)
    assert listed("free") == _orm(organization, product, active & Q(assignee__isnull=True))
    assert listed("upcoming") == _orm(organization, product, Q(starts_at__gt=now) & upcoming)
    ended = selectors.ended_seat_rows_for_org(organization=organization, product=product, now=now)
    assert _ids(ended) == _orm(organization, product, ~active & ~upcoming)
    assert ended.count() == len(_ids(ended))
    # Every seat is in exactly one of the two tables.
    everything = set(
        License.objects.filter(organization=organization, product=product).values_list(
            "pk", flat=True
        )
    )
    assert listed("all") | _ids(ended) == everything
    assert not listed("all") & _ids(ended)
