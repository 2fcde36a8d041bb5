"""R24, R25, R21 under real concurrency: threads against PostgreSQL, started together."""

from decimal import Decimal

import pytest

from credits import selectors, services
from credits.models import CreditAccess, CreditRequest, LedgerEntry
from organizations.models import Role
from organizations.services import membership_create
from portal import errors
from tests.concurrency import run_together
from tests.credits.factories import access_of, fund_pool, set_access
from tests.factories import add_member, make_org_admin

pytestmark = pytest.mark.django_db(transaction=True)
D = Decimal


@pytest.fixture(params=["by_account", "by_email"])
def consumer(request):
    """Both doors into the one consumption function (credits/sql/consume.sql): the service
    for an account, and the API's door, which looks the account up by email in the same
    statement."""

    def make(account, amount, reference):
        if request.param == "by_account":
            return lambda: services.credits_consume(
                account=account, amount=D(amount), reference=reference
            )
        return lambda: services.credits_consume_for_email(
            email=account.email, amount=D(amount), reference=reference
        )

    return make


def successes(results):
    return [r for r in results if isinstance(r, services.ConsumptionResult)]


def unexpected(results, *allowed):
    return [r for r in results if isinstance(r, Exception) and not isinstance(r, allowed)]


def test_simultaneous_consumptions_never_overdraw_the_pool(consumer):
    organization = make_org_admin().administered_organization
    members = [add_member(organization).account for _ in range(4)]
    fund_pool(organization, "6.00")
    fund_pool(organization, "4.00", days=30)
    for account in members:
        set_access(account, organization, "unlimited")
    calls = [consumer(members[i % 4], "1.00", f"pool-{i}") for i in range(24)]
    results = run_together(calls)
    assert unexpected(results, errors.InsufficientCredits) == []
    assert len(successes(results)) == 10
    assert selectors.pool_available(organization=organization) == D("0.00")
    assert selectors.ledger_verify() == []


def test_simultaneous_consumptions_never_overdraw_a_quota(consumer):
    organization = make_org_admin().administered_organization
    account = add_member(organization).account
    fund_pool(organization, "100.00")
    set_access(account, organization, "quota", "5.00", "monthly")
    results = run_together([consumer(account, "1.00", f"quota-{i}") for i in range(20)])
    assert unexpected(results, errors.QuotaExceeded) == []
    assert len(successes(results)) == 5
    assert access_of(account).used == D("5.00")
    assert selectors.pool_available(organization=organization) == D("95.00")
    assert selectors.ledger_verify() == []


def test_pool_and_quotas_together_hold_exactly(consumer):
    """Two members with quotas of 6 share a pool of 10: exactly 10 succeed, each ≤ 6."""
    organization = make_org_admin().administered_organization
    alice, bob = add_member(organization).account, add_member(organization).account
    fund_pool(organization, "10.00")
    set_access(alice, organization, "quota", "6.00")
    set_access(bob, organization, "quota", "6.00")
    calls = [consumer(alice, "1.00", f"a-{i}") for i in range(12)]
    calls += [consumer(bob, "1.00", f"b-{i}") for i in range(12)]
    results = run_together(calls)
    assert unexpected(results, errors.QuotaExceeded, errors.InsufficientCredits) == []
    assert len(successes(results)) == 10
    used = {a.email: access_of(a).used for a in (alice, bob)}
    assert sum(used.values()) == D("10.00") and max(used.values()) <= D("6.00")
    assert selectors.ledger_verify() == []


def test_duplicate_references_at_the_same_moment_are_charged_once(consumer):
    organization = make_org_admin().administered_organization
    account = add_member(organization).account
    fund_pool(organization, "50.00")
    set_access(account, organization, "unlimited")
    results = run_together([consumer(account, "3.00", "same-job") for _ in range(16)])
    assert unexpected(results) == []
    created = [r for r in successes(results) if r.created]
    assert len(created) == 1
    assert {tuple(sorted(r.body.items())) for r in successes(results)} == {
        tuple(sorted(created[0].body.items()))
    }
    assert LedgerEntry.objects.filter(reference="same-job").count() == 1
    assert selectors.pool_available(organization=organization) == D("47.00")


def test_duplicate_reference_across_accounts_charges_one_and_conflicts_the_rest(consumer):
    organization = make_org_admin().administered_organization
    accounts = [add_member(organization).account for _ in range(4)]
    fund_pool(organization, "50.00")
    for account in accounts:
        set_access(account, organization, "unlimited")
    results = run_together([consumer(a, "2.00", "shared-ref") for a in accounts * 3])
    assert unexpected(results, errors.ReferenceConflict) == []
    assert len([r for r in successes(results) if r.created]) == 1
    assert selectors.pool_available(organization=organization) == D("48.00")


