"""Expiry (R28): an expiry entry for every lot that expired with credits left."""

from django.db import transaction
from django.utils import timezone

from credits.models import (
    EntryKind,
    LedgerEntry,
    Lot,
    LotMovement,
    Wallet,
)
from portal.amounts import ZERO, format_amount
from portal.audit import audit_record


def credits_expire(*, actor=None, now=None) -> int:
    """Write an expiry entry for each lot that has expired with credits left (R28).

    Idempotent: a written-off lot has `expired_entry` and no remaining amount. Each wallet is
    handled in its own short transaction under its lock, so the command can run from cron
    beside live consumptions.
    """
    now = now or timezone.now()
    wallet_ids = (
        Lot.objects.filter(expires_at__lte=now, remaining__gt=0, expired_entry__isnull=True)
        .values_list("wallet_id", flat=True)
        .distinct()
        .order_by("wallet_id")
    )
    count = 0
    for wallet_id in list(wallet_ids):
        with transaction.atomic():
            wallet = Wallet.objects.select_for_update(of=("self",)).select_related(
                "organization", "account"
            )
            wallet = wallet.get(pk=wallet_id)
            lots = list(
                Lot.objects.select_for_update()
                .filter(
                    wallet_id=wallet_id,
                    expires_at__lte=now,
                    remaining__gt=0,
                    expired_entry__isnull=True,
                )
                .order_by("id")
            )
            total = ZERO
            for lot in lots:
                entry = LedgerEntry.objects.create(
                    wallet=wallet,
                    kind=EntryKind.EXPIRY,
                    amount=-lot.remaining,
                    account=wallet.account,
                    organization=wallet.organization,
                    note=f"Lot #{lot.pk} expired",
                    created_at=now,
                )
                total += lot.remaining
                LotMovement.objects.create(entry=entry, lot=lot, amount=-lot.remaining)
                Lot.objects.filter(pk=lot.pk).update(remaining=ZERO, expired_entry=entry)
                count += 1
            Wallet.objects.filter(pk=wallet.pk).update(balance=wallet.balance - total)
            audit_record(
                actor=actor,
                action="credits.expired",
                organization=wallet.organization,
                target=str(wallet),
                details={"lots": [lot.pk for lot in lots], "amount": format_amount(total)},
            )
    return count
