"""Writes for credits: lots, ledger, access, consumption, refunds, expiry (R16–R30).

Every movement of credits writes ledger entries (R27) and keeps two caches in the same
transaction: `Wallet.balance` (the sum of the wallet's entries, which equals the remaining
amounts of its lots not yet written off) and `CreditAccess.used` (the usage in the access's
current period). Pool consumptions and refunds also keep the usage rollups of the chart
(`PoolUsageDay`, `MemberUsageMonth`). `credits.selectors.ledger_verify` recomputes them all.

Lock order everywhere (DESIGN-NOTES): wallet(s) first, then the member's access row, then lots
ordered by id; a change of access mode locks the membership just before the access (removing a
member locks them in that order too). Every path that touches a lot holds its wallet's lock,
so lots are never contended out of that order.
"""

import re
from dataclasses import dataclass
from datetime import UTC, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Sum
from django.utils import timezone

from billing.models import Order, OrderLine
from billing.services import LineSpec, order_place
from credits.models import (
    AccessMode,
    CreditAccess,
    CreditRequest,
    CreditRequestState,
    EntryKind,
    LedgerEntry,
    Lot,
    LotMovement,
    LotOrigin,
    MemberUsageMonth,
    PoolUsageDay,
    QuotaPeriod,
    Wallet,
)
from credits.selectors import (
    account_spendable,
    alert_level_for,
    current_period_start,
    exact_cents,
    unexpired_lots_q,
    usage_from_ledger,
    usage_rollups_from_ledger,
)
from organizations.models import Account, Membership, normalize_email
from portal import errors
from portal.amounts import ZERO, format_amount, parse_amount
from portal.audit import audit_record, current_channel
from portal.emails import email_send

REFERENCE_RE = re.compile(r"^[A-Za-z0-9._:-]{1,200}$")
TRIAL_CREDIT_DAYS = 30
# Simulated checkout: one credit costs one currency unit (R15: no payment provider is called).
CREDIT_UNIT_PRICE = Decimal("1.00")


class TrialCreditsUsed(errors.Conflict):
    """R16: trial credits are given once per account."""

    code = "trial_credits_used"
    default_message = "This account has already received its trial credits."


# --- Helpers ------------------------------------------------------------------------------


def _usage_add(*, organization_id, account_id, consumed_at, amount: Decimal) -> None:
    """Add a pool consumption (or, negative, its refund) to the usage rollups, on the
    consumption's day and month. The caller holds the pool's wallet lock, which serializes
    every writer of these rows; `credits_consume` on PostgreSQL does the same in SQL."""
    day = consumed_at.astimezone(UTC).date()
    rows = (
        (PoolUsageDay, {"day": day}),
        (MemberUsageMonth, {"account_id": account_id, "month": day.replace(day=1)}),
    )
    for model, key in rows:
        key["organization_id"] = organization_id
        # Added in Python, not as `consumed + amount` in SQL: SQLite would add in floating
        # point and could leave 0.1 + 0.2 - 0.3 a hair below zero.
        row = model.objects.select_for_update().filter(**key).first()
        if row is None:
            model.objects.create(consumed=amount, **key)
        else:
            row.consumed += amount
            row.save(update_fields=["consumed"])