def test_a_consumption_is_refunded_once_under_concurrency():
    organization = make_org_admin().administered_organization
    account = add_member(organization).account
    fund_pool(organization, "10.00")
    set_access(account, organization, "quota", "10.00")
    services.credits_consume(account=account, amount=D("4.00"), reference="to-refund")
    results = run_together(
        [lambda: services.credits_refund(reference="to-refund") for _ in range(10)]
    )
    assert unexpected(results, errors.AlreadyRefunded) == []
    assert len([r for r in results if isinstance(r, dict)]) == 1
    assert selectors.pool_available(organization=organization) == D("10.00")
    assert access_of(account).used == D("0.00")
    assert selectors.ledger_verify() == []


def test_access_is_enabled_in_one_organization_only_under_concurrency():
    """R21: two administrators enable the same account at once; one wins."""
    first = make_org_admin().administered_organization
    second = make_org_admin().administered_organization
    account = second.administrator
    membership_create(organization=first, account=account, role=Role.MEMBER)
    accesses = list(CreditAccess.objects.filter(account=account))
    assert len(accesses) == 2
    results = run_together(
        [
            lambda a=a: services.access_set(actor=None, access=a, mode="unlimited")
            for a in accesses * 4
        ]
    )
    assert unexpected(results, errors.CreditAccessEnabledElsewhere) == []
    assert CreditAccess.objects.filter(account=account).exclude(mode="disabled").count() == 1


def test_enabling_access_and_buying_personal_credits_at_once_leave_one_source():
    organization = make_org_admin().administered_organization
    account = add_member(organization).account
    access = access_of(account)
    calls = [lambda: services.access_set(actor=None, access=access, mode="unlimited")] * 4
    calls += [lambda: services.personal_credits_purchase(actor=account, amount="5")] * 4
    results = run_together(calls)
    assert unexpected(results, errors.PersonalCreditsActive, errors.OrgCreditAccessEnabled) == []
    enabled = access_of(account).mode != "disabled"
    has_personal = selectors.personal_available(account=account) > 0
    assert enabled != has_personal


def test_simultaneous_consumptions_never_overdraw_personal_credits(consumer):
    from tests.credits.factories import fund_personal
    from tests.factories import AccountFactory

    account = AccountFactory()
    fund_personal(account, "3.00", days=5)
    fund_personal(account, "2.00", days=50)
    results = run_together([consumer(account, "1.00", f"personal-{i}") for i in range(12)])
    # Once the personal credits are gone the account has no source at all (R23).
    assert unexpected(results, errors.InsufficientCredits, errors.NoCreditSource) == []
    assert len(successes(results)) == 5
    assert selectors.personal_available(account=account) == D("0.00")
    assert selectors.ledger_verify() == []


def test_changing_access_while_the_member_is_removed_never_deadlocks(monkeypatch):
    """Removal locks the membership, then (after the seats) the access; an access change
    locks the membership before the access too (a trigger copies the mode onto the
    membership), so one waits for the other instead of deadlocking; the change then finds
    the member gone (`not_a_member`)."""
    import time

    from licensing import services as licensing_services
    from organizations import services as org_services

    admin = make_org_admin()
    organization = admin.administered_organization
    membership = add_member(organization)
    access = CreditAccess.objects.get(membership=membership)
    revoke = licensing_services.member_seats_revoke

    def slow_revoke(**kwargs):  # the removal holds the membership row meanwhile
        time.sleep(1.0)
        return revoke(**kwargs)

    monkeypatch.setattr(licensing_services.seats, "member_seats_revoke", slow_revoke)

    def change_access_a_little_later():
        time.sleep(0.3)
        return services.access_set(actor=admin, access=access, mode="unlimited")

    removed, changed = run_together(
        [
            lambda: org_services.member_remove(actor=admin, membership=membership),
            change_access_a_little_later,
        ]
    )
    assert not isinstance(removed, Exception), removed
    assert isinstance(changed, errors.NotAMember), changed
    assert not CreditAccess.objects.filter(pk=access.pk).exists()


def test_one_open_credit_request_per_member_under_concurrency():
    """R29: two requests sent at the same moment leave one open request."""
    admin = make_org_admin()
    member = add_member(admin.administered_organization).account
    outcomes = run_together(
        [lambda: services.credit_request_create(account=member, amount="10")] * 4
    )
    refused = [o for o in outcomes if isinstance(o, errors.Conflict)]
    assert len(refused) == 3 and CreditRequest.objects.filter(state="open").count() == 1
