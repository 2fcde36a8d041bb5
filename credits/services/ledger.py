"""The ledger's shared bookkeeping (R17, R18, R27): amounts and references checked, wallets
found and locked, lots spent in order, lot movements and usage rollups written.

Lock order everywhere (DESIGN-NOTES): wallet(s) first, then the member's access row, then lots
ordered by id; a change of access mode locks the membership just before the access (removing a
member locks them in that order too). Every path that touches a lot holds its wallet's lock,
so lots are never contended out of that order.
"""

import re
from datetime import UTC, timedelta
from decimal import Decimal

from django.db import IntegrityError, transaction

from credits.models import (
    AccessMode,
    CreditAccess,
    LedgerEntry,
    Lot,
    LotMovement,
    MemberUsageMonth,
    PoolUsageDay,
    Wallet,
)
from credits.selectors import (
    unexpired_lots_q,
    usage_rollups_from_ledger,
)
from portal import errors
from portal.amounts import ZERO, parse_amount

# Applied with `fullmatch`: `re.match` with `$` would also take a trailing newline.
REFERENCE_PATTERN = r"^[A-Za-z0-9._:-]{1,200}$"
REFERENCE_RE = re.compile(REFERENCE_PATTERN)


def _usage_add(*, organization_id, account_id, consumed_at, amount: Decimal) -> None:
    """Add a pool consumption (or, negative, its refund) to the usage rollups, on the
    consumption's day and month. The caller holds the pool's wallet lock, which serializes
    every writer of these rows; the `credits_consume` function does the same in SQL."""
    day = consumed_at.astimezone(UTC).date()
    rows = (
        (PoolUsageDay, {"day": day}),
        (MemberUsageMonth, {"account_id": account_id, "month": day.replace(day=1)}),
    )
    for model, key in rows:
        key["organization_id"] = organization_id
        row = model.objects.select_for_update().filter(**key).first()
        if row is None:
            model.objects.create(consumed=amount, **key)
        else:
            row.consumed += amount
            row.save(update_fields=["consumed"])


def usage_rollups_rebuild(*, ledger=LedgerEntry, day=PoolUsageDay, month=MemberUsageMonth):
    """Write the usage rollups afresh from the ledger, for generated data written around the
    services (the benchmarks); not while consumptions run."""
    days, months = usage_rollups_from_ledger(ledger)
    day.objects.all().delete()
    month.objects.all().delete()
    day.objects.bulk_create(
        (day(organization_id=o, day=d, consumed=c) for (o, d), c in days.items()),
        batch_size=5000,
    )
    month.objects.bulk_create(
        (
            month(organization_id=o, account_id=a, month=m, consumed=c)
            for (o, a, m), c in months.items()
        ),
        batch_size=5000,
    )


def _validate_reference(reference) -> str:
    if not isinstance(reference, str) or not REFERENCE_RE.fullmatch(reference):
        raise errors.InvalidRequest(
            "A reference is 1–200 characters of A-Z a-z 0-9 . _ : -",
            fields={"reference": f"must match {REFERENCE_PATTERN}"},
            field="reference",
        )
    return reference


def _amount(value, *, field="amount", allow_zero=False) -> Decimal:
    """Services accept Decimals or text; both go through the one parser (R17)."""
    return parse_amount(value, field=field, allow_zero=allow_zero)


def _wallet_for(*, organization=None, account=None) -> Wallet:
    """The owner's wallet row, created on first use; a lost creation race reads the winner."""
    lookup = {"organization": organization} if organization is not None else {"account": account}
    wallet = Wallet.objects.filter(**lookup).first()
    if wallet is not None:
        return wallet
    try:
        with transaction.atomic():
            return Wallet.objects.create(**lookup)
    except IntegrityError:
        return Wallet.objects.get(**lookup)


def _lock_wallet(wallet_id) -> Wallet:
    return Wallet.objects.select_for_update().get(pk=wallet_id)


def _spendable_lots(wallet_id, now) -> list[Lot]:
    """The wallet's spendable lots, locked in id order, returned in burn order (R23)."""
    lots = list(
        Lot.objects.select_for_update()
        .filter(wallet_id=wallet_id, remaining__gt=0)
        .filter(unexpired_lots_q(now))
        .order_by("id")
    )
    far_future = now + timedelta(days=365 * 1000)
    lots.sort(key=lambda lot: (lot.expires_at or far_future, lot.arrived_at, lot.id))
    return lots


def _burn(lots: list[Lot], amount: Decimal) -> list[tuple[Lot, Decimal]]:
    """Take `amount` from `lots` in their order; the caller checked that they hold enough."""
    taken = []
    left = amount
    for lot in lots:
        if left <= 0:
            break
        take = min(lot.remaining, left)
        taken.append((lot, take))
        left -= take
    return taken


def _apply_movements(entry: LedgerEntry, changes: list[tuple[Lot, Decimal]]) -> None:
    """Write one movement per lot and move the lots' remaining amounts by the same figures."""
    LotMovement.objects.bulk_create(
        [LotMovement(entry=entry, lot=lot, amount=change) for lot, change in changes]
    )
    for lot, change in changes:
        # The lot is locked, so its new figure is known exactly.
        lot.remaining += change
        Lot.objects.filter(pk=lot.pk).update(remaining=lot.remaining)


def _personal_active_summary(account, now) -> tuple[Decimal, object] | None:
    """(amount, latest expiry or None) of the account's active personal credits, if any."""
    rows = list(
        Lot.objects.filter(wallet__account=account, remaining__gt=0)
        .filter(unexpired_lots_q(now))
        .values_list("remaining", "expires_at")
    )
    if not rows:
        return None
    total = sum((r for r, _ in rows), ZERO)
    expiries = [e for _, e in rows]
    until = None if any(e is None for e in expiries) else max(expiries)
    return total, until


def _enabled_access(account, *, exclude_pk=None):
    qs = CreditAccess.objects.filter(account=account).exclude(mode=AccessMode.DISABLED)
    if exclude_pk is not None:
        qs = qs.exclude(pk=exclude_pk)
    return qs.select_related("organization").first()