def usage_rollups_rebuild(*, ledger=LedgerEntry, day=PoolUsageDay, month=MemberUsageMonth):
    """Write the usage rollups afresh from the ledger. For a migration (which passes its
    historical models) and for generated data written around the services; not while
    consumptions run."""
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
    if not isinstance(reference, str) or not REFERENCE_RE.match(reference):
        raise errors.InvalidRequest(
            "A reference is 1–200 characters of A-Z a-z 0-9 . _ : -",
            fields={"reference": "must match ^[A-Za-z0-9._:-]{1,200}$"},
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
        # The lot is locked, so its new figure is known exactly; SQL arithmetic would be
        # floating point on SQLite.
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


# --- Lots in: purchases, grants, trial credits --------------------------------------------


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


def _record_order(*, buyer, organization, amount: Decimal, days: int) -> Order:
    total = amount * CREDIT_UNIT_PRICE
    line = LineSpec(
        item=OrderLine.Item.CREDITS,
        description="Cloud credits",
        term_days=days,
        credits=amount,
        unit_price=CREDIT_UNIT_PRICE,
    )
    order, _ = order_place(buyer=buyer, organization=organization, total=total, lines=[line])
    return order


def pool_credits_purchase(*, actor, organization, amount) -> Lot:
    """R19: the administrator buys credits for the pool; a paid order is recorded (simulated
    checkout, R15) and a lot arrives that expires after settings.CREDIT_LOT_DAYS (R18)."""
    amount = _amount(amount)
    days = settings.CREDIT_LOT_DAYS
    with transaction.atomic():
        order = _record_order(buyer=actor, organization=organization, amount=amount, days=days)
        return _lot_add(
            actor=actor,
            organization=organization,
            amount=amount,
            origin=LotOrigin.PURCHASE,
            kind=EntryKind.PURCHASE,
            days=days,
            note=f"Order #{order.pk}",
        )


def personal_credits_purchase(*, actor, amount) -> Lot:
    """A user buys personal credits, unless their organizational access is enabled (R21)."""
    amount = _amount(amount)
    days = settings.CREDIT_LOT_DAYS
    with transaction.atomic():
        lot = _lot_add(
            actor=actor,
            account=actor,
            amount=amount,
            origin=LotOrigin.PURCHASE,
            kind=EntryKind.PURCHASE,
            days=days,
        )
        order = _record_order(buyer=actor, organization=None, amount=amount, days=days)
        LedgerEntry.objects.filter(pk=lot.entry_id).update(note=f"Order #{order.pk}")
    return lot


def credits_grant(
    *, actor, amount, organization=None, account=None, days: int | None = None, note: str = ""
) -> Lot:
    """Staff grant credits to a pool or to an account (R32, R21 applies to accounts)."""
    if (organization is None) == (account is None):
        raise errors.InvalidRequest("Grant to an organization or to an account, not both.")
    amount = _amount(amount)
    with transaction.atomic():
        return _lot_add(
            actor=actor,
            organization=organization,
            account=account,
            amount=amount,
            origin=LotOrigin.GRANT,
            kind=EntryKind.GRANT,
            days=days if days is not None else settings.CREDIT_LOT_DAYS,
            note=note,
        )


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


# --- Access and quotas (R20, R21) ---------------------------------------------------------


def _parse_access(mode, limit, period) -> tuple[str, Decimal | None, str]:
    if mode not in AccessMode.values:
        raise errors.InvalidRequest(
            "Choose disabled, unlimited or quota.",
            fields={"mode": "one of disabled, unlimited, quota"},
            field="mode",
        )
    if period in (None, ""):
        period = QuotaPeriod.NONE
    if period not in QuotaPeriod.values:
        raise errors.InvalidRequest(
            "Choose the period none or monthly.",
            fields={"period": "one of none, monthly"},
            field="period",
        )
    if mode == AccessMode.QUOTA:
        if limit in (None, ""):
            raise errors.InvalidRequest(
                "A quota needs a limit.", fields={"limit": "required with quota"}, field="limit"
            )
        limit = _amount(limit, field="limit", allow_zero=True)
    else:
        if limit not in (None, ""):
            raise errors.InvalidRequest(
                "A limit goes only with a quota.",
                fields={"limit": "only with mode quota"},
                field="limit",
            )
        if period != QuotaPeriod.NONE:
            raise errors.InvalidRequest(
                "A period goes only with a quota.",
                fields={"period": "only with mode quota"},
                field="period",
            )
        limit = None
    return mode, limit, period


def access_set(*, actor, access: CreditAccess, mode, limit=None, period=None) -> CreditAccess:
    """Set a member's organizational credit access (R20), obeying R21.

    Enabling is refused while the account has active personal credits (the message says how
    many and until when) or while its access is enabled in another organization; the partial
    unique index on enabled accesses settles a race between two organizations. The usage is
    recomputed from the ledger for the (possibly new) period, and the alert level is set to
    what the usage already reached so that only later crossings send alerts (R30).
    """
    mode, limit, period = _parse_access(mode, limit, period)
    now = timezone.now()
    try:
        with transaction.atomic():
            if mode != AccessMode.DISABLED:
                # Wallet before access (lock order); buying personal credits takes it too.
                _lock_wallet(_wallet_for(account=access.account).pk)
                active = _personal_active_summary(access.account, now)
                if active is not None:
                    amount, until = active
                    until_text = f"until {until:%Y-%m-%d}" if until else "without expiry"
                    raise errors.PersonalCreditsActive(
                        f"{access.account.email} has {format_amount(amount)} active personal "
                        f"credits ({until_text}); access can be enabled once they are used up "
                        "or expired.",
                        field="mode",
                    )
            # The membership before the access, as removing a member locks them (a trigger
            # copies the mode onto the membership): the other order could deadlock with it.
            if (
                Membership.objects.select_for_update().filter(pk=access.membership_id).first()
                is None
            ):
                raise errors.NotAMember(f"{access.account.email} is no longer a member.")
            locked = (
                CreditAccess.objects.select_for_update(of=("self",))
                .select_related("organization", "account")
                .get(pk=access.pk)
            )
            if mode != AccessMode.DISABLED and _enabled_access(
                locked.account, exclude_pk=locked.pk
            ):
                raise errors.CreditAccessEnabledElsewhere(
                    f"{locked.account.email} already draws credits from another organization.",
                    field="mode",
                )
            before = {
                "mode": locked.mode,
                "limit": format_amount(locked.limit),
                "period": locked.period,
            }
            start = current_period_start(period, now)
            used = usage_from_ledger(
                account_id=locked.account_id, organization_id=locked.organization_id, start=start
            )
            locked.mode, locked.limit, locked.period = mode, limit, period
            locked.period_start = start
            locked.used = used
            locked.alert_level = alert_level_for(used, limit) if mode == AccessMode.QUOTA else 0
            locked.updated_at = now
            locked.save(
                update_fields=[
                    "mode",
                    "limit",
                    "period",
                    "period_start",
                    "used",
                    "alert_level",
                    "updated_at",
                ]
            )
            after = {"mode": mode, "limit": format_amount(limit), "period": period}
            if before != after:
                audit_record(
                    actor=actor,
                    action="credit_access.changed",
                    organization=locked.organization,
                    target=locked.account.email,
                    details={"from": before, "to": after},
                )
    except IntegrityError as exc:
        if "credit_access_enabled_in_one_org" in str(exc) or "account" in str(exc):
            raise errors.CreditAccessEnabledElsewhere(
                f"{access.account.email} already draws credits from another organization.",
                field="mode",
            ) from exc
        raise
    return locked


def member_access_disable(*, actor, membership) -> CreditAccess | None:
    """R9: removing a member disables their organizational credit access."""
    with transaction.atomic():
        access = CreditAccess.objects.select_for_update().filter(membership=membership).first()
        if access is None or access.mode == AccessMode.DISABLED:
            return access
        old = access.mode
        access.mode = AccessMode.DISABLED
        access.limit = None
        access.period = QuotaPeriod.NONE
        access.updated_at = timezone.now()
        access.save(update_fields=["mode", "limit", "period", "updated_at"])
        audit_record(
            actor=actor,
            action="credit_access.changed",
            organization=membership.organization,
            target=membership.account.email,
            details={"from": old, "to": AccessMode.DISABLED, "reason": "removed"},
        )
    return access


def access_disable_on_removal(*, actor, membership) -> dict:
    """`organizations.hooks.member_removing`: R9's credit access, for the removal's summary."""
    access = member_access_disable(actor=actor, membership=membership)
    return {"credit_access": getattr(access, "mode", AccessMode.DISABLED)}


def access_create_for_member(*, membership) -> CreditAccess:
    """`organizations.hooks.member_added`: every member has a credit access, disabled at
    first (R20)."""
    return CreditAccess.objects.create(
        membership=membership,
        account_id=membership.account_id,
        organization_id=membership.organization_id,
    )


# --- Consumption (R22–R25) ----------------------------------------------------------------


@dataclass
class ConsumptionResult:
    body: dict
    created: bool


def _consumption_body(entry: LedgerEntry, email: str) -> dict:
    return {
        "reference": entry.reference,
        "account": email,
        "amount": format_amount(-entry.amount),
        "source": "organization" if entry.organization_id else "personal",
        "available_after": format_amount(entry.available_after),
    }


def _replay(entry: LedgerEntry, account, amount: Decimal) -> ConsumptionResult:
    """R25: the same reference answers the first body; a different payload is a conflict."""
    if entry.kind != EntryKind.CONSUMPTION or entry.account_id != account.pk:
        raise errors.ReferenceConflict(field="reference")
    if -entry.amount != amount:
        raise errors.ReferenceConflict(field="reference")
    return ConsumptionResult(body=_consumption_body(entry, account.email), created=False)


def credits_consume(*, account, amount, reference, actor=None) -> ConsumptionResult:
    """Consume `amount` credits for `account` under the caller's `reference` (R22–R25).

    Routing (R23): personal credits when active, else the pool of the organization where the
    account's access is enabled, under that access, else `no_credit_source`. Everything that
    needs no lock (reference, source lookup) happens first; then one transaction locks the
    wallet, the access and the lots, checks quota and pool, writes the entry and the caches.
    A concurrent duplicate reference loses on the unique index and answers the first body.
    """
    amount = _amount(amount)
    _validate_reference(reference)
    return _consume_in_database(
        email=account.email, amount=amount, reference=reference, actor=actor
    )


def credits_consume_for_email(
    *, email, amount, reference, actor=None, token=None
) -> ConsumptionResult:
    """`credits_consume` for the account with this email (the API's door): on PostgreSQL the
    account is looked up inside the one statement, which saves a round trip per request.

    `token`: the API's bearer token not yet looked up (`portal.api.PendingToken`, PostgreSQL
    only); the statement checks it and its scope before anything else (401, 403)."""
    amount = _amount(amount)
    email = normalize_email(email)
    if not email or "\x00" in email:
        raise errors.NotFound("No account with this email.")
    _validate_reference(reference)
    return _consume_in_database(
        email=email, amount=amount, reference=reference, actor=actor, token=token
    )


# --- Consumption on PostgreSQL: one statement (SPEC "Performance") ------------------------

_CONSUME_SQL = "SELECT * FROM credits_consume(%s, %s, %s, %s, %s, %s, %s, %s, %s)"
_CONSUME_COLUMNS = [
    "outcome",
    "entry_id",
    "entry_kind",
    "entry_account",
    "entry_amount",
    "entry_organization",
    "available_after",
    "figure",
    "quota_limit",
    "quota_period",
    "used_after",
    "alert_before",
    "alert_after",
    "low_balance",
    "organization_id",
    "account_id",
]


def _consume_in_database(*, email, amount, reference, actor, token=None) -> ConsumptionResult:
    """R22-R25 through the `credits_consume` database function (credits migrations 0004,
    0006, 0007, 0010).

    The same rules and lock order as the ORM path, in one statement: outside a transaction it
    runs in autocommit, so the pool's wallet row stays locked only while the statement runs
    and commits, never across a round trip to Python. Inside a caller's transaction it runs
    in a savepoint, so that a lost race on the reference leaves that transaction usable.
    Alerts (R30) are emailed after the statement, from what it reports.
    """
    now = timezone.now()
    args = [
        email,
        amount,
        reference,
        now,
        current_period_start(QuotaPeriod.MONTHLY, now),
        current_channel(),
        actor.pk if getattr(actor, "pk", None) else None,
        token.digest if token is not None else None,
        token.scope if token is not None else None,
    ]
    try:
        if connection.in_atomic_block:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(_CONSUME_SQL, args)
                row = cursor.fetchone()
        else:
            with connection.cursor() as cursor:
                cursor.execute(_CONSUME_SQL, args)
                row = cursor.fetchone()
    except IntegrityError as exc:
        if "reference" not in str(exc):
            raise
        # R25: the same reference arrived at the same moment and was recorded first.
        account = Account.objects.get(email=email)
        return _replay(LedgerEntry.objects.get(reference=reference), account, amount)
    result = dict(zip(_CONSUME_COLUMNS, row, strict=True))
    outcome = result["outcome"]
    if outcome == "unauthenticated":
        raise errors.Unauthenticated()
    if outcome == "forbidden":
        raise errors.Forbidden(f"This token lacks the scope {token.scope}.")
    if outcome == "no_account":
        raise errors.NotFound("No account with this email.")
    if outcome == "replay":
        if (
            result["entry_kind"] != EntryKind.CONSUMPTION
            or result["entry_account"] != (result["account_id"])
        ):
            raise errors.ReferenceConflict(field="reference")
        if -result["entry_amount"] != amount:
            raise errors.ReferenceConflict(field="reference")
        created = False
    elif outcome == "created":
        created = True
    else:
        raise _refusal(result, amount)
    body = {
        "reference": reference,
        "account": email,
        "amount": format_amount(-result["entry_amount"]),
        "source": "organization" if result["entry_organization"] else "personal",
        "available_after": format_amount(result["available_after"]),
    }
    if created:
        _alerts_after_consumption(result, email)
    return ConsumptionResult(body=body, created=created)


def _refusal(result, amount) -> errors.DomainError:
    outcome, figure = result["outcome"], result["figure"]
    if outcome == "no_source":
        return errors.NoCreditSource(
            "This account has no personal credits and no organizational credit access."
        )
    if outcome == "access_disabled":
        return errors.NoCreditSource("This account's organizational credit access was disabled.")
    if outcome == "insufficient_personal":
        return errors.InsufficientCredits(
            f"Only {format_amount(figure)} personal credits are available.", field="amount"
        )
    if outcome == "quota_exceeded":
        monthly = result["quota_period"] == QuotaPeriod.MONTHLY
        return errors.QuotaExceeded(
            f"This would exceed the quota: {format_amount(figure)} of "
            f"{format_amount(result['quota_limit'])} left" + (" this month." if monthly else "."),
            field="amount",
        )
    if outcome == "insufficient_pool":
        return errors.InsufficientCredits(
            f"Only {format_amount(figure)} credits are available in the pool.", field="amount"
        )
    raise AssertionError(f"unknown consumption outcome {outcome!r}")


def _alerts_after_consumption(result, email) -> None:
    """R30 from what the function reports: a quota threshold crossed, the pool fallen below
    the organization's threshold. Rare, so the objects are read only then."""
    crossed = (result["alert_after"] or 0) > (result["alert_before"] or 0)
    if not crossed and not result["low_balance"]:
        return
    access = CreditAccess.objects.select_related("organization__administrator", "account").get(
        account_id=result["account_id"], organization_id=result["organization_id"]
    )
    if crossed:
        _alert_quota(access, access.account, result["alert_after"], result["used_after"])
    if result["low_balance"]:
        _alert_low_balance(access.organization, result["figure"])


def _alert_quota(access, account, level, used_after) -> None:
    """R30: the member and the administrator hear once per crossing of 80% and of 100%."""
    organization = access.organization
    context = {
        "account": account,
        "organization": organization,
        "level": level,
        "limit": format_amount(access.limit),
        "used": format_amount(used_after),
        "monthly": access.period == QuotaPeriod.MONTHLY,
    }
    recipients = [account.email]
    if organization.administrator.email != account.email:
        recipients.append(organization.administrator.email)
    email_send(
        to=recipients,
        subject=f"Credit quota {level}% used: {account.email}",
        template="quota_alert",
        context=context,
    )


def _alert_low_balance(organization, pool_after) -> None:
    email_send(
        to=organization.administrator.email,
        subject=f"Low credit balance: {organization.name}",
        template="pool_low_balance",
        context={
            "organization": organization,
            "available": format_amount(pool_after),
            "threshold": format_amount(organization.low_balance_threshold),
        },
    )


# --- Refunds (R26) ------------------------------------------------------------------------


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


# --- Expiry (R28) -------------------------------------------------------------------------


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


# --- Requests for more credits (R29) ------------------------------------------------------


def credit_request_create(*, account, amount, message: str = "") -> CreditRequest:
    """R29: a member asks their organization's administrator for more credits."""
    amount = _amount(amount)
    access = _enabled_access(account)
    organization = access.organization if access is not None else None
    if organization is None:
        membership = account.memberships.filter(role="member").select_related("organization")
        membership = membership.first()
        organization = membership.organization if membership is not None else None
    if organization is None:
        raise errors.NotAMember("You are not a user of an organization.", field="amount")
    message = (message or "").strip()[:2000]
    with transaction.atomic():
        request = CreditRequest.objects.create(
            organization=organization, account=account, amount=amount, message=message
        )
        audit_record(
            actor=account,
            action="credits.requested",
            organization=organization,
            target=account.email,
            details={"amount": format_amount(amount)},
        )
        email_send(
            to=organization.administrator.email,
            subject=f"{account.email} asks for {format_amount(amount)} credits",
            template="credit_request",
            context={
                "account": account,
                "organization": organization,
                "amount": format_amount(amount),
                "message": message,
            },
        )
    return request


def credit_request_close(*, actor, credit_request: CreditRequest) -> CreditRequest:
    with transaction.atomic():
        locked = CreditRequest.objects.select_for_update().get(pk=credit_request.pk)
        if locked.state == CreditRequestState.CLOSED:
            return locked
        locked.state = CreditRequestState.CLOSED
        locked.closed_at = timezone.now()
        locked.save(update_fields=["state", "closed_at"])
        audit_record(
            actor=actor,
            action="credits.request_closed",
            organization=locked.organization,
            target=locked.account.email,
            details={"amount": format_amount(locked.amount)},
        )
    return locked
