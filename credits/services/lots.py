"""Credits in: purchases, grants and trial credits, each a lot with its ledger entry (R15,
R16, R18, R19, R21)."""

from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from billing.models import OrderLine
from billing.pricing import credit_price
from billing.services import LineSpec, order_for_checkout, order_place
from credits.models import (
    EntryKind,
    LedgerEntry,
    Lot,
    LotOrigin,
    Wallet,
)
from credits.selectors import (
    exact_cents,
    unexpired_lots_q,
)
from credits.services.ledger import _amount, _enabled_access, _lock_wallet, _wallet_for
from portal import errors
from portal.amounts import format_amount
from portal.audit import audit_record
from portal.emails import email_send

TRIAL_CREDIT_DAYS = 30


class TrialCreditsUsed(errors.Conflict):
    """R16: trial credits are given once per account."""

    code = "trial_credits_used"
    default_message = "This account has already received its trial credits."


def _lot_add(
    *,
    actor,
    organization=None,
    account=None,
    amount: Decimal,
    origin: str,
    kind: str,
    days: int | None,
    note: str = "",
    order=None,
    now=None,
) -> Lot:
    """Add a lot to a pool or to personal credits (R18). Caller holds a transaction.

    A personal lot is refused while the account's organizational access is enabled (R21),
    checked under the personal wallet's lock, which enabling access takes too.
    """
    now = now or timezone.now()
    wallet = _lock_wallet(_wallet_for(organization=organization, account=account).pk)
    if account is not None:
        enabled = _enabled_access(account)
        if enabled is not None:
            raise errors.OrgCreditAccessEnabled(
                "This account draws credits from the pool of "
                f"{enabled.organization.name}; it cannot hold personal credits while that "
                "access is enabled.",
                field="amount",
            )
        if origin == LotOrigin.TRIAL and wallet.lots.filter(origin=LotOrigin.TRIAL).exists():
            raise TrialCreditsUsed()
    if days is not None and (days < 1 or days > 36500):
        raise errors.InvalidRequest(
            "Days must be between 1 and 36500.", fields={"days": "1–36500"}, field="days"
        )
    entry = LedgerEntry.objects.create(
        wallet=wallet,
        kind=kind,
        amount=amount,
        account=account,
        organization=organization,
        actor=actor if getattr(actor, "pk", None) else None,
        note=note[:255],
        order=order,
        created_at=now,
    )
    lot = Lot.objects.create(
        wallet=wallet,
        origin=origin,
        amount=amount,
        remaining=amount,
        arrived_at=now,
        expires_at=now + timedelta(days=days) if days else None,
        entry=entry,
    )
    new_balance = wallet.balance + amount
    update = {"balance": new_balance}
    if organization is not None and wallet.low_balance_alerted:
        threshold = organization.low_balance_threshold
        # R30: topping the pool up above the threshold arms the alert again.
        if threshold is None or _pool_available_locked(wallet.pk, now) >= threshold:
            update["low_balance_alerted"] = False
    Wallet.objects.filter(pk=wallet.pk).update(**update)
    audit_record(
        actor=actor,
        action=f"credits.{kind}",
        organization=organization,
        target=organization.name if organization is not None else account.email,
        details={
            "amount": format_amount(amount),
            "lot": lot.pk,
            "expires_at": lot.expires_at.isoformat() if lot.expires_at else None,
            **({"note": note[:255]} if note else {}),
        },
    )
    return lot


def _pool_available_locked(wallet_id, now) -> Decimal:
    total = (
        Lot.objects.filter(wallet_id=wallet_id, remaining__gt=0)
        .filter(unexpired_lots_q(now))
        .aggregate(total=Sum("remaining"))["total"]
    )
    return exact_cents(total)


def credits_line(*, amount: Decimal) -> LineSpec:
    """The order line for credits at the portal's price per credit (R39)."""
    return LineSpec(
        item=OrderLine.Item.CREDITS,
        description="Cloud credits",
        term_days=settings.CREDIT_LOT_DAYS,
        credits=amount,
        unit_price=credit_price(),
    )


def _credits_purchase(*, actor, organization, account, amount, checkout_token) -> Lot:
    """One paid order and the lot it brings (R15, R19, R40), inside one transaction.

    The wallet lock serializes purchases into that wallet, so a second submission of the
    same checkout page finds the order the first placed and gets its lot back (R39)."""
    amount = _amount(amount)
    with transaction.atomic():
        _lock_wallet(_wallet_for(organization=organization, account=account).pk)
        existing = order_for_checkout(checkout_token=checkout_token)
        if existing is not None:
            return Lot.objects.select_related("entry__order").get(entry__order=existing)
        order, _ = order_place(
            buyer=actor,
            organization=organization,
            lines=[credits_line(amount=amount)],
            checkout_token=checkout_token,
            limit_field="amount",
        )
        return _lot_add(
            actor=actor,
            organization=organization,
            account=account,
            amount=amount,
            origin=LotOrigin.PURCHASE,
            kind=EntryKind.PURCHASE,
            days=settings.CREDIT_LOT_DAYS,
            order=order,
        )


def pool_credits_purchase(*, actor, organization, amount, checkout_token: str | None = None) -> Lot:
    """R19: the administrator buys credits for the pool; a paid order is recorded (simulated
    checkout, R15) and a lot arrives that expires after settings.CREDIT_LOT_DAYS (R18). A
    repeated `checkout_token` returns the lot its order brought."""
    return _credits_purchase(
        actor=actor,
        organization=organization,
        account=None,
        amount=amount,
        checkout_token=checkout_token,
    )


def personal_credits_purchase(*, actor, amount, checkout_token: str | None = None) -> Lot:
    """A user buys personal credits, unless their organizational access is enabled (R21)."""
    return _credits_purchase(
        actor=actor,
        organization=None,
        account=actor,
        amount=amount,
        checkout_token=checkout_token,
    )


def credits_grant(
    *, actor, amount, organization=None, account=None, days: int | None = None, note: str = ""
) -> Lot:
    """Staff grant credits to a pool or to an account (R32, R21 applies to accounts)."""
    if (organization is None) == (account is None):
        raise errors.InvalidRequest("Grant to an organization or to an account, not both.")
    amount = _amount(amount)
    with transaction.atomic():
        lot = _lot_add(
            actor=actor,
            organization=organization,
            account=account,
            amount=amount,
            origin=LotOrigin.GRANT,
            kind=EntryKind.GRANT,
            days=days if days is not None else settings.CREDIT_LOT_DAYS,
            note=note,
        )
        # The recipient hears of it: the account, or the pool's administrator.
        email_send(
            to=organization.administrator.email if organization is not None else account.email,
            subject=f"{format_amount(amount)} credits were granted to you"
            if organization is None
            else f"{format_amount(amount)} credits were added to the pool of {organization.name}",
            template="credits_granted",
            context={
                "amount": format_amount(amount),
                "organization": organization,
                "expires_at": lot.expires_at,
                "note": note,
            },
        )
    return lot


def trial_credits_grant(*, actor, account) -> Lot:
    """R16: one grant of settings.TRIAL_CREDITS per account, only without organizational
    credit access; they expire after 30 days like a trial."""
    amount = _amount(str(settings.TRIAL_CREDITS), field="trial_credits")
    with transaction.atomic():
        return _lot_add(
            actor=actor,
            account=account,
            amount=amount,
            origin=LotOrigin.TRIAL,
            kind=EntryKind.TRIAL,
            days=TRIAL_CREDIT_DAYS,
        )
