"""Refunds (R26): once per consumption, back to the lots it came from."""

from django.db import IntegrityError, transaction
from django.utils import timezone

from credits.models import (
    CreditAccess,
    EntryKind,
    LedgerEntry,
    Lot,
    LotMovement,
    Wallet,
)
from credits.selectors import (
    account_spendable,
    current_period_start,
    usage_from_ledger,
)
from credits.services.ledger import (
    _amount,
    _apply_movements,
    _lock_wallet,
    _usage_add,
    _validate_reference,
)
from portal import errors
from portal.amounts import ZERO, format_amount
from portal.audit import audit_record


def credits_refund(*, reference, amount=None, actor=None) -> dict:
    """Refund a consumption once, fully or partly (R26).

    The credits go back to the lots they came from, the last lot drawn first; a lot that
    has been written off as expired meanwhile gets them back and loses them again at once in
    a new expiry entry, so they stay expired. The member's usage is recomputed for the
    current period: a refund counts in the period of its consumption (R22).
    """
    _validate_reference(reference)
    consumption = (
        LedgerEntry.objects.filter(reference=reference, kind=EntryKind.CONSUMPTION)
        .select_related("account", "organization")
        .first()
    )
    if consumption is None:
        raise errors.NotFound("No consumption with this reference.")
    # A second refund is `already_refunded` whatever its amount (checked again under lock).
    if LedgerEntry.objects.filter(refund_of=consumption).exists():
        raise errors.AlreadyRefunded()
    consumed = -consumption.amount
    amount = consumed if amount in (None, "") else _amount(amount)
    if amount > consumed:
        raise errors.RefundExceedsConsumption(
            f"The consumption was {format_amount(consumed)}; a refund cannot exceed it.",
            field="amount",
        )
    account = consumption.account
    organization = consumption.organization
    access = (
        CreditAccess.objects.filter(account=account, organization=organization).first()
        if organization is not None
        else None
    )
    now = timezone.now()
    try:
        with transaction.atomic():
            wallet = _lock_wallet(consumption.wallet_id)
            if access is not None:
                access = CreditAccess.objects.select_for_update().get(pk=access.pk)
            if LedgerEntry.objects.filter(refund_of=consumption).exists():
                raise errors.AlreadyRefunded()
            taken = list(
                LotMovement.objects.filter(entry=consumption)
                .order_by("-id")
                .values_list("lot_id", "amount")
            )
            lots = {
                lot.pk: lot
                for lot in Lot.objects.select_for_update()
                .filter(pk__in=[lot_id for lot_id, _ in taken])
                .order_by("id")
            }
            entry = LedgerEntry.objects.create(
                wallet=wallet,
                kind=EntryKind.REFUND,
                amount=amount,
                account=account,
                organization=organization,
                refund_of=consumption,
                actor=actor if getattr(actor, "pk", None) else None,
                created_at=now,
            )
            changes, left = [], amount
            for lot_id, took in taken:
                if left <= 0:
                    break
                give = min(-took, left)
                changes.append((lots[lot_id], give))
                left -= give
            _apply_movements(entry, changes)
            if organization is not None:
                _usage_add(
                    organization_id=organization.pk,
                    account_id=account.pk,
                    consumed_at=consumption.created_at,
                    amount=-amount,
                )
            written_off = ZERO
            for lot, give in changes:
                if lot.expired_entry_id is not None:
                    expiry = LedgerEntry.objects.create(
                        wallet=wallet,
                        kind=EntryKind.EXPIRY,
                        amount=-give,
                        account=account if organization is None else None,
                        organization=organization,
                        note=f"Refund to expired lot #{lot.pk}",
                        created_at=now,
                    )
                    _apply_movements(expiry, [(lot, -give)])
                    written_off += give
            Wallet.objects.filter(pk=wallet.pk).update(
                balance=wallet.balance + amount - written_off
            )
            if access is not None:
                start = current_period_start(access.period, now)
                CreditAccess.objects.filter(pk=access.pk).update(
                    used=usage_from_ledger(
                        account_id=account.pk, organization_id=organization.pk, start=start
                    ),
                    period_start=start,
                )
            audit_record(
                actor=actor,
                action="credits.refunded",
                organization=organization,
                target=reference,
                details={"account": account.email, "amount": format_amount(amount)},
            )
    except IntegrityError as exc:
        if "refund" in str(exc):
            raise errors.AlreadyRefunded() from exc
        raise
    return {
        "reference": reference,
        "refunded": format_amount(amount),
        "available_after": format_amount(account_spendable(account)["available"]),
    }
