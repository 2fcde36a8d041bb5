"""Credit services: lots, routing, quotas, idempotency, refunds, expiry, alerts (R16–R30)."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from unittest import mock

import pytest
from django.core import mail
from django.utils import timezone

from billing.models import Order
from credits import selectors, services
from credits.models import EntryKind, LedgerEntry, Lot, Wallet
from portal import errors
from tests.credits.factories import (
    access_of,
    consume,
    fund_personal,
    fund_pool,
    ref,
    set_access,
)
from tests.factories import AccountFactory, add_member, make_org_admin

pytestmark = pytest.mark.django_db
D = Decimal


def at(moment):
    return mock.patch("django.utils.timezone.now", return_value=moment)


def test_pool_purchase_records_a_paid_order_and_a_lot_expiring_in_a_year(org_admin, organization):
    lot = services.pool_credits_purchase(actor=org_admin, organization=organization, amount="250")
    order = Order.objects.get(organization=organization)
    line = order.lines.get()
    assert (order.status, line.item, line.credits) == ("paid", "credits", D("250.00"))
    assert lot.origin == "purchase" and lot.remaining == D("250.00")
    assert abs((lot.expires_at - lot.arrived_at) - timedelta(days=365)) < timedelta(seconds=1)
    assert selectors.pool_available(organization=organization) == D("250.00")
    assert Wallet.objects.get(organization=organization).balance == D("250.00")


@pytest.mark.parametrize("bad", ["0", "-1", "1.005", "1e3", "NaN", "inf", " 5", "1234567890123"])
def test_amounts_out_of_rule_are_refused_and_change_nothing(organization, bad):
    """R17: more precision, zero, negatives, exponents, NaN and huge values are refused."""
    with pytest.raises(errors.InvalidRequest):
        services.pool_credits_purchase(actor=None, organization=organization, amount=bad)
    assert not Lot.objects.exists() and not Order.objects.exists()


def test_unlimited_member_consumes_from_the_pool(organization, member, assert_ledger_ok):
    fund_pool(organization, "10.00")
    set_access(member, organization, "unlimited")
    result = consume(member, "4.25", "render-1")
    assert result.created
    assert result.body == {
        "reference": "render-1",
        "account": member.email,
        "amount": "4.25",
        "source": "organization",
        "available_after": "5.75",
    }
    assert access_of(member).used == D("4.25")
    assert_ledger_ok()


def test_unlimited_member_cannot_overdraw_the_pool(organization, member):
    fund_pool(organization, "3.00")
    set_access(member, organization, "unlimited")
    with pytest.raises(errors.InsufficientCredits):
        consume(member, "3.01")
    assert not LedgerEntry.objects.filter(kind="consumption").exists()


def test_quota_is_a_ceiling_and_min_of_quota_and_pool_is_spendable(organization, member):
    """R22."""
    fund_pool(organization, "100.00")
    set_access(member, organization, "quota", "10.00")
    consume(member, "8.00")
    assert selectors.account_spendable(member)["available"] == D("2.00")
    with pytest.raises(errors.QuotaExceeded):
        consume(member, "2.01")
    assert consume(member, "2.00").body["available_after"] == "0.00"


def test_quota_and_pool_both_short_answers_quota_exceeded(organization, member):
    """R22: both short → quota_exceeded; only the pool short → insufficient_credits."""
    fund_pool(organization, "5.00")
    set_access(member, organization, "quota", "6.00")
    with pytest.raises(errors.QuotaExceeded):
        consume(member, "7.00")
    with pytest.raises(errors.InsufficientCredits):
        consume(member, "5.50")
    assert selectors.account_spendable(member)["available"] == D("5.00")


def test_lowering_the_limit_below_usage_stops_consumption(organization, member):
    fund_pool(organization, "50.00")
    set_access(member, organization, "quota", "20.00")
    consume(member, "15.00")
    set_access(member, organization, "quota", "10.00")
    assert access_of(member).used == D("15.00")
    assert selectors.account_spendable(member)["available"] == D("0.00")
    with pytest.raises(errors.QuotaExceeded):
        consume(member, "0.01")


def test_monthly_quota_usage_counts_from_the_first_of_the_month_utc(
    organization, member, assert_ledger_ok
):
    january = datetime(2027, 1, 31, 23, 59, tzinfo=UTC)
    with at(january):
        fund_pool(organization, "100.00")
        set_access(member, organization, "quota", "10.00", "monthly")
        consume(member, "10.00")
        with pytest.raises(errors.QuotaExceeded):
            consume(member, "1.00")
    with at(january + timedelta(minutes=2)):
        assert selectors.account_spendable(member)["available"] == D("10.00")
        consume(member, "4.00")
        assert access_of(member).used == D("4.00")
        assert_ledger_ok()


def test_no_source_without_personal_credits_or_access(member):
    with pytest.raises(errors.NoCreditSource):
        consume(member, "1.00")
    with pytest.raises(errors.NoCreditSource):
        consume(AccountFactory(), "1.00")


def test_disabled_access_is_no_source(organization, member):
    fund_pool(organization, "10.00")
    with pytest.raises(errors.NoCreditSource):
        consume(member, "1.00")


def test_personal_credits_come_first_and_sources_never_mix(organization, member):
    """R23, R26: a refund that revives personal credits routes there first."""
    fund_personal(member, "5.00")
    services.credits_consume(account=member, amount=D("5.00"), reference="p-1")
    fund_pool(organization, "50.00")
    set_access(member, organization, "unlimited")
    assert consume(member, "1.00").body["source"] == "organization"
    services.credits_refund(reference="p-1", amount=D("2.00"))
    spend = selectors.account_spendable(member)
    assert (spend["source"], spend["available"]) == ("personal", D("2.00"))
    with pytest.raises(errors.InsufficientCredits):
        consume(member, "3.00")  # never mixes personal and pool
    assert consume(member, "2.00").body["source"] == "personal"
    assert consume(member, "2.00").body["source"] == "organization"


def test_soonest_expiring_lots_are_used_first_then_oldest(organization, member):
    fund_pool(organization, "10.00", days=300)
    soon = fund_pool(organization, "3.00", days=10)
    never = fund_pool(organization, "5.00", days=3000)
    set_access(member, organization, "unlimited")
    consume(member, "4.00")
    soon.refresh_from_db()
    never.refresh_from_db()
    assert soon.remaining == D("0.00")
    assert Lot.objects.get(amount=D("10.00")).remaining == D("9.00")
    assert never.remaining == D("5.00")


def test_same_reference_replays_the_first_body_without_charging(organization, member):
    """R25."""
    fund_pool(organization, "10.00")
    set_access(member, organization, "unlimited")
    first = consume(member, "2.00", "job-7")
    consume(member, "1.00")
    again = consume(member, "2.00", "job-7")
    assert not again.created and again.body == first.body
    assert selectors.pool_available(organization=organization) == D("7.00")


def test_same_reference_with_other_amount_or_account_is_a_conflict(organization, member):
    fund_pool(organization, "10.00")
    set_access(member, organization, "unlimited")
    consume(member, "2.00", "job-8")
    with pytest.raises(errors.ReferenceConflict):
        consume(member, "2.01", "job-8")
    other = add_member(organization).account
    set_access(other, organization, "unlimited")
    with pytest.raises(errors.ReferenceConflict):
        consume(other, "2.00", "job-8")


def test_a_refused_consumption_records_nothing_and_can_be_retried(organization, member):
    fund_pool(organization, "1.00")
    set_access(member, organization, "unlimited")
    with pytest.raises(errors.InsufficientCredits):
        consume(member, "2.00", "job-9")
    fund_pool(organization, "5.00")
    assert consume(member, "2.00", "job-9").created


@pytest.mark.parametrize("bad", ["", "has space", "x" * 201, "semi;colon", "ü"])
def test_bad_references_are_refused(organization, member, bad):
    fund_pool(organization, "10.00")
    set_access(member, organization, "unlimited")
    with pytest.raises(errors.InvalidRequest):
        services.credits_consume(account=member, amount=D("1.00"), reference=bad)


def test_refund_once_partial_back_to_lots_and_quota(organization, member, assert_ledger_ok):
    """R26."""
    fund_pool(organization, "10.00")
    set_access(member, organization, "quota", "8.00")
    consume(member, "6.00", "job-r")
    answer = services.credits_refund(reference="job-r", amount="2.50")
    assert answer == {"reference": "job-r", "refunded": "2.50", "available_after": "4.50"}
    assert access_of(member).used == D("3.50")
    assert selectors.pool_available(organization=organization) == D("6.50")
    with pytest.raises(errors.AlreadyRefunded):
        services.credits_refund(reference="job-r", amount="1.00")
    assert_ledger_ok()


def test_refund_cannot_exceed_consumption_and_unknown_is_not_found(organization, member):
    fund_pool(organization, "10.00")
    set_access(member, organization, "unlimited")
    consume(member, "1.00", "job-x")
    with pytest.raises(errors.RefundExceedsConsumption):
        services.credits_refund(reference="job-x", amount="1.01")
    with pytest.raises(errors.NotFound):
        services.credits_refund(reference="nope")
    assert services.credits_refund(reference="job-x")["refunded"] == "1.00"


def test_refund_to_an_expired_lot_stays_expired(organization, member, assert_ledger_ok):
    start = timezone.now()
    fund_pool(organization, "10.00", days=1)
    set_access(member, organization, "unlimited")
    consume(member, "4.00", "job-e")
    with at(start + timedelta(days=2)):
        assert services.credits_expire() == 1
        services.credits_refund(reference="job-e")
        assert selectors.pool_available(organization=organization) == D("0.00")
        lot = Lot.objects.get()
        assert lot.remaining == D("0.00")
        assert LedgerEntry.objects.filter(kind="expiry").count() == 2
        assert_ledger_ok()


def test_expiry_writes_one_entry_per_lot_with_credits_left_and_is_idempotent(
    organization, member, assert_ledger_ok
):
    """R28."""
    start = timezone.now()
    fund_pool(organization, "10.00", days=1)
    fund_pool(organization, "3.00", days=1)
    fund_pool(organization, "7.00", days=30)
    set_access(member, organization, "unlimited")
    consume(member, "3.00")  # empties the 3.00 lot? no: soonest first, then oldest → 10.00 lot
    with at(start + timedelta(days=2)):
        assert selectors.pool_available(organization=organization) == D("7.00")
        with pytest.raises(errors.InsufficientCredits):
            consume(member, "8.00")
        assert services.credits_expire() == 2
        assert services.credits_expire() == 0
        entries = LedgerEntry.objects.filter(kind=EntryKind.EXPIRY).order_by("amount")
        assert [e.amount for e in entries] == [D("-7.00"), D("-3.00")]
        assert Wallet.objects.get(organization=organization).balance == D("7.00")
        assert_ledger_ok()


def test_enabling_access_is_refused_with_active_personal_credits(organization, member):
    """R21: the message says how many and until when."""
    lot = fund_personal(member, "12.50", days=10)
    with pytest.raises(errors.PersonalCreditsActive) as exc:
        set_access(member, organization, "unlimited")
    assert "12.50" in exc.value.message and f"{lot.expires_at:%Y-%m-%d}" in exc.value.message
    services.credits_consume(account=member, amount=D("12.50"), reference=ref())
    assert set_access(member, organization, "unlimited").mode == "unlimited"


def test_enabling_access_is_refused_when_enabled_in_another_organization(organization, member):
    other_org = make_org_admin().administered_organization
    set_access(member, organization, "unlimited")
    freelancer_home = member.memberships.get(organization=organization)
    assert freelancer_home
    # The member administers an organization of their own too (R5 allows it).
    own = make_org_admin().administered_organization
    assert own != other_org
    from organizations.models import Role
    from organizations.services import membership_create

    admin_of_other = other_org.administrator
    membership_create(organization=organization, account=admin_of_other, role=Role.MEMBER)
    set_access(admin_of_other, other_org, "unlimited")
    with pytest.raises(errors.CreditAccessEnabledElsewhere):
        set_access(admin_of_other, organization, "quota", "5")


def test_personal_purchase_grant_and_trial_refused_with_org_access(organization, member):
    set_access(member, organization, "unlimited")
    with pytest.raises(errors.OrgCreditAccessEnabled):
        services.personal_credits_purchase(actor=member, amount="5")
    with pytest.raises(errors.OrgCreditAccessEnabled):
        fund_personal(member, "5")
    with pytest.raises(errors.OrgCreditAccessEnabled):
        services.trial_credits_grant(actor=member, account=member)
    assert not Lot.objects.filter(wallet__account=member).exists()


def test_trial_credits_once_per_account(settings):
    settings.TRIAL_CREDITS = "25.00"
    account = AccountFactory()
    lot = services.trial_credits_grant(actor=account, account=account)
    assert (lot.origin, lot.amount) == ("trial", D("25.00"))
    with pytest.raises(services.TrialCreditsUsed):
        services.trial_credits_grant(actor=account, account=account)


def test_quota_alerts_once_per_crossing_and_again_next_period(
    organization, org_admin, member, run_jobs
):
    """R30: 80% and 100%, member and administrator, once per crossing; reset monthly. The
    consumption saves the alert as a job (R45), emailed when the worker runs it."""
    january = datetime(2027, 1, 10, tzinfo=UTC)
    with at(january):
        fund_pool(organization, "100.00")
        set_access(member, organization, "quota", "10.00", "monthly")
        mail.outbox.clear()
        consume(member, "7.00")
        assert run_jobs() == 0 and mail.outbox == []
        consume(member, "1.00")
        consume(member, "0.50")
        assert mail.outbox == []  # not from the consumption's request
        run_jobs()
        assert len(mail.outbox) == 1 and "80%" in mail.outbox[0].subject
        assert set(mail.outbox[0].to) == {member.email, org_admin.email}
        consume(member, "1.50")
        run_jobs()
        assert len(mail.outbox) == 2 and "100%" in mail.outbox[1].subject
    with at(january + timedelta(days=31)):
        consume(member, "9.00")
        run_jobs()
        assert len(mail.outbox) == 3 and "80%" in mail.outbox[2].subject


def test_low_balance_alert_once_until_topped_up(organization, org_admin, member, run_jobs):
    organization.low_balance_threshold = D("10.00")
    organization.save()
    fund_pool(organization, "20.00")
    set_access(member, organization, "unlimited")
    mail.outbox.clear()
    consume(member, "9.00")
    assert run_jobs() == 0 and mail.outbox == []
    consume(member, "2.00")
    consume(member, "2.00")
    run_jobs()
    assert len(mail.outbox) == 1 and mail.outbox[0].to == [org_admin.email]
    assert "9.00 credits are available" in mail.outbox[0].body
    fund_pool(organization, "50.00")
    assert not Wallet.objects.get(organization=organization).low_balance_alerted
    mail.outbox.clear()  # the grant's own notice
    consume(member, "50.00")
    run_jobs()
    assert len(mail.outbox) == 1 and "Low credit balance" in mail.outbox[0].subject


def test_credit_request_emails_the_administrator(organization, org_admin, member):
    """R29."""
    request = services.credit_request_create(account=member, amount="40", message="Big job")
    assert request.organization == organization and mail.outbox[-1].to == [org_admin.email]
    services.credit_request_close(actor=org_admin, credit_request=request)
    request.refresh_from_db()
    assert request.state == "closed"
    with pytest.raises(errors.NotAMember):
        services.credit_request_create(account=AccountFactory(), amount="1")


def test_verify_ledger_finds_a_tampered_cache_and_lot(organization, member):
    fund_pool(organization, "10.00")
    set_access(member, organization, "quota", "5.00")
    consume(member, "2.00")
    assert selectors.ledger_verify() == []
    Wallet.objects.update(balance=D("9.00"))
    Lot.objects.update(remaining=D("7.00"))
    access_of(member).__class__.objects.filter(account=member).update(used=D("1.00"))
    problems = selectors.ledger_verify()
    assert any("balance" in p for p in problems)
    assert any("lot #" in p and "movements" in p for p in problems)
    assert any("cached usage" in p for p in problems)


def test_member_access_disable_keeps_working(organization, org_admin, member):
    set_access(member, organization, "quota", "5.00", "monthly")
    membership = member.memberships.get()
    services.member_access_disable(actor=org_admin, membership=membership)
    assert access_of(member).mode == "disabled"


@pytest.mark.parametrize("door", ["account", "email"])
def test_usage_rollups_follow_consumptions_and_refunds_on_the_consumptions_day(
    organization, member, assert_ledger_ok, door
):
    """The chart's rollups (per pool and day, per member and month) count a refund on its
    consumption's day, as R22 counts quota usage; both doors (the ORM path and, on
    PostgreSQL, the database function) keep them, and `verify_ledger` agrees."""
    from credits.models import MemberUsageMonth, PoolUsageDay

    def spend(amount, reference):
        if door == "email":
            return services.credits_consume_for_email(
                email=member.email, amount=D(amount), reference=reference
            )
        return services.credits_consume(account=member, amount=D(amount), reference=reference)

    october = datetime(2027, 10, 31, 23, 30, tzinfo=UTC)
    with at(october):
        fund_pool(organization, "100.00")
        set_access(member, organization, "unlimited")
        spend("7.00", "oct-1")
        spend("3.00", "oct-2")
    with at(october + timedelta(hours=1)):  # 1 November
        spend("5.00", "nov-1")
        services.credits_refund(reference="oct-1", amount="2.00")
    days = dict(
        PoolUsageDay.objects.filter(organization=organization).values_list("day", "consumed")
    )
    assert days == {october.date(): D("8.00"), october.date() + timedelta(days=1): D("5.00")}
    months = dict(
        MemberUsageMonth.objects.filter(organization=organization, account=member).values_list(
            "month", "consumed"
        )
    )
    assert months == {
        october.date().replace(day=1): D("8.00"),
        datetime(2027, 11, 1).date(): D("5.00"),
    }
    assert_ledger_ok()


def test_verify_ledger_finds_tampered_usage_rollups(organization, member):
    from credits.models import MemberUsageMonth, PoolUsageDay

    fund_pool(organization, "10.00")
    set_access(member, organization, "unlimited")
    consume(member, "2.00")
    assert selectors.ledger_verify() == []
    PoolUsageDay.objects.update(consumed=D("3.00"))
    MemberUsageMonth.objects.all().delete()
    problems = selectors.ledger_verify()
    assert any("usage per day" in p for p in problems)
    assert any("usage per month" in p and "stored 0.00" in p for p in problems)


def test_usage_rollups_rebuild_writes_what_the_ledger_adds_up_to(organization, member):
    from credits.models import PoolUsageDay

    fund_pool(organization, "10.00")
    set_access(member, organization, "unlimited")
    consume(member, "2.00")
    before = list(PoolUsageDay.objects.values_list("organization_id", "day", "consumed"))
    PoolUsageDay.objects.all().delete()
    services.usage_rollups_rebuild()
    assert list(PoolUsageDay.objects.values_list("organization_id", "day", "consumed")) == before
    assert selectors.ledger_verify() == []
