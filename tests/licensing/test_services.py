"""Licensing services: R11–R16 (assign, revoke, reassign, purchase, grants, trials)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.utils import timezone

from billing.models import Order
from licensing import selectors, services
from licensing.models import License
from portal import errors
from portal.models import AuditEvent
from tests.factories import AccountFactory, add_member
from tests.licensing.factories import ProductFactory, make_personal, make_seat, make_seats

pytestmark = pytest.mark.django_db


def assign(organization, seat, account, actor=None, **kw):
    return services.seat_assign(
        actor=actor or organization.administrator,
        organization=organization,
        seat_id=seat.pk,
        email=account.email,
        **kw,
    )


# --- R13 assignment -------------------------------------------------------------------------


def test_assign_gives_a_free_active_seat_to_a_member_with_audit_and_email(
    organization, member, product, django_capture_on_commit_callbacks
):
    seat = make_seat(organization, product)
    with django_capture_on_commit_callbacks(execute=True):
        assign(organization, seat, member)
    seat.refresh_from_db()
    assert seat.assignee.account == member
    assert seat.assigned_at is not None
    event = AuditEvent.objects.get(action="seat.assigned")
    assert event.organization == organization and event.target == member.email
    assert event.details["license_id"] == seat.pk
    assert [m.to for m in mail.outbox] == [[member.email]]
    assert "Render Studio" in mail.outbox[0].body


def test_assign_to_the_administrator_is_allowed(organization, org_admin, product):
    """R4: the administrator is a member and can be assigned seats like anyone."""
    seat = make_seat(organization, product)
    assign(organization, seat, org_admin)
    seat.refresh_from_db()
    assert seat.assignee.account == org_admin


def test_assign_email_is_case_insensitive(organization, member, product):
    seat = make_seat(organization, product)
    services.seat_assign(
        actor=None, organization=organization, seat_id=seat.pk, email=member.email.upper()
    )
    seat.refresh_from_db()
    assert seat.assignee.account == member


@pytest.mark.parametrize("who", ["unknown", "stranger", "outsider"])
def test_assign_refuses_a_non_member(organization, outsider, product, who):
    seat = make_seat(organization, product)
    email = {
        "unknown": "nobody@example.com",
        "stranger": AccountFactory().email,
        "outsider": outsider.email,
    }[who]
    with pytest.raises(errors.NotAMember):
        services.seat_assign(actor=None, organization=organization, seat_id=seat.pk, email=email)
    seat.refresh_from_db()
    assert seat.assignee is None


def test_assign_refuses_another_organizations_seat(organization, outsider, member, product):
    foreign = make_seat(outsider.administered_organization, product)
    with pytest.raises(errors.NotFound):
        assign(organization, foreign, member)
    foreign.refresh_from_db()
    assert foreign.assignee is None


def test_assign_refuses_a_personal_license(organization, member, product):
    personal = make_personal(member, product)
    with pytest.raises(errors.NotFound):
        assign(organization, personal, member)


@pytest.mark.parametrize(
    ("fields", "state"),
    [
        ({"starts_in_days": 1}, "not valid yet"),  # starts tomorrow
        ({"starts_in_days": -31, "days": 30}, "expired"),  # ended yesterday
        ({"cancelled_at": timezone.now()}, "cancelled"),
    ],
)
def test_assign_refuses_an_inactive_seat(organization, member, product, fields, state):
    seat = make_seat(organization, product, **fields)
    with pytest.raises(errors.SeatUnavailable, match=state):
        assign(organization, seat, member)
    seat.refresh_from_db()
    assert seat.assignee is None


def test_assign_accepts_a_perpetual_seat(organization, member, product):
    seat = make_seat(organization, product, days=None)
    assign(organization, seat, member)
    assert License.objects.get(pk=seat.pk).assignee.account == member


def test_assign_refuses_a_seat_already_assigned(organization, member, product):
    seat = make_seat(organization, product)
    other = add_member(organization).account
    assign(organization, seat, member)
    with pytest.raises(errors.SeatUnavailable, match="already assigned"):
        assign(organization, seat, other)
    assert License.objects.get(pk=seat.pk).assignee.account == member


def test_assigning_the_same_member_again_changes_nothing(organization, member, product):
    seat = make_seat(organization, product)
    assign(organization, seat, member)
    assign(organization, seat, member)
    assert AuditEvent.objects.filter(action="seat.assigned").count() == 1


def test_a_member_holds_one_active_seat_per_product(organization, member, product, other_product):
    first, second = make_seats(organization, product, 2)
    assign(organization, first, member)
    with pytest.raises(errors.DuplicateProductSeat):
        assign(organization, second, member)
    # Another product is fine.
    assign(organization, make_seat(organization, other_product), member)
    assert License.objects.filter(assignee__account=member).count() == 2


def test_an_ended_seat_still_holding_the_member_does_not_block_a_new_one(
    organization, member, product
):
    """R13: an expired seat stops counting at once; the assign transaction releases it."""
    old = make_seat(organization, product)
    assign(organization, old, member)
    License.objects.filter(pk=old.pk).update(
        starts_at=timezone.now() - timedelta(days=400),
        ends_at=timezone.now() - timedelta(days=1),
    )
    new = make_seat(organization, product)
    assign(organization, new, member)
    old.refresh_from_db()
    new.refresh_from_db()
    assert old.assignee is None
    assert new.assignee.account == member
    assert AuditEvent.objects.filter(action="seat.revoked", details__reason="ended").count() == 1


# --- Revoke, reassign ------------------------------------------------------------------------


def test_revoke_unassigns_and_emails_the_member(
    organization, member, product, django_capture_on_commit_callbacks
):
    seat = make_seat(organization, product)
    assign(organization, seat, member)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.seat_revoke(
            actor=organization.administrator, organization=organization, seat_id=seat.pk
        )
    seat.refresh_from_db()
    assert seat.assignee is None and seat.assigned_at is None
    assert AuditEvent.objects.filter(action="seat.revoked", target=member.email).exists()
    assert [m.to for m in mail.outbox] == [[member.email]]
    assert "removed" in mail.outbox[0].subject


def test_revoke_of_a_free_seat_changes_nothing(organization, product):
    seat = make_seat(organization, product)
    services.seat_revoke(actor=None, organization=organization, seat_id=seat.pk)
    assert not AuditEvent.objects.filter(action="seat.revoked").exists()


def test_revoke_refuses_another_organizations_seat(organization, outsider, member, product):
    foreign = make_seat(outsider.administered_organization, product)
    other = outsider.administered_organization.memberships.get()
    License.objects.filter(pk=foreign.pk).update(assignee=other)
    with pytest.raises(errors.NotFound):
        services.seat_revoke(actor=None, organization=organization, seat_id=foreign.pk)
    assert License.objects.get(pk=foreign.pk).assignee == other


def test_reassign_moves_the_seat_in_one_step(
    organization, member, product, django_capture_on_commit_callbacks
):
    seat = make_seat(organization, product)
    other = add_member(organization).account
    assign(organization, seat, member)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.seat_reassign(
            actor=None, organization=organization, seat_id=seat.pk, email=other.email
        )
    seat.refresh_from_db()
    assert seat.assignee.account == other
    event = AuditEvent.objects.get(action="seat.reassigned")
    assert event.details["from"] == member.email and event.target == other.email
    assert sorted(m.to[0] for m in mail.outbox) == sorted([member.email, other.email])


def test_reassign_to_a_member_who_already_has_the_product_leaves_the_seat(
    organization, member, product, django_capture_on_commit_callbacks
):
    seat, theirs = make_seats(organization, product, 2)
    other = add_member(organization).account
    assign(organization, seat, member)
    assign(organization, theirs, other)
    mail.outbox.clear()
    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(errors.DuplicateProductSeat),
    ):
        services.seat_reassign(
            actor=None, organization=organization, seat_id=seat.pk, email=other.email
        )
    assert License.objects.get(pk=seat.pk).assignee.account == member
    assert [(m.to, m.subject) for m in mail.outbox] == []


def test_reassign_to_a_non_member_leaves_the_seat(organization, member, outsider, product):
    seat = make_seat(organization, product)
    assign(organization, seat, member)
    with pytest.raises(errors.NotAMember):
        services.seat_reassign(
            actor=None, organization=organization, seat_id=seat.pk, email=outsider.email
        )
    assert License.objects.get(pk=seat.pk).assignee.account == member


def test_assign_any_picks_a_free_seat_and_says_when_none_is_left(organization, member, product):
    make_seats(organization, product, 1)
    make_seat(organization, product, days=5, starts_in_days=-10)  # ended: never picked
    services.seat_assign_any(
        actor=None, organization=organization, product=product, email=member.email
    )
    other = add_member(organization).account
    with pytest.raises(errors.SeatUnavailable, match="No free"):
        services.seat_assign_any(
            actor=None, organization=organization, product=product, email=other.email
        )


def test_bulk_assign_serves_members_while_seats_last_and_reports_the_rest(
    organization, member, product
):
    make_seats(organization, product, 2)
    holder = add_member(organization).account
    assign(organization, make_seat(organization, product), holder)
    others = [add_member(organization) for _ in range(2)]
    ids = [
        organization.memberships.get(account=member).pk,
        organization.memberships.get(account=holder).pk,
    ] + [m.pk for m in others]
    report = services.seats_bulk_assign(
        actor=None, organization=organization, product=product, membership_ids=ids
    )
    assert report.assigned == [member.email, others[0].account.email]
    assert report.refused == [
        (holder.email, "already has a Render Studio seat"),
        (others[1].account.email, "no free seat left"),
    ]


def test_bulk_assign_ignores_members_of_other_organizations(organization, outsider, product):
    make_seats(organization, product, 2)
    foreign = outsider.administered_organization.memberships.get()
    report = services.seats_bulk_assign(
        actor=None, organization=organization, product=product, membership_ids=[foreign.pk]
    )
    assert report.assigned == []
    assert License.objects.filter(assignee=foreign).count() == 0


def test_member_removal_hook_unassigns_every_seat(organization, member, product, other_product):
    assign(organization, make_seat(organization, product), member)
    assign(organization, make_seat(organization, other_product), member)
    membership = organization.memberships.get(account=member)
    seats = services.member_seats_revoke(actor=None, membership=membership)
    assert len(seats) == 2
    assert not License.objects.filter(assignee=membership).exists()


# --- Cancellation and expiry ----------------------------------------------------------------


def test_cancel_stops_counting_at_once_and_unassigns(
    organization, member, product, django_capture_on_commit_callbacks
):
    seat = make_seat(organization, product)
    assign(organization, seat, member)
    with django_capture_on_commit_callbacks(execute=True):
        services.license_cancel(actor=None, license_id=seat.pk)
    seat.refresh_from_db()
    assert seat.cancelled_at is not None and seat.assignee is None
    assert not seat.is_active
    summary = selectors.seat_summary_for_org(organization=organization)
    assert summary[0]["total"] == 0 and summary[0]["ended"] == 1
    assert "cancelled" in mail.outbox[-1].body
    assert selectors.entitlements_for_account(account=member) == []


def test_release_ended_seats_unassigns_only_ended_ones(
    organization, member, product, other_product
):
    ended = make_seat(organization, product)
    live = make_seat(organization, other_product)
    assign(organization, ended, member)
    assign(organization, live, member)
    License.objects.filter(pk=ended.pk).update(
        starts_at=timezone.now() - timedelta(days=10), ends_at=timezone.now() - timedelta(seconds=1)
    )
    assert services.seats_release_ended() == 1
    assert services.seats_release_ended() == 0  # idempotent
    assert License.objects.get(pk=ended.pk).assignee is None
    assert License.objects.get(pk=live.pk).assignee is not None


def test_an_ended_seat_stops_counting_before_it_is_released(organization, member, product):
    seat = make_seat(organization, product)
    assign(organization, seat, member)
    License.objects.filter(pk=seat.pk).update(
        starts_at=timezone.now() - timedelta(days=10), ends_at=timezone.now() - timedelta(seconds=1)
    )
    assert selectors.entitlements_for_account(account=member) == []
    row = selectors.seat_summary_for_org(organization=organization)[0]
    assert (row["total"], row["assigned"]) == (0, 0)


# --- Purchase and grants (R11, R15) ---------------------------------------------------------


def test_purchase_records_a_paid_order_and_unassigned_seats(organization, org_admin, product):
    order = services.seats_purchase(
        actor=org_admin, organization=organization, product=product, quantity=3, term_days=730
    )
    assert order.status == "paid" and order.organization == organization
    assert order.total == Decimal("720.00")  # 120 a seat-year × 3 seats × 2 years
    line = order.lines.get()
    assert (line.item, line.quantity, line.term_days, line.unit_price) == ("seats", 3, 730, 120)
    assert (line.product_code, line.description) == (product.code, product.name)
    seats = License.objects.filter(organization=organization)
    assert seats.count() == 3
    assert all(s.assignee is None and s.is_active and s.order_line == line for s in seats)
    assert AuditEvent.objects.filter(action="seats.purchased", organization=organization).exists()


def test_purchase_with_the_same_checkout_token_buys_once(organization, org_admin, product):
    kwargs = dict(
        actor=org_admin, organization=organization, product=product, quantity=2, term_days=365
    )
    first = services.seats_purchase(checkout_token="t-1", **kwargs)
    again = services.seats_purchase(checkout_token="t-1", **kwargs)
    assert first == again
    assert Order.objects.count() == 1 and License.objects.count() == 2


@pytest.mark.parametrize(("quantity", "term"), [(0, 365), (1001, 365), (1, 30)])
def test_purchase_refuses_bad_quantity_or_term(organization, org_admin, product, quantity, term):
    with pytest.raises(errors.InvalidRequest):
        services.seats_purchase(
            actor=org_admin,
            organization=organization,
            product=product,
            quantity=quantity,
            term_days=term,
        )
    assert not Order.objects.exists()


def test_inactive_product_can_be_neither_bought_nor_granted(organization, org_admin, member):
    """R11."""
    product = ProductFactory(active=False)
    with pytest.raises(services.ProductUnavailable):
        services.seats_purchase(
            actor=org_admin, organization=organization, product=product, quantity=1, term_days=365
        )
    with pytest.raises(services.ProductUnavailable):
        services.license_purchase(actor=member, product=product, term_days=365)
    with pytest.raises(services.ProductUnavailable):
        services.licenses_grant(actor=None, product=product, organization=organization, seats=2)
    with pytest.raises(services.ProductUnavailable):
        services.license_apply(account=member, product=product, kind="trial")
    assert not License.objects.exists() and not Order.objects.exists()


def test_licenses_already_held_stay_valid_when_a_product_is_retired(organization, member, product):
    """R11: retiring a product does not touch licenses already held."""
    seat = make_seat(organization, product)
    assign(organization, seat, member)
    product.active = False
    product.save()
    assert [e["product"] for e in selectors.entitlements_for_account(account=member)] == ["studio"]


def test_a_member_can_buy_a_personal_license_and_use_both(organization, member, product):
    """R14, R15: personal licenses and organizational seats at the same time."""
    assign(organization, make_seat(organization, product), member)
    order = services.license_purchase(actor=member, product=product, term_days=365)
    assert order.organization is None and order.lines.get().item == "license"
    entitlements = selectors.entitlements_for_account(account=member)
    assert [s["source"] for s in entitlements[0]["sources"]] == ["organization", "personal"]


def test_grant_seats_and_a_perpetual_personal_license(organization, member, product):
    seats = services.licenses_grant(
        actor=None, product=product, organization=organization, seats=4, days=30
    )
    assert len(seats) == 4 and License.objects.filter(organization=organization).count() == 4
    (personal,) = services.licenses_grant(actor=None, product=product, account=member)
    personal.refresh_from_db()
    assert personal.ends_at is None and personal.is_active
    assert not Order.objects.exists()


def test_grant_refuses_several_seats_to_an_account(member, product):
    with pytest.raises(errors.InvalidRequest):
        services.licenses_grant(actor=None, product=product, account=member, seats=2)
    assert not License.objects.exists()


# --- Trials and betas (R16) -----------------------------------------------------------------


def test_trial_lasts_thirty_days_once_per_product(member, product):
    lic = services.license_apply(account=member, product=product, kind="trial")
    assert lic.kind == "trial" and lic.account == member
    assert lic.ends_at - lic.starts_at == timedelta(days=30)
    with pytest.raises(services.AlreadyApplied):
        services.license_apply(account=member, product=product, kind="trial")
    # Even after the trial has ended.
    License.objects.filter(pk=lic.pk).update(
        starts_at=timezone.now() - timedelta(days=40), ends_at=timezone.now() - timedelta(days=10)
    )
    with pytest.raises(services.AlreadyApplied):
        services.license_apply(account=member, product=product, kind="trial")
    assert License.objects.filter(kind="trial").count() == 1


def test_beta_is_separate_from_trial(member, product):
    services.license_apply(account=member, product=product, kind="trial")
    beta = services.license_apply(account=member, product=product, kind="beta")
    assert beta.kind == "beta"


def test_beta_needs_an_open_programme(member):
    product = ProductFactory(beta_available=False)
    with pytest.raises(services.ProductUnavailable, match="no beta"):
        services.license_apply(account=member, product=product, kind="beta")


def test_no_trial_while_an_organizational_seat_of_the_product_is_assigned(
    organization, member, product, other_product
):
    seat = make_seat(organization, product)
    assign(organization, seat, member)
    with pytest.raises(services.OrganizationSeatAssigned, match=organization.name):
        services.license_apply(account=member, product=product, kind="trial")
    # Other products are fine; and once the seat is revoked the trial is allowed.
    services.license_apply(account=member, product=other_product, kind="trial")
    services.seat_revoke(actor=None, organization=organization, seat_id=seat.pk)
    services.license_apply(account=member, product=product, kind="trial")


def test_an_unassigned_organizational_seat_does_not_prevent_a_trial(organization, member, product):
    make_seat(organization, product)
    assert services.license_apply(account=member, product=product, kind="trial")


# --- Catalog ---------------------------------------------------------------------------------


def test_product_create_and_duplicate_code(db):
    product = services.product_create(actor=None, code="fx", name="Effects")
    assert product.active
    with pytest.raises(errors.Conflict):
        services.product_create(actor=None, code="fx", name="Other")
    with pytest.raises(errors.InvalidRequest):
        services.product_create(actor=None, code="not a slug", name="X")


def test_a_first_trial_brings_the_trial_credits_once(member, product, other_product):
    """R16: one grant of trial credits, to an account without organizational access."""
    from credits.models import Lot

    first = services.license_apply(account=member, product=product, kind="trial")
    assert first.trial_credits is not None
    assert first.trial_credits.origin == "trial"
    second = services.license_apply(account=member, product=other_product, kind="trial")
    assert second.trial_credits is None
    assert Lot.objects.filter(wallet__account=member, origin="trial").count() == 1


def test_no_trial_credits_while_organizational_access_is_enabled(organization, member, product):
    from credits.models import CreditAccess, Lot

    CreditAccess.objects.filter(account=member).update(mode="unlimited")
    lic = services.license_apply(account=member, product=product, kind="trial")
    assert lic.kind == "trial" and lic.trial_credits is None
    assert not Lot.objects.filter(origin="trial").exists()


def test_product_names_take_the_right_article():
    from portal.text import with_article

    assert with_article("Asset Library") == "an Asset Library"
    assert with_article("Render Studio") == "a Render Studio"
