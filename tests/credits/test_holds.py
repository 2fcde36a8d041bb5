"""Holds (R35-R38) through the services: open, raise, capture, release, expiry."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from credits import selectors, services
from credits.models import CreditAccess, Hold, LedgerEntry, Lot
from portal import errors
from tests.credits.factories import access_of, fund_pool, set_access
from tests.factories import add_member

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def pool_member(organization):
    account = add_member(organization).account
    fund_pool(organization, "100.00")
    set_access(account, organization, "quota", limit="50", period="monthly")
    return account


def available(account):
    return selectors.account_spendable(account)["available"]


def test_a_hold_counts_as_spent_and_capture_gives_back_the_rest(pool_member, organization):
    result = services.hold_open(email=pool_member.email, amount="30", reference="job-1")
    assert result.created and result.body["status"] == "open"
    assert result.body["available_after"] == "20.00"
    assert available(pool_member) == D("20.00")
    assert selectors.pool_available(organization=organization) == D("70.00")
    body = services.hold_capture(reference="job-1", amount="12.5")
    assert (body["status"], body["captured"], body["amount"]) == ("captured", "12.50", "30.00")
    assert body["available_after"] == "37.50"
    assert selectors.pool_available(organization=organization) == D("87.50")
    assert access_of(pool_member).used == D("12.50")
    consumption = LedgerEntry.objects.get(reference="job-1")
    assert consumption.kind == "consumption" and consumption.amount == D("-12.50")
    assert selectors.ledger_verify() == []
    # R38: the same capture again answers the first; another one is refused.
    assert services.hold_capture(reference="job-1", amount="12.50") == body
    with pytest.raises(errors.HoldNotOpen):
        services.hold_capture(reference="job-1", amount="1")
    with pytest.raises(errors.HoldNotOpen):
        services.hold_release(reference="job-1")


def test_raise_obeys_the_quota_and_release_gives_everything_back(pool_member):
    services.hold_open(email=pool_member.email, amount="30", reference="job-2")
    with pytest.raises(errors.QuotaExceeded):
        services.hold_raise(reference="job-2", amount="60")
    assert Hold.objects.get(reference="job-2").amount == D("30.00")
    assert services.hold_raise(reference="job-2", amount="45")["amount"] == "45.00"
    assert services.hold_raise(reference="job-2", amount="45")["amount"] == "45.00"
    with pytest.raises(errors.InvalidRequest):
        services.hold_raise(reference="job-2", amount="40")
    body = services.hold_release(reference="job-2")
    assert body["status"] == "released" and body["available_after"] == "50.00"
    assert services.hold_release(reference="job-2") == body
    assert access_of(pool_member).used == 0
    assert selectors.ledger_verify() == []


def test_references_are_one_namespace(pool_member, organization):
    services.hold_open(email=pool_member.email, amount="5", reference="shared")
    with pytest.raises(errors.ReferenceConflict):
        services.credits_consume(account=pool_member, amount="5", reference="shared")
    services.credits_consume(account=pool_member, amount="1", reference="plain")
    with pytest.raises(errors.ReferenceConflict):
        services.hold_open(email=pool_member.email, amount="1", reference="plain")
    again = services.hold_open(email=pool_member.email, amount="5.00", reference="shared")
    assert not again.created and again.body["amount"] == "5.00"
    with pytest.raises(errors.ReferenceConflict):
        services.hold_open(email=pool_member.email, amount="6", reference="shared")
    with pytest.raises(errors.NotFound):
        services.credits_refund(reference="shared")


def test_capture_is_guaranteed_after_access_removal_and_lot_expiry(pool_member, organization):
    services.hold_open(email=pool_member.email, amount="40", reference="job-3")
    set_access(pool_member, organization, "disabled")
    for lot in Lot.objects.all():
        Lot.objects.filter(pk=lot.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    services.credits_expire()
    body = services.hold_capture(reference="job-3", amount="10")
    assert body["status"] == "captured" and body["captured"] == "10.00"
    assert selectors.ledger_verify() == []
    assert selectors.pool_available(organization=organization) == 0


def test_an_expired_hold_stops_counting_and_is_released_by_the_next_refusal(
    pool_member, organization
):
    services.hold_open(email=pool_member.email, amount="50", reference="job-4", expires_in=60)
    Hold.objects.filter(reference="job-4").update(expires_at=timezone.now())
    with pytest.raises(errors.HoldNotOpen):
        services.hold_capture(reference="job-4")
    assert Hold.objects.get(reference="job-4").status == "expired"
    services.credits_consume(account=pool_member, amount="50", reference="after")
    assert selectors.ledger_verify() == []


def test_expire_credits_releases_expired_holds(pool_member):
    services.hold_open(email=pool_member.email, amount="20", reference="job-5", expires_in=60)
    Hold.objects.filter(reference="job-5").update(expires_at=timezone.now())
    assert services.holds_expire() == 1
    assert Hold.objects.get(reference="job-5").status == "expired"
    assert CreditAccess.objects.get(account=pool_member).used == 0
    assert selectors.ledger_verify() == []


@pytest.mark.django_db(transaction=True)
def test_each_hold_operation_is_one_statement(pool_member, django_assert_num_queries):
    """Outside a transaction (as the API calls them) each is one statement, no savepoint."""
    with django_assert_num_queries(1):
        services.hold_open(email=pool_member.email, amount="5", reference="q-1")
    with django_assert_num_queries(1):
        services.hold_raise(reference="q-1", amount="6")
    with django_assert_num_queries(1):
        services.hold_capture(reference="q-1", amount="2")
    services.hold_open(email=pool_member.email, amount="5", reference="q-2")
    with django_assert_num_queries(1):
        services.hold_release(reference="q-2")


def test_capture_is_guaranteed_after_the_member_is_removed(pool_member, organization, org_admin):
    from organizations.models import Membership
    from organizations.services import member_remove

    services.hold_open(email=pool_member.email, amount="25", reference="job-6")
    membership = Membership.objects.get(account=pool_member, organization=organization)
    member_remove(actor=org_admin, membership=membership)
    body = services.hold_capture(reference="job-6", amount="20")
    assert (body["status"], body["captured"]) == ("captured", "20.00")
    assert selectors.pool_available(organization=organization) == D("80.00")
    assert selectors.ledger_verify() == []


def test_a_personal_hold_is_routed_to_personal_credits_and_raised_there(member):
    from tests.credits.factories import fund_personal

    fund_personal(member, "30")
    body = services.hold_open(email=member.email, amount="10", reference="p-1").body
    assert body["source"] == "personal" and body["available_after"] == "20.00"
    with pytest.raises(errors.InsufficientCredits):
        services.hold_raise(reference="p-1", amount="30.01")
    assert services.hold_raise(reference="p-1", amount="30")["available_after"] == "0.00"
    assert services.hold_capture(reference="p-1")["captured"] == "30.00"
    assert selectors.ledger_verify() == []


def test_staff_release_a_hold_from_the_admin_with_a_reason(staff_client, pool_member):
    from portal.models import AuditEvent

    services.hold_open(email=pool_member.email, amount="30", reference="stuck-job")
    hold = Hold.objects.get(reference="stuck-job")
    listing = staff_client.get("/admin/credits/hold/", {"deadline": "day", "status": "open"})
    assert "stuck-job" in listing.content.decode()
    data = {"action": "release_holds", "_selected_action": [hold.pk]}
    asked = staff_client.post("/admin/credits/hold/", data)
    assert "Reason" in asked.content.decode()
    staff_client.post("/admin/credits/hold/", {**data, "apply": "1", "reason": "Job cancelled"})
    hold.refresh_from_db()
    assert hold.status == "released" and hold.release_reason == "Job cancelled"
    event = AuditEvent.objects.get(action="credits.hold_released")
    assert event.details["reason"] == "Job cancelled" and event.actor.is_staff
    assert staff_client.get(f"/admin/credits/hold/{hold.pk}/change/").status_code == 200
    assert selectors.ledger_verify() == []


def test_pages_show_what_running_jobs_hold(client, org_admin, pool_member, organization):
    services.hold_open(email=pool_member.email, amount="12.5", reference="frame-0042")
    client.force_login(org_admin)
    page = client.get("/organization/credits/").content.decode()
    assert "Held by running jobs" in page and "frame-0042" in page and "12.50" in page
    client.force_login(pool_member)
    page = client.get("/credits/").content.decode()
    assert "Held by your running jobs" in page and "frame-0042" in page
    services.hold_capture(reference="frame-0042", amount="10")
    page = client.get("/credits/").content.decode()
    assert "Held by your running jobs" not in page
    assert "Set aside for a running job" in page and "Given back by a finished job" in page
    activity = client.force_login(org_admin) or client.get("/organization/activity/")
    text = activity.content.decode()
    assert "set aside for" in text and "it used 10.00 credits of the 12.50 credits" in text


def test_a_hold_that_takes_the_quota_past_80_percent_alerts(pool_member, run_jobs):
    from django.core import mail

    services.hold_open(email=pool_member.email, amount="41", reference="big-job")
    assert run_jobs() == 1  # the alerts' job, saved with the hold (R45)
    subjects = [m.subject for m in mail.outbox]
    assert f"Credit quota 80% used: {pool_member.email}" in subjects
