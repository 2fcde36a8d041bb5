"""Holds (R35-R38) under real concurrency: threads against PostgreSQL, started together."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from credits import selectors, services
from credits.models import Hold, LedgerEntry
from portal import errors
from tests.concurrency import run_together
from tests.credits.factories import fund_pool, set_access
from tests.factories import add_member, make_org_admin

pytestmark = pytest.mark.django_db(transaction=True)
D = Decimal


def _pool(amount="100.00", members=4, mode="unlimited", limit=None):
    organization = make_org_admin().administered_organization
    fund_pool(organization, amount)
    accounts = [add_member(organization).account for _ in range(members)]
    for account in accounts:
        set_access(account, organization, mode, limit)
    return organization, accounts


def unexpected(results, *allowed):
    return [r for r in results if isinstance(r, Exception) and not isinstance(r, allowed)]


def test_forty_simultaneous_holds_of_three_on_a_hundred_open_exactly_thirty_three():
    organization, accounts = _pool()
    calls = [
        (
            lambda i=i: services.hold_open(
                email=accounts[i % 4].email, amount="3.00", reference=f"h-{i}"
            )
        )
        for i in range(40)
    ]
    results = run_together(calls)
    assert unexpected(results, errors.InsufficientCredits) == []
    opened = [r for r in results if isinstance(r, services.HoldResult)]
    assert len(opened) == 33 and Hold.objects.filter(status="open").count() == 33
    assert selectors.pool_available(organization=organization) == D("1.00")
    # Consumptions beside them find exactly what is left.
    calls = [
        (
            lambda i=i: services.credits_consume(
                account=accounts[i % 4], amount="0.25", reference=f"c-{i}"
            )
        )
        for i in range(8)
    ]
    results = run_together(calls)
    assert unexpected(results, errors.InsufficientCredits) == []
    assert len([r for r in results if isinstance(r, services.ConsumptionResult)]) == 4
    assert selectors.pool_available(organization=organization) == 0
    assert selectors.ledger_verify() == []


def test_concurrent_captures_and_releases_of_one_hold_settle_it_once():
    organization, accounts = _pool(members=1)
    services.hold_open(email=accounts[0].email, amount="30", reference="job")
    calls = [lambda: services.hold_capture(reference="job", amount="10")] * 4
    calls += [lambda: services.hold_release(reference="job")] * 4
    results = run_together(calls)
    assert unexpected(results, errors.HoldNotOpen) == []
    settled = [r for r in results if isinstance(r, dict)]
    assert len({r["status"] for r in settled}) == 1, settled  # all captured, or all released
    hold = Hold.objects.get(reference="job")
    consumed = LedgerEntry.objects.filter(reference="job").count()
    assert consumed == (1 if hold.status == "captured" else 0)
    expected = D("90.00") if hold.status == "captured" else D("100.00")
    assert selectors.pool_available(organization=organization) == expected
    assert selectors.ledger_verify() == []


def test_holds_raises_and_consumptions_under_one_quota_never_exceed_it():
    organization, accounts = _pool(members=1, mode="quota", limit="20.00")
    account = accounts[0]
    services.hold_open(email=account.email, amount="2", reference="base")
    calls = [
        (lambda i=i: services.hold_open(email=account.email, amount="2", reference=f"q-{i}"))
        for i in range(6)
    ]
    calls += [
        (lambda i=i: services.credits_consume(account=account, amount="2", reference=f"k-{i}"))
        for i in range(6)
    ]
    calls += [lambda: services.hold_raise(reference="base", amount="6")] * 2
    results = run_together(calls)
    assert unexpected(results, errors.QuotaExceeded) == []
    held = sum(Hold.objects.filter(status="open").values_list("amount", flat=True), D(0))
    consumed = -sum(
        LedgerEntry.objects.filter(kind="consumption").values_list("amount", flat=True), D(0)
    )
    assert held + consumed <= D("20.00")
    assert (
        selectors.usage_from_ledger(account_id=account.pk, organization_id=organization.pk)
        == held + consumed
    )
    assert selectors.ledger_verify() == []


def test_a_capture_racing_the_expiry_either_captures_or_is_refused_never_both():
    for attempt in range(5):
        organization, accounts = _pool(members=1)
        reference = f"race-{attempt}"
        services.hold_open(email=accounts[0].email, amount="10", reference=reference)
        Hold.objects.filter(reference=reference).update(
            expires_at=timezone.now() + timedelta(milliseconds=30)
        )
        results = run_together(
            [
                lambda reference=reference: services.hold_capture(reference=reference, amount="4"),
                lambda: services.holds_expire(now=timezone.now() + timedelta(milliseconds=30)),
            ]
        )
        capture = results[0]
        hold = Hold.objects.get(reference=reference)
        if isinstance(capture, dict):
            assert hold.status == "captured" and capture["captured"] == "4.00"
            assert selectors.pool_available(organization=organization) == D("96.00")
        else:
            assert isinstance(capture, errors.HoldNotOpen), capture
            assert hold.status == "expired"
            assert selectors.pool_available(organization=organization) == D("100.00")
        assert not isinstance(results[1], Exception), results[1]
        assert selectors.ledger_verify() == []
