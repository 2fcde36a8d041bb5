"""R13 and R16 under truly concurrent requests (PostgreSQL, real threads, a barrier)."""

import pytest

from licensing import services
from licensing.models import License
from portal import errors
from tests.concurrency import run_together
from tests.factories import add_member
from tests.licensing.factories import ProductFactory, make_seats

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 8


@pytest.fixture(autouse=True)
def _seat_tallies_match_the_seats_afterwards():
    """Whatever the race, the tallies the triggers wrote add up to the seats."""
    yield
    from licensing.selectors import seat_tally_problems

    assert seat_tally_problems() == []


def test_one_seat_is_never_given_to_two_members(organization):
    product = ProductFactory()
    (seat,) = make_seats(organization, product, 1)
    members = [add_member(organization).account for _ in range(THREADS)]
    outcomes = run_together(
        [
            lambda m=m: services.seat_assign(
                actor=None, organization=organization, seat_id=seat.pk, email=m.email
            )
            for m in members
        ]
    )
    winners = [o for o in outcomes if isinstance(o, License)]
    losers = [o for o in outcomes if isinstance(o, errors.SeatUnavailable)]
    assert len(winners) == 1 and len(losers) == THREADS - 1, outcomes
    seat.refresh_from_db()
    assert seat.assignee.account.email == winners[0].assignee.account.email


def test_concurrent_reassignments_leave_the_seat_with_exactly_one_member(organization):
    product = ProductFactory()
    (seat,) = make_seats(organization, product, 1)
    members = [add_member(organization).account for _ in range(THREADS)]
    services.seat_assign(
        actor=None, organization=organization, seat_id=seat.pk, email=members[0].email
    )
    outcomes = run_together(
        [
            lambda m=m: services.seat_reassign(
                actor=None, organization=organization, seat_id=seat.pk, email=m.email
            )
            for m in members[1:]
        ]
    )
    assert all(isinstance(o, License) for o in outcomes), outcomes
    seat.refresh_from_db()
    assert seat.assignee.account in members[1:]
    assert License.objects.filter(assignee__isnull=False).count() == 1


def test_one_member_never_gets_two_seats_of_one_product(organization, member):
    product = ProductFactory()
    seats = make_seats(organization, product, THREADS)
    outcomes = run_together(
        [
            lambda s=s: services.seat_assign(
                actor=None, organization=organization, seat_id=s.pk, email=member.email
            )
            for s in seats
        ]
    )
    winners = [o for o in outcomes if isinstance(o, License)]
    dupes = [o for o in outcomes if isinstance(o, errors.DuplicateProductSeat)]
    assert len(winners) == 1 and len(dupes) == THREADS - 1, outcomes
    assert License.objects.filter(assignee__account=member).count() == 1


def test_assign_any_hands_out_exactly_the_free_seats(organization):
    product = ProductFactory()
    make_seats(organization, product, 3)
    members = [add_member(organization).account for _ in range(THREADS)]
    outcomes = run_together(
        [
            lambda m=m: services.seat_assign_any(
                actor=None, organization=organization, product=product, email=m.email
            )
            for m in members
        ]
    )
    winners = [o for o in outcomes if isinstance(o, License)]
    refused = [o for o in outcomes if isinstance(o, errors.SeatUnavailable)]
    assert len(winners) == 3 and len(refused) == THREADS - 3, outcomes
    assert len({w.pk for w in winners}) == 3
    assert License.objects.filter(assignee__isnull=False).count() == 3


def test_assign_racing_member_removal_never_leaves_a_seat_with_a_removed_member(organization):
    """R9 against R13: removal (membership, then its seats) and assignment (seat, then
    membership) interleave without deadlock, and no seat points at a deleted membership."""
    from django.db import transaction

    product = ProductFactory()
    seats = make_seats(organization, product, THREADS)
    memberships = [add_member(organization) for _ in range(THREADS)]

    def remove(membership):
        from organizations.models import Membership

        with transaction.atomic():
            locked = Membership.objects.select_for_update().get(pk=membership.pk)
            services.member_seats_revoke(actor=None, membership=locked)
            from credits.models import CreditAccess

            CreditAccess.objects.filter(membership=locked).delete()
            locked.delete()
        return "removed"

    calls = []
    for seat, membership in zip(seats, memberships, strict=True):
        calls.append(
            lambda s=seat, m=membership: services.seat_assign(
                actor=None, organization=organization, seat_id=s.pk, membership_id=m.pk
            )
        )
        calls.append(lambda m=membership: remove(m))
    outcomes = run_together(calls)
    unexpected = [
        o for o in outcomes if isinstance(o, Exception) and not isinstance(o, errors.NotAMember)
    ]
    assert unexpected == []
    assert outcomes.count("removed") == THREADS
    assert License.objects.filter(assignee__isnull=False).count() == 0


def test_a_trial_is_granted_once_under_concurrent_applications(member):
    product = ProductFactory()
    outcomes = run_together(
        [
            lambda: services.license_apply(account=member, product=product, kind="trial")
            for _ in range(THREADS)
        ]
    )
    winners = [o for o in outcomes if isinstance(o, License)]
    refused = [o for o in outcomes if isinstance(o, services.AlreadyApplied)]
    assert len(winners) == 1 and len(refused) == THREADS - 1, outcomes
    assert License.objects.filter(account=member, kind="trial").count() == 1


def test_purchases_with_one_checkout_token_record_one_order(organization, org_admin):
    from billing.models import Order

    product = ProductFactory()
    outcomes = run_together(
        [
            lambda: services.seats_purchase(
                actor=org_admin,
                organization=organization,
                product=product,
                quantity=2,
                term_days=365,
                checkout_token="same-page",
            )
            for _ in range(4)
        ]
    )
    assert Order.objects.count() == 1
    assert License.objects.filter(organization=organization).count() == 2
    assert all(not isinstance(o, Exception) for o in outcomes), outcomes
