"""The ledger against a tiny reference model (R18–R28), driven by Hypothesis.

Purchases, grants, trial credits, access changes, consumptions, replays, refunds, expiry and
the passing of time are applied to the portal and to an in-memory model of lots, access and
usage; after every step the balances, sources, spendable amounts and usage agree, and at the
end `verify_ledger` finds nothing.
"""

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import count
from unittest import mock

import pytest
from django.db import transaction
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from credits import selectors, services
from credits.models import CreditAccess, Lot
from portal import errors
from tests.factories import AccountFactory, add_member, make_org_admin

ZERO = Decimal("0.00")
FAR = datetime(9999, 1, 1, tzinfo=UTC)
amounts = st.integers(min_value=1, max_value=4000).map(lambda c: Decimal(c) / 100)
MEMBERS = ["alice", "bob"]
ACCOUNTS = ["alice", "bob", "fay"]


@dataclass
class ModelLot:
    pk: int
    owner: str  # "org" or an account key
    remaining: Decimal
    arrived: datetime
    expires: datetime
    written_off: bool = False


@dataclass
class ModelConsumption:
    account: str
    amount: Decimal
    source: str
    at: datetime
    takes: list = field(default_factory=list)
    refunded: Decimal | None = None


def month_start(moment):
    return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


class LedgerMachine(RuleBasedStateMachine):
    # Consumptions through the ORM service, or through the API's door (on PostgreSQL the
    # database function of credits migration 0004).
    door = "orm"

    def __init__(self):
        super().__init__()
        self.now = datetime(2027, 1, 20, 12, 0, tzinfo=UTC)
        self.clock = mock.patch("django.utils.timezone.now", side_effect=lambda: self.now)
        self.clock.start()
        # Each example runs in its own savepoint, rolled back at the end, so examples never
        # see each other's lots (expiry is global).
        self.atomic = transaction.atomic()
        self.atomic.__enter__()
        self.lots: list[ModelLot] = []
        self.access = {key: ("disabled", None, "none") for key in MEMBERS}
        self.consumptions: dict[str, ModelConsumption] = {}
        self.trial_given: set[str] = set()
        self.refs = count(1)

    @initialize()
    def setup(self):
        admin = make_org_admin()
        self.org = admin.administered_organization
        self.accounts = {
            "alice": add_member(self.org).account,
            "bob": add_member(self.org).account,
            "fay": AccountFactory(),
        }
        self.run_id = f"m{self.org.pk}"
        # Start with the pool in use so that most examples exercise it.
        for key, mode, limit, period in (
            ("alice", "unlimited", None, "none"),
            ("bob", "quota", Decimal("30.00"), "monthly"),
        ):
            access = CreditAccess.objects.get(account=self.accounts[key], organization=self.org)
            kwargs = {"limit": limit, "period": period} if mode == "quota" else {}
            services.access_set(actor=None, access=access, mode=mode, **kwargs)
            self.access[key] = (mode, limit, period)

    def teardown(self):
        try:
            if hasattr(self, "org"):
                assert selectors.ledger_verify() == []
        finally:
            transaction.set_rollback(True)
            self.atomic.__exit__(None, None, None)
            self.clock.stop()

    # --- the model ---------------------------------------------------------------------

    def spendable_lots(self, owner):
        lots = [
            lot
            for lot in self.lots
            if lot.owner == owner and lot.remaining > 0 and lot.expires > self.now
        ]
        return sorted(lots, key=lambda lot: (lot.expires, lot.arrived, lot.pk))

    def available(self, owner):
        return sum((lot.remaining for lot in self.spendable_lots(owner)), ZERO)

    def usage(self, key):
        _mode, _limit, period = self.access[key]
        start = month_start(self.now) if period == "monthly" else None
        return sum(
            (
                c.amount - (c.refunded or ZERO)
                for c in self.consumptions.values()
                if c.account == key and c.source == "org" and (start is None or c.at >= start)
            ),
            ZERO,
        )

    def source_and_spendable(self, key):
        if self.available(key) > 0:
            return "personal", self.available(key)
        mode, limit, _period = self.access.get(key, ("disabled", None, "none"))
        if mode == "unlimited":
            return "organization", self.available("org")
        if mode == "quota":
            return "organization", max(min(limit - self.usage(key), self.available("org")), ZERO)
        return None, ZERO

    def enabled(self, key):
        return self.access.get(key, ("disabled",))[0] != "disabled"

    def add_lot(self, lot, owner, days):
        self.lots.append(
            ModelLot(lot.pk, owner, lot.amount, self.now, self.now + timedelta(days=days))
        )

    # --- rules -------------------------------------------------------------------------

    @rule(amount=amounts, days=st.sampled_from([1, 20, 400]))
    def grant_pool(self, amount, days):
        lot = services.credits_grant(actor=None, organization=self.org, amount=amount, days=days)
        self.add_lot(lot, "org", days)

    @rule(amount=amounts)
    def purchase_pool(self, amount):
        lot = services.pool_credits_purchase(
            actor=self.org.administrator, organization=self.org, amount=amount
        )
        self.add_lot(lot, "org", 365)

    @rule(key=st.sampled_from(ACCOUNTS), amount=amounts, days=st.sampled_from([1, 20, 400]))
    def grant_personal(self, key, amount, days):
        account = self.accounts[key]
        if self.enabled(key):
            with pytest.raises(errors.OrgCreditAccessEnabled):
                services.credits_grant(actor=None, account=account, amount=amount, days=days)
            return
        lot = services.credits_grant(actor=None, account=account, amount=amount, days=days)
        self.add_lot(lot, key, days)

    @rule(key=st.sampled_from(ACCOUNTS))
    def trial(self, key):
        account = self.accounts[key]
        if self.enabled(key):
            with pytest.raises(errors.OrgCreditAccessEnabled):
                services.trial_credits_grant(actor=account, account=account)
        elif key in self.trial_given:
            with pytest.raises(services.TrialCreditsUsed):
                services.trial_credits_grant(actor=account, account=account)
        else:
            lot = services.trial_credits_grant(actor=account, account=account)
            self.trial_given.add(key)
            self.add_lot(lot, key, services.TRIAL_CREDIT_DAYS)

    @rule(
        key=st.sampled_from(MEMBERS),
        mode=st.sampled_from(["disabled", "unlimited", "quota"]),
        limit=st.integers(min_value=0, max_value=6000).map(lambda c: Decimal(c) / 100),
        period=st.sampled_from(["none", "monthly"]),
    )
    def set_access(self, key, mode, limit, period):
        access = CreditAccess.objects.get(account=self.accounts[key], organization=self.org)
        kwargs = {"limit": limit, "period": period} if mode == "quota" else {}
        if mode != "disabled" and self.available(key) > 0:
            with pytest.raises(errors.PersonalCreditsActive):
                services.access_set(actor=None, access=access, mode=mode, **kwargs)
            return
        services.access_set(actor=None, access=access, mode=mode, **kwargs)
        self.access[key] = (mode, limit if mode == "quota" else None, kwargs.get("period", "none"))

    @rule(key=st.sampled_from(ACCOUNTS), amount=amounts)
    def consume(self, key, amount):
        reference = f"{self.run_id}-{next(self.refs)}"
        account = self.accounts[key]
        expected = self.expected_consumption(key, amount)
        if isinstance(expected, type):
            with pytest.raises(expected):
                self.spend(account, amount, reference)
            return
        source, owner = expected
        result = self.spend(account, amount, reference)
        assert result.created and result.body["source"] == source
        record = ModelConsumption(key, amount, "org" if owner == "org" else "personal", self.now)
        left = amount
        for lot in self.spendable_lots(owner):
            if left <= 0:
                break
            take = min(lot.remaining, left)
            lot.remaining -= take
            left -= take
            record.takes.append((lot, take))
        self.consumptions[reference] = record
        assert Decimal(result.body["available_after"]) == self.source_and_spendable(key)[1]

    def spend(self, account, amount, reference):
        if self.door == "orm":
            return services.credits_consume(account=account, amount=amount, reference=reference)
        return services.credits_consume_for_email(
            email=account.email, amount=amount, reference=reference
        )

    def expected_consumption(self, key, amount):
        personal = self.available(key)
        if personal > 0:
            return ("personal", key) if amount <= personal else errors.InsufficientCredits
        mode, limit, _period = self.access.get(key, ("disabled", None, "none"))
        if mode == "disabled":
            return errors.NoCreditSource
        if mode == "quota" and amount > limit - self.usage(key):
            return errors.QuotaExceeded
        if amount > self.available("org"):
            return errors.InsufficientCredits
        return ("organization", "org")

    @rule(data=st.data())
    def replay(self, data):
        if not self.consumptions:
            return
        reference = data.draw(st.sampled_from(sorted(self.consumptions)))
        record = self.consumptions[reference]
        result = self.spend(self.accounts[record.account], record.amount, reference)
        assert not result.created

    @rule(data=st.data(), full=st.booleans())
    def refund(self, data, full):
        if not self.consumptions:
            return
        reference = data.draw(st.sampled_from(sorted(self.consumptions)))
        record = self.consumptions[reference]
        amount = record.amount if full else data.draw(amounts)
        if record.refunded is not None:
            with pytest.raises(errors.AlreadyRefunded):
                services.credits_refund(reference=reference, amount=amount)
            return
        if amount > record.amount:
            with pytest.raises(errors.RefundExceedsConsumption):
                services.credits_refund(reference=reference, amount=amount)
            return
        services.credits_refund(reference=reference, amount=amount)
        record.refunded = amount
        left = amount
        for lot, took in reversed(record.takes):
            if left <= 0:
                break
            give = min(took, left)
            left -= give
            if not lot.written_off:
                lot.remaining += give

    @rule(hours=st.sampled_from([1, 30, 24 * 12, 24 * 35]))
    def time_passes(self, hours):
        self.now += timedelta(hours=hours)

    @rule()
    def expire(self):
        written = services.credits_expire()
        expected = 0
        for lot in self.lots:
            if lot.expires <= self.now and lot.remaining > 0 and not lot.written_off:
                lot.written_off = True
                lot.remaining = ZERO
                expected += 1
        assert written == expected

    # --- invariants --------------------------------------------------------------------

    @invariant()
    def every_lot_matches_the_model(self):
        if not hasattr(self, "org"):
            return
        real = dict(Lot.objects.values_list("pk", "remaining"))
        assert real == {lot.pk: lot.remaining for lot in self.lots}

    @invariant()
    def balances_match_the_model(self):
        if not hasattr(self, "org"):
            return
        assert selectors.pool_available(organization=self.org) == self.available("org")
        for key, account in self.accounts.items():
            assert selectors.personal_available(account=account) == self.available(key)
            summary = selectors.account_spendable(account)
            source, spendable = self.source_and_spendable(key)
            assert (summary["source"], summary["available"]) == (source, spendable)
        for key in MEMBERS:
            access = CreditAccess.objects.get(account=self.accounts[key], organization=self.org)
            assert selectors.access_used_now(access) == self.usage(key)


class LedgerMachineThroughTheApiDoor(LedgerMachine):
    door = "email"


@pytest.mark.django_db
@pytest.mark.parametrize("machine", [LedgerMachine, LedgerMachineThroughTheApiDoor])
def test_ledger_matches_the_reference_model(machine):
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=int(os.environ.get("LEDGER_EXAMPLES", "30")),
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
            database=None,
        ),
    )
