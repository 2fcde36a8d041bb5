"""Holds for running render jobs (R35-R38): open, raise, capture, release, each one call of
a database function in credits/sql/consume.sql, its answer turned into the hold's body."""

from dataclasses import dataclass
from datetime import timedelta

from django.db import connection, transaction
from django.utils import timezone

from credits.models import Hold, QuotaPeriod
from credits.selectors import account_spendable, current_period_start
from credits.services.consumption import (
    _CONSUME_COLUMNS,
    consume_statement,
    refusal,
)
from credits.services.ledger import _amount, _validate_reference
from organizations.models import normalize_email
from portal import errors
from portal.amounts import format_amount
from portal.audit import current_channel

DEFAULT_EXPIRES_IN = 86_400
MAX_EXPIRES_IN = 604_800


HoldNotOpen = errors.HoldNotOpen
CaptureExceedsHold = errors.CaptureExceedsHold


@dataclass
class HoldResult:
    body: dict
    created: bool = False


def hold_body(*, reference, email, organization_id, amount, status, captured, expires_at, after):
    return {
        "reference": reference,
        "account": email,
        "source": "organization" if organization_id else "personal",
        "amount": format_amount(amount),
        "status": status,
        "captured": format_amount(captured),
        "expires_at": expires_at,
        "available_after": format_amount(after),
    }


def _hold_now(reference: str) -> dict:
    """A hold as it is now, with what its account can spend now (for replays and reads)."""
    hold = Hold.objects.select_related("account").filter(reference=reference).first()
    if hold is None:
        raise errors.NotFound("No hold with this reference.")
    status = hold.status
    if status == "open" and hold.expires_at <= timezone.now():
        status = "expired"  # R37: from its expiry on it is no longer open, released or not.
    return hold_body(
        reference=hold.reference,
        email=hold.account.email,
        organization_id=hold.organization_id,
        amount=hold.amount,
        status=status,
        captured=hold.captured,
        expires_at=hold.expires_at,
        after=account_spendable(hold.account)["available"],
    )


def _expires_in(value) -> int:
    if value is None:
        return DEFAULT_EXPIRES_IN
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_EXPIRES_IN:
        raise errors.InvalidRequest(
            f"expires_in is a whole number of seconds from 1 to {MAX_EXPIRES_IN}.",
            fields={"expires_in": f"integer 1–{MAX_EXPIRES_IN}"},
        )
    return value


def hold_open(*, email, amount, reference, expires_in=None, actor=None, token=None) -> HoldResult:
    """R35: hold `amount` for the account's job `reference`, routed and checked like a
    consumption; a repeat with the same account and amount answers the hold as it is now."""
    amount = _amount(amount)
    _validate_reference(reference)
    seconds = _expires_in(expires_in)
    email = normalize_email(email)
    if not email or "\x00" in email:
        raise errors.NotFound("No account with this email.")
    expires_at = timezone.now() + timedelta(seconds=seconds)
    row = consume_statement(
        email=email,
        amount=amount,
        reference=reference,
        actor=actor,
        token=token,
        hold_expires_at=expires_at,
    )
    if row is None:  # the same reference was opened at the same moment, first
        return _hold_replay(reference=reference, email=email, amount=amount)
    result = dict(zip(_CONSUME_COLUMNS, row, strict=True))
    outcome = result["outcome"]
    if outcome == "hold_replay":
        # The statement answers the hold's account and opening amount in the entry columns.
        if result["entry_account"] != result["account_id"] or result["entry_amount"] != amount:
            raise errors.ReferenceConflict(
                "This reference was used for a hold of another account or amount.",
                field="reference",
            )
        return HoldResult(body=_hold_now(reference))
    if outcome == "replay":
        raise errors.ReferenceConflict(
            "This reference was used for a consumption.", field="reference"
        )
    if outcome != "created":
        raise refusal(result, token)
    # R30: a hold counts in the quota usage, so crossing 80% or 100% with it alerts; the
    # statement saved the alerts' job (R45).
    body = hold_body(
        reference=reference,
        email=email,
        organization_id=result["entry_organization"],
        amount=amount,
        status="open",
        captured=None,
        expires_at=expires_at,
        after=result["available_after"],
    )
    return HoldResult(body=body, created=True)


