"""Holds (R35-R38) in the ledger's reference model, driven by Hypothesis.

The ledger machine of test_ledger_state_machine grows holds: open, raise, capture (any amount
up to what is held), release and expiry by the clock, interleaved with its purchases, grants,
consumptions, refunds, access changes and expiry. The model keeps what each hold took from
each lot; after every step lots, balances, sources, spendable amounts and quota usage agree
with it, and at the end `verify_ledger` finds nothing.
"""

import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import rule, run_state_machine_as_test

from credits import services
from credits.models import Hold
from portal import errors
from tests.credits.test_ledger_state_machine import (
    ACCOUNTS,
    ZERO,
    LedgerMachine,
    ModelConsumption,
    amounts,
    month_start,
)


@dataclass
class ModelHold:
    account: str
    owner: str  # "org" or the account's key
    amount: Decimal
    opened: datetime
    expires: datetime
    status: str = "open"
    takes: dict = field(default_factory=dict)  # lot pk -> held from it
    captured: Decimal | None = None


class HoldsMachine(LedgerMachine):
    def __init__(self):
        super().__init__()
        self.holds: dict[str, ModelHold] = {}

    # --- the model ---------------------------------------------------------------------

    def lot(self, pk):
        return next(lot for lot in self.lots if lot.pk == pk)

    def expired_open(self, hold):
        return hold.status == "open" and hold.expires <= self.now

    def available(self, owner):
        # R37: from its expiry on, a hold's credits on unexpired lots count as given back.
        given_back = sum(
            (
                held
                for hold in self.holds.values()
                if hold.owner == owner and self.expired_open(hold)
                for pk, held in hold.takes.items()
                if self.lot(pk).expires > self.now and not self.lot(pk).written_off
            ),
            ZERO,
        )
        return super().available(owner) + given_back

    def usage(self, key):
        _mode, _limit, period = self.access[key]
        start = month_start(self.now) if period == "monthly" else None
        held = sum(
            (
                hold.amount
                for hold in self.holds.values()
                if hold.account == key
                and hold.owner == "org"
                and hold.status == "open"
                and not self.expired_open(hold)
                and (start is None or hold.opened >= start)
            ),
            ZERO,
        )
        return super().usage(key) + held

    def settle(self, hold, capture, status):
        """Everything held goes back to its lots; a capture takes its amount from them again
        in burn order; what goes back to a lot written off as expired stays expired."""
        left = capture
        takes = []
        lots = sorted(map(self.lot, hold.takes), key=lambda lot: (lot.expires, lot.arrived, lot.pk))
        for lot in lots:
            held = hold.takes[lot.pk]
            take = min(held, left)
            left -= take
            if take:
                takes.append((lot, take))
            if not lot.written_off:
                lot.remaining += held - take
        hold.status = status
        hold.takes = {}
        return takes

    def release_expired(self, owner):
        for hold in self.holds.values():
            if hold.owner == owner and self.expired_open(hold):
                self.settle(hold, ZERO, "expired")

    def take(self, hold, owner, amount):
        left = amount
        for lot in self.spendable_lots(owner):
            if left <= 0:
                break
            got = min(lot.remaining, left)
            lot.remaining -= got
            left -= got
            hold.takes[lot.pk] = hold.takes.get(lot.pk, ZERO) + got

    def route(self, key):
        """What the statement does before its checks: expired holds of the source it looks at
        are released (R37)."""
        personal_holds = any(h.owner == key and self.expired_open(h) for h in self.holds.values())
        if super().available(key) > 0 or personal_holds:
            self.release_expired(key)
        if super().available(key) <= 0 and self.enabled(key):
            self.release_expired("org")

    def expected_consumption(self, key, amount):
        self.route(key)
        return super().expected_consumption(key, amount)

    # --- rules -------------------------------------------------------------------------

    @rule(
        key=st.sampled_from(ACCOUNTS),
        amount=amounts,
        expires_in=st.sampled_from([60, 7200, 3 * 86400]),
    )
    def open_hold(self, key, amount, expires_in):
        reference = f"{self.run_id}-h{next(self.refs)}"
        account = self.accounts[key]
        expected = self.expected_consumption(key, amount)
        call = lambda: services.hold_open(  # noqa: E731
            email=account.email, amount=amount, reference=reference, expires_in=expires_in
        )
        if isinstance(expected, type):
            with pytest.raises(expected):
                call()
            return
        source, owner = expected
        result = call()
        assert result.created and result.body["source"] == source
        hold = ModelHold(key, owner, amount, self.now, self.now + timedelta(seconds=expires_in))
        self.take(hold, owner, amount)
        self.holds[reference] = hold
        assert Decimal(result.body["available_after"]) == self.source_and_spendable(key)[1]

    def pick(self, data):
        if not self.holds:
            return None, None
        reference = data.draw(st.sampled_from(sorted(self.holds)))
        hold = self.holds[reference]
        # The statement releases the expired holds of the hold's wallet first.
        self.release_expired(hold.owner)
        return reference, hold

    @rule(data=st.data(), extra=amounts)
    def raise_hold(self, data, extra):
        reference, hold = self.pick(data)
        if hold is None:
            return
        total = hold.amount + extra
        if hold.status != "open":
            with pytest.raises(errors.HoldNotOpen):
                services.hold_raise(reference=reference, amount=total)
            return
        expected = None
        if hold.owner == "org":
            mode, limit, _period = self.access[hold.account]
            if mode == "disabled":
                expected = errors.NoCreditSource
            elif mode == "quota" and extra > limit - self.usage(hold.account):
                expected = errors.QuotaExceeded
        if expected is None and extra > super().available(hold.owner):
            expected = errors.InsufficientCredits
        if expected is not None:
            with pytest.raises(expected):
                services.hold_raise(reference=reference, amount=total)
            return
        body = services.hold_raise(reference=reference, amount=total)
        self.take(hold, hold.owner, extra)
        hold.amount = total
        assert Decimal(body["amount"]) == total

    @rule(data=st.data(), part=st.integers(min_value=0, max_value=100))
    def capture(self, data, part):
        reference, hold = self.pick(data)
        if hold is None:
            return
        amount = max((hold.amount * part / 100).quantize(Decimal("0.01")), Decimal("0.01"))
        if hold.status != "open":
            # Another amount than the one captured: the same one would be a repeat of that
            # capture, answered as it was (R38), not a refusal.
            other = amount + Decimal("0.01")
            if other == hold.captured:
                other += Decimal("0.01")
            with pytest.raises(errors.HoldNotOpen):
                services.hold_capture(reference=reference, amount=other)
            return
        body = services.hold_capture(reference=reference, amount=amount)
        takes = self.settle(hold, amount, "captured")
        hold.captured = amount
        record = ModelConsumption(
            hold.account, amount, "org" if hold.owner == "org" else "personal", hold.opened
        )
        record.takes = takes
        self.consumptions[reference] = record
        assert (body["status"], Decimal(body["captured"])) == ("captured", amount)
        assert Decimal(body["available_after"]) == self.source_and_spendable(hold.account)[1]

    @rule(data=st.data())
    def release(self, data):
        reference, hold = self.pick(data)
        if hold is None:
            return
        if hold.status != "open":
            if hold.status == "released":
                assert services.hold_release(reference=reference)["status"] == "released"
            else:
                with pytest.raises(errors.HoldNotOpen):
                    services.hold_release(reference=reference)
            return
        body = services.hold_release(reference=reference)
        self.settle(hold, ZERO, "released")
        assert body["status"] == "released"

    @rule()
    def expire_holds(self):
        released = services.holds_expire()
        expected = 0
        for hold in self.holds.values():
            if self.expired_open(hold):
                self.settle(hold, ZERO, "expired")
                expected += 1
        assert released == expected

    @rule(data=st.data())
    def replay(self, data):
        """A consumption repeated: its first answer; on a hold's reference (captured or not),
        a conflict (R38)."""
        if not self.consumptions:
            return
        reference = data.draw(st.sampled_from(sorted(self.consumptions)))
        record = self.consumptions[reference]
        if reference in self.holds:
            with pytest.raises(errors.ReferenceConflict):
                self.spend(self.accounts[record.account], record.amount, reference)
            return
        assert not self.spend(self.accounts[record.account], record.amount, reference).created

    @rule(seconds=st.sampled_from([61, 7201]))
    def seconds_pass(self, seconds):
        self.now += timedelta(seconds=seconds)

    def teardown(self):
        try:
            if hasattr(self, "org"):
                statuses = dict(
                    Hold.objects.filter(account__in=self.accounts.values()).values_list(
                        "reference", "status"
                    )
                )
                assert statuses == {ref: hold.status for ref, hold in self.holds.items()}
        finally:
            super().teardown()


# 100 examples in four runs, so that the test workers share them (HOLD_EXAMPLES: in all; a
# one-off run of 2,000 is recorded in docs/credits.md).
RUNS = 4


@pytest.mark.django_db
@pytest.mark.parametrize("run", range(RUNS))
def test_holds_match_the_reference_model(run):
    run_state_machine_as_test(
        HoldsMachine,
        settings=settings(
            max_examples=max(int(os.environ.get("HOLD_EXAMPLES", "100")) // RUNS, 1),
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
            database=None,
        ),
    )