def _hold_replay(*, reference, email, amount) -> HoldResult:
    hold = Hold.objects.select_related("account").filter(reference=reference).first()
    if hold is None or hold.account.email != email or hold.opening_amount != amount:
        raise errors.ReferenceConflict(field="reference")
    return HoldResult(body=_hold_now(reference))


_CHANGE_SQL = "SELECT * FROM credits_hold_change(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"


def _change(*, action, reference, amount=None, actor=None, token=None, reason="") -> dict:
    _validate_reference(reference)
    now = timezone.now()
    args = [
        action,
        reference,
        amount,
        now,
        current_period_start(QuotaPeriod.MONTHLY, now),
        current_channel(),
        actor.pk if getattr(actor, "pk", None) else None,
        token.digest if token is not None else None,
        token.scope if token is not None else None,
        reason,
    ]
    if connection.in_atomic_block:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(_CHANGE_SQL, args)
            row = cursor.fetchone()
    else:
        with connection.cursor() as cursor:
            cursor.execute(_CHANGE_SQL, args)
            row = cursor.fetchone()
    (outcome, _id, email, organization_id, held, status, captured, expires_at, after) = row[:9]
    figure, limit, period = row[9:]
    if outcome in ("raised", "unchanged", "captured", "released", "replay"):
        return hold_body(
            reference=reference,
            email=email,
            organization_id=organization_id,
            amount=held,
            status=status,
            captured=captured,
            expires_at=expires_at,
            after=after,
        )
    if outcome == "not_found":
        raise errors.NotFound("No hold with this reference.")
    if outcome == "hold_not_open":
        raise HoldNotOpen()
    if outcome == "capture_exceeds_hold":
        raise CaptureExceedsHold(
            f"The hold is {format_amount(held)}; a capture cannot be more.", field="amount"
        )
    if outcome == "lower":
        raise errors.InvalidRequest(
            f"The hold is {format_amount(held)}; a raise gives a new total at least that.",
            fields={"amount": "lower than the amount held"},
            field="amount",
        )
    raise refusal(
        {"outcome": outcome, "figure": figure, "quota_limit": limit, "quota_period": period},
        token,
    )


def hold_raise(*, reference, amount, actor=None, token=None) -> dict:
    """R36: the hold's new total; the extra comes from the hold's own source under R22."""
    return _change(
        action="raise", reference=reference, amount=_amount(amount), actor=actor, token=token
    )


def hold_capture(*, reference, amount=None, actor=None, token=None) -> dict:
    """R37: consume `amount` (all of it by default) under the hold's reference, give back
    the rest."""
    amount = None if amount in (None, "") else _amount(amount)
    return _change(action="capture", reference=reference, amount=amount, actor=actor, token=token)


def hold_release(*, reference, actor=None, token=None, reason: str = "") -> dict:
    """R37: give everything back."""
    return _change(
        action="release", reference=reference, actor=actor, token=token, reason=reason[:255]
    )


def hold_get(*, reference) -> dict:
    _validate_reference(reference)
    return _hold_now(reference)


def holds_expire(*, now=None) -> int:
    """R37: release every open hold whose expiry has come (`expire_credits`), wallet by
    wallet, each under its wallet's lock."""
    now = now or timezone.now()
    wallets = list(
        Hold.objects.filter(status="open", expires_at__lte=now)
        .values_list("wallet_id", flat=True)
        .distinct()
    )
    released = 0
    for wallet_id in wallets:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT id FROM credits_wallet WHERE id = %s FOR UPDATE", [wallet_id])
            cursor.execute(
                "SELECT credits_holds_expire(%s, %s, %s)",
                [wallet_id, now, current_period_start(QuotaPeriod.MONTHLY, now)],
            )
            released += cursor.fetchone()[0]
    return released


__all__ = [
    "CaptureExceedsHold",
    "DEFAULT_EXPIRES_IN",
    "HoldNotOpen",
    "HoldResult",
    "MAX_EXPIRES_IN",
    "hold_capture",
    "hold_get",
    "hold_open",
    "hold_raise",
    "hold_release",
    "holds_expire",
]
