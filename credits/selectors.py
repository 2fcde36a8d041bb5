"""Reads of balances, usage, lots and history, scoped by organization or account (R18–R31)."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from django.db import connection
from django.db.models import Count, DateField, F, OuterRef, Q, Subquery, Sum, Window
from django.db.models.functions import TruncDate, TruncMonth
from django.utils import timezone

from credits.models import (
    AccessMode,
    CreditAccess,
    CreditRequest,
    CreditRequestState,
    EntryKind,
    Hold,
    HoldStatus,
    LedgerEntry,
    Lot,
    LotMovement,
    MemberUsageMonth,
    PoolUsageDay,
    QuotaPeriod,
    Wallet,
)

ZERO = Decimal("0.00")


def exact_cents(value) -> Decimal:
    """A database sum as cents; no rows (None) is zero."""
    return Decimal(str(value or 0)).quantize(Decimal("0.01"))


def unexpired_lots_q(moment=None) -> Q:
    moment = moment or timezone.now()
    return Q(expires_at__isnull=True) | Q(expires_at__gt=moment)


def _expired_holds_q(moment) -> Q:
    return Q(status=HoldStatus.OPEN, expires_at__lte=moment or timezone.now())


_AVAILABLE_SQL = """
SELECT coalesce((SELECT sum(l.remaining) FROM credits_lot l
                 WHERE l.wallet_id = w.id AND l.remaining > 0
                   AND (l.expires_at IS NULL OR l.expires_at > %(now)s)), 0)
     - coalesce((SELECT sum(x.held) FROM credits_hold h
                 CROSS JOIN LATERAL (
                     SELECT sum(m.amount) AS held FROM credits_ledgerentry e
                     JOIN credits_lotmovement m ON m.entry_id = e.id
                     JOIN credits_lot l ON l.id = m.lot_id
                     WHERE e.hold_id = h.id AND e.kind IN ('hold', 'release')
                       AND (l.expires_at IS NULL OR l.expires_at > %(now)s)) x
                 WHERE h.wallet_id = w.id AND h.status = 'open' AND h.expires_at <= %(now)s), 0)
FROM credits_wallet w WHERE w.{owner}_id = %(owner)s
"""


def _available(owner: str, owner_id, moment=None) -> Decimal:
    """The unexpired lots' remaining amounts, plus what open holds past their expiry took
    from those lots: from its expiry on a hold no longer counts as spent (R37), even before
    `expire_credits` or the next consumption gives the credits back. One query.

    The holds come first (their partial index on wallet and expiry), each one's entries then
    by `hold_id`: joined the other way round, a planner that underestimates the hold and
    release entries scans the whole ledger (0.6 s at two million entries, on every page
    that shows a balance)."""
    with connection.cursor() as cursor:
        cursor.execute(
            _AVAILABLE_SQL.format(owner=owner),
            {"now": moment or timezone.now(), "owner": owner_id},
        )
        row = cursor.fetchone()
    return exact_cents(row[0] if row else 0)


def pool_available(*, organization, moment=None) -> Decimal:
    """R18: the sum of the remaining amounts of the pool's unexpired lots (R37: expired holds
    count as given back)."""
    return _available("organization", getattr(organization, "pk", organization), moment)


def personal_available(*, account, moment=None) -> Decimal:
    """R18: the sum of the remaining amounts of the account's unexpired personal lots (R37:
    expired holds count as given back)."""
    return _available("account", getattr(account, "pk", account), moment)


def expired_held_by_account(*, organization, moment=None) -> dict[int, list]:
    """Per member: the open holds past their expiry (when opened, how much), which still
    count in the cached quota usage until they are released (R37), to be left out of
    "used now"."""
    held: dict[int, list] = {}
    rows = Hold.objects.filter(_expired_holds_q(moment), organization=organization).values_list(
        "account_id", "opened_at", "amount"
    )
    for account_id, opened_at, amount in rows:
        held.setdefault(account_id, []).append((opened_at, amount))
    return held


# --- Periods and usage (R20, R22) ---------------------------------------------------------


def current_period_start(period: str, moment=None) -> datetime | None:
    """`monthly`: the first day of the calendar month, UTC; `none`: all time (None)."""
    if period != QuotaPeriod.MONTHLY:
        return None
    moment = (moment or timezone.now()).astimezone(UTC)
    return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def access_used_now(access: CreditAccess, moment=None, expired_held=None) -> Decimal:
    """The usage in the current period, read from the cached figure: the cache covers the
    period starting at `period_start`, so a monthly access whose cache is of an older month
    has used nothing yet this month. Open holds past their expiry are left out (R37);
    `expired_held` (from `expired_held_by_account`) saves the query for a list of members."""
    start = current_period_start(access.period, moment)
    if access.period == QuotaPeriod.MONTHLY and access.period_start != start:
        return ZERO
    if expired_held is None:
        expired_held = expired_held_by_account(organization=access.organization_id, moment=moment)
    expired = sum(
        (
            amount
            for opened_at, amount in expired_held.get(access.account_id, [])
            if start is None or opened_at >= start
        ),
        ZERO,
    )
    return max(access.used - expired, ZERO)


def alert_level_for(used: Decimal, limit: Decimal | None) -> int:
    """R30: the highest alert threshold (80 or 100 percent) that `used` has reached."""
    if limit is None or limit <= 0:
        return 100 if limit is not None else 0
    if used >= limit:
        return 100
    if used * 5 >= limit * 4:
        return 80
    return 0


def usage_from_ledger(*, account_id, organization_id, start=None) -> Decimal:
    """R22 from the ledger: consumptions from the pool since `start`, minus their refunds
    (a refund counts in the period of its consumption), plus the holds opened since `start`
    (R37: an open hold counts its amount, a captured one what it captured, in the period it
    was opened in, whenever it was raised or captured)."""
    own = {"account_id": account_id, "organization_id": organization_id}
    consumed = LedgerEntry.objects.filter(kind=EntryKind.CONSUMPTION, hold__isnull=True, **own)
    refunded = LedgerEntry.objects.filter(kind=EntryKind.REFUND, **own)
    holds = Hold.objects.filter(**own)
    if start is not None:
        consumed = consumed.filter(created_at__gte=start)
        refunded = refunded.filter(
            Q(refund_of__hold__isnull=True, refund_of__created_at__gte=start)
            | Q(refund_of__hold__opened_at__gte=start)
        )
        holds = holds.filter(opened_at__gte=start)
    taken = exact_cents(consumed.aggregate(total=Sum("amount"))["total"])
    given_back = exact_cents(refunded.aggregate(total=Sum("amount"))["total"])
    held = exact_cents(
        holds.filter(status=HoldStatus.OPEN).aggregate(total=Sum("amount"))["total"]
    ) + exact_cents(
        holds.filter(status=HoldStatus.CAPTURED).aggregate(total=Sum("captured"))["total"]
    )
    return -taken - given_back + held


def access_spendable(
    access: CreditAccess, pool: Decimal, moment=None, expired_held=None
) -> Decimal:
    """R22: what a member can spend from the pool under this access."""
    if access.mode == AccessMode.UNLIMITED:
        return pool
    if access.mode == AccessMode.QUOTA:
        used = access_used_now(access, moment, expired_held)
        return max(min(access.limit - used, pool), ZERO)
    return ZERO


def account_spendable(account, moment=None) -> dict:
    """R22/R23: the account's source and what it can spend now.

    `quota` is given when the source is the organization's pool under a quota.
    """
    moment = moment or timezone.now()
    personal = personal_available(account=account, moment=moment)
    access = (
        CreditAccess.objects.filter(account=account)
        .exclude(mode=AccessMode.DISABLED)
        .select_related("organization")
        .first()
    )
    summary = {
        "account": account.email,
        "source": None,
        "available": ZERO,
        "quota": None,
        "personal_available": personal,
        "access": access,
        "organization": access.organization if access else None,
        "pool_available": None,
    }
    if personal > 0:
        summary.update(source="personal", available=personal)
        return summary
    if access is not None:
        pool = pool_available(organization=access.organization, moment=moment)
        summary.update(
            source="organization",
            available=access_spendable(access, pool, moment),
            pool_available=pool,
        )
        if access.mode == AccessMode.QUOTA:
            summary["quota"] = {
                "limit": access.limit,
                "used": access_used_now(access, moment),
                "period": access.period,
            }
    return summary


# --- Pages --------------------------------------------------------------------------------


def accesses_for_org(*, organization, query: str = ""):
    """Every member's access (the administrator included), by email; searchable by email or
    name. One query per page whatever the number of members."""
    accesses = CreditAccess.objects.filter(organization=organization).select_related(
        "membership", "account"
    )
    query = (query or "").strip()
    if query:
        accesses = accesses.filter(
            Q(account__email__icontains=query) | Q(account__name__icontains=query)
        )
    return accesses.order_by("account__email", "id")


def lots_for_owner(*, organization=None, account=None):
    lots = (
        Lot.objects.filter(wallet__organization=organization)
        if organization is not None
        else Lot.objects.filter(wallet__account=account)
    )
    return lots.order_by("expires_at", "arrived_at", "id")


def open_holds(*, organization=None, account=None, moment=None):
    """The holds still open and not yet expired (R35): the pool's, or the account's own
    (personal and pool alike), the soonest to expire first."""
    owner = {"organization": organization} if organization is not None else {"account": account}
    return (
        Hold.objects.filter(status=HoldStatus.OPEN, expires_at__gt=moment or timezone.now())
        .filter(**owner)
        .select_related("account", "organization")
        .order_by("expires_at", "id")
    )


def held_total(*, organization=None, account=None, moment=None) -> Decimal:
    """What open, unexpired holds set aside now (R35)."""
    total = open_holds(organization=organization, account=account, moment=moment).aggregate(
        total=Sum("amount")
    )["total"]
    return exact_cents(total)


def history_for_org(*, organization):
    """The pool's ledger, newest first."""
    # The pool's wallet id as a scalar subquery, so that the (wallet, -created_at, -id) index
    # serves the page directly; a join on the wallet would sort a million entries first.
    return (
        LedgerEntry.objects.filter(wallet_id=_wallet_id(organization=organization))
        .select_related("account", "actor", "hold")
        .order_by("-created_at", "-id")
    )


def _wallet_id(**owner):

    return Subquery(Wallet.objects.filter(**owner).values("id")[:1])


def history_for_account(*, account):
    """R31: the account's own history: its personal wallet and what it drew from a pool."""
    return (
        LedgerEntry.objects.filter(_own_entries_q(account))
        .select_related("organization", "hold")
        .order_by("-created_at", "-id")
    )


def _own_entries_q(account) -> Q:
    """The account's personal wallet by its id, read first: given as a subquery, the planner
    cannot tell a personal wallet from a pool of a million entries and scans the ledger."""

    drawn = Q(
        account=account,
        kind__in=[EntryKind.CONSUMPTION, EntryKind.REFUND, EntryKind.HOLD, EntryKind.RELEASE],
    )
    wallet_id = Wallet.objects.filter(account=account).values_list("id", flat=True).first()
    return drawn if wallet_id is None else Q(wallet_id=wallet_id) | drawn


def open_requests_for_org(*, organization):
    """R29: the requests waiting for an answer, each with the member's access mode now."""
    mode = CreditAccess.objects.filter(
        account=OuterRef("account"), organization=OuterRef("organization")
    ).values("mode")[:1]
    return (
        CreditRequest.objects.filter(organization=organization, state=CreditRequestState.OPEN)
        .select_related("account")
        .annotate(access_mode=Subquery(mode))
        .order_by("-created_at")
    )


def requests_for_account(*, account) -> list:
    """R29: the member's open request and the answers of the last ones, newest first."""
    return list(
        CreditRequest.objects.filter(account=account)
        .select_related("organization")
        .order_by("-created_at")[:5]
    )


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month(month: date) -> date:
    return (month.replace(day=28) + timedelta(days=4)).replace(day=1)


def pool_usage_month(*, organization, month: date, top: int = 5) -> dict:
    """The pool's net consumption per day of one calendar month (UTC) and the month's `top`
    members, from the usage rollups: at most 31 + `top` rows, whatever the ledger's size.
    Consumptions and their refunds count on the consumption's day, as quota usage does (R22).
    """
    end = next_month(month)
    per_day = dict(
        PoolUsageDay.objects.filter(
            organization=organization, day__gte=month, day__lt=end
        ).values_list("day", "consumed")
    )
    leaders = list(
        MemberUsageMonth.objects.filter(organization=organization, month=month, consumed__gt=0)
        .select_related("account")
        .order_by("-consumed", "account_id")[:top]
    )
    days = [month + timedelta(days=n) for n in range((end - month).days)]
    return {
        "month": month,
        "days": [{"day": day, "total": per_day.get(day, ZERO)} for day in days],
        "leaders": [(row.account, row.consumed) for row in leaders],
        "total": sum(per_day.values(), ZERO),
    }


def usage_rollups_from_ledger(ledger=LedgerEntry) -> tuple[dict, dict]:
    """What `PoolUsageDay` and `MemberUsageMonth` must hold, added up from the ledger:
    ({(organization_id, day): consumed}, {(organization_id, account_id, month): consumed}).
    A refund counts on its consumption's day. `ledger` is the model to read (a migration
    passes its historical one)."""
    days: dict[tuple, Decimal] = {}
    months: dict[tuple, Decimal] = {}
    pool_entries = ledger.objects.filter(organization__isnull=False)
    for kind, moment in (
        (EntryKind.CONSUMPTION, "created_at"),
        (EntryKind.REFUND, "refund_of__created_at"),
    ):
        entries = pool_entries.filter(kind=kind)
        for org_id, day, total in (
            entries.annotate(day=TruncDate(moment))
            .values("organization_id", "day")
            .annotate(total=Sum("amount"))
            .values_list("organization_id", "day", "total")
        ):
            days[org_id, day] = days.get((org_id, day), ZERO) - exact_cents(total)
        for org_id, account_id, month, total in (
            entries.annotate(month=TruncMonth(moment, output_field=DateField()))
            .values("organization_id", "account_id", "month")
            .annotate(total=Sum("amount"))
            .values_list("organization_id", "account_id", "month", "total")
        ):
            key = (org_id, account_id, month)
            months[key] = months.get(key, ZERO) - exact_cents(total)
    return days, months


# --- Ledger verification (R27) ------------------------------------------------------------


def ledger_verify(moment=None) -> list[str]:
    """Every invariant of the ledger, checked from the database; returns the violations.

    - every lot's remaining equals its amount plus the sum of its movements, stays within
      0…amount, and never went below zero in the order its movements were written;
    - every movement-bearing entry (consumption, refund, expiry) equals the sum of its
      movements, and every incoming entry brought exactly one lot of its amount;
    - every wallet's cached balance equals the sum of its entries and the remaining amounts
      of its lots not written off, and no wallet's running balance ever went below zero;
    - every consumption reference is unique, no refund exceeds its consumption, no
      consumption under a quota took usage past the limit in force;
    - every enabled access's cached usage equals the usage the ledger adds up to.

    A fixed number of queries, each a scan or an aggregate, whatever the ledger's size.
    """

    moment = moment or timezone.now()
    problems: list[str] = []

    lots = Lot.objects.annotate(moved=Sum("movements__amount")).values_list(
        "id", "amount", "remaining", "moved"
    )
    for lot_id, amount, remaining, moved in lots.iterator():
        moved = exact_cents(moved)
        if remaining != amount + moved:
            problems.append(
                f"lot #{lot_id}: remaining {remaining} != amount {amount} + movements {moved}"
            )
        if remaining < 0 or remaining > amount:
            problems.append(f"lot #{lot_id}: remaining {remaining} outside 0…{amount}")
    running_lots = (
        LotMovement.objects.annotate(
            running=Window(Sum("amount"), partition_by=[F("lot_id")], order_by=F("id").asc())
        )
        .annotate(level=F("lot__amount") + F("running"))
        .filter(level__lt=0)
        .values_list("lot_id", "id", "level")
    )
    for lot_id, movement_id, level in running_lots:
        if exact_cents(level) < 0:
            problems.append(f"lot #{lot_id}: overdrawn by movement #{movement_id}")

    entries = (
        LedgerEntry.objects.filter(
            kind__in=[
                EntryKind.CONSUMPTION,
                EntryKind.REFUND,
                EntryKind.EXPIRY,
                EntryKind.HOLD,
                EntryKind.RELEASE,
            ]
        )
        .annotate(moved=Sum("movements__amount"))
        .values_list("id", "kind", "amount", "moved")
    )
    for entry_id, kind, amount, moved in entries.iterator():
        if exact_cents(moved) != amount:
            problems.append(
                f"entry #{entry_id} ({kind}): amount {amount} != lot movements {exact_cents(moved)}"
            )
    incoming = (
        LedgerEntry.objects.filter(kind__in=[EntryKind.PURCHASE, EntryKind.GRANT, EntryKind.TRIAL])
        .annotate(lots=Count("created_lots"), lot_amount=Sum("created_lots__amount"))
        .values_list("id", "amount", "lots", "lot_amount")
    )
    for entry_id, amount, lot_count, lot_amount in incoming.iterator():
        if lot_count != 1 or exact_cents(lot_amount) != amount:
            problems.append(f"entry #{entry_id}: brought {lot_count} lot(s) of {lot_amount}")

    entry_totals = {
        row["wallet_id"]: exact_cents(row["t"])
        for row in LedgerEntry.objects.values("wallet_id").annotate(t=Sum("amount"))
    }
    lot_totals = {
        row["wallet_id"]: exact_cents(row["t"])
        for row in Lot.objects.filter(expired_entry__isnull=True)
        .values("wallet_id")
        .annotate(t=Sum("remaining"))
    }
    for wallet_id, balance in Wallet.objects.values_list("id", "balance").iterator():
        entries_total = entry_totals.get(wallet_id, ZERO)
        lots_total = lot_totals.get(wallet_id, ZERO)
        if balance < 0:
            problems.append(f"wallet #{wallet_id}: negative balance {balance}")
        if balance != entries_total:
            problems.append(
                f"wallet #{wallet_id}: balance {balance} != ledger total {entries_total}"
            )
        if balance != lots_total:
            problems.append(
                f"wallet #{wallet_id}: balance {balance} != remaining of its lots {lots_total}"
            )
    running_wallets = (
        LedgerEntry.objects.annotate(
            running=Window(Sum("amount"), partition_by=[F("wallet_id")], order_by=F("id").asc())
        )
        .filter(running__lt=0)
        .values_list("wallet_id", "id", "running")
    )
    for wallet_id, entry_id, running in running_wallets:
        if exact_cents(running) < 0:
            problems.append(f"wallet #{wallet_id}: overdrawn by entry #{entry_id}")

    duplicates = (
        LedgerEntry.objects.filter(kind=EntryKind.CONSUMPTION)
        .values("reference")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
    )
    for row in duplicates:
        problems.append(f"reference {row['reference']!r} used {row['n']} times")
    over_refunds = LedgerEntry.objects.filter(
        kind=EntryKind.REFUND, amount__gt=-F("refund_of__amount")
    ).values_list("id", flat=True)
    for entry_id in over_refunds:
        problems.append(f"refund #{entry_id} exceeds its consumption")
    over_quota = LedgerEntry.objects.filter(
        kind=EntryKind.CONSUMPTION,
        quota_limit__isnull=False,
        quota_used_after__gt=F("quota_limit"),
    ).values_list("id", flat=True)
    for entry_id in over_quota:
        problems.append(f"consumption #{entry_id} went past its quota")

    problems.extend(_hold_problems())
    problems.extend(_usage_cache_problems(moment))
    problems.extend(_usage_rollup_problems())
    return problems


def _hold_problems() -> list[str]:
    """R35-R38: an open hold still holds exactly its amount (its hold and release entries add
    up to it), a settled one nothing; a captured one has its one consumption of the captured
    amount under its reference; no plain consumption took a hold's reference."""
    problems = []
    holds = Hold.objects.annotate(
        moved=Sum(
            "entries__amount",
            filter=Q(entries__kind__in=[EntryKind.HOLD, EntryKind.RELEASE]),
        ),
        consumed=Sum("entries__amount", filter=Q(entries__kind=EntryKind.CONSUMPTION)),
    ).values_list("reference", "status", "amount", "captured", "moved", "consumed")
    for reference, status, amount, captured, moved, consumed in holds.iterator():
        held = -exact_cents(moved)
        expected = amount if status == HoldStatus.OPEN else ZERO
        if held != expected:
            problems.append(f"hold {reference!r} ({status}) holds {held}, not {expected}")
        if -exact_cents(consumed) != exact_cents(captured):
            problems.append(
                f"hold {reference!r}: consumed {-exact_cents(consumed)}, captured {captured}"
            )
    taken = LedgerEntry.objects.filter(
        kind=EntryKind.CONSUMPTION,
        hold__isnull=True,
        reference__in=Hold.objects.values("reference"),
    ).values_list("reference", flat=True)
    for reference in taken:
        problems.append(f"reference {reference!r} is both a hold and a consumption")
    return problems


def _usage_cache_problems(moment) -> list[str]:
    """Cached `CreditAccess.used` of enabled accesses against the ledger, in two aggregates."""
    month_start = current_period_start(QuotaPeriod.MONTHLY, moment)

    def net(start):
        """As `usage_from_ledger`, for every member at once: plain consumptions and their
        refunds, and holds in the period they were opened in (open: held, captured:
        captured, minus the capture's refund)."""
        consumed = LedgerEntry.objects.filter(
            kind=EntryKind.CONSUMPTION, organization__isnull=False, hold__isnull=True
        )
        refunded = LedgerEntry.objects.filter(kind=EntryKind.REFUND, organization__isnull=False)
        holds = Hold.objects.filter(organization__isnull=False)
        if start is not None:
            consumed = consumed.filter(created_at__gte=start)
            refunded = refunded.filter(
                Q(refund_of__hold__isnull=True, refund_of__created_at__gte=start)
                | Q(refund_of__hold__opened_at__gte=start)
            )
            holds = holds.filter(opened_at__gte=start)
        totals: dict[tuple, Decimal] = {}
        for qs in (consumed, refunded):
            rows = qs.values("account_id", "organization_id").annotate(t=Sum("amount"))
            for row in rows:
                key = (row["account_id"], row["organization_id"])
                totals[key] = totals.get(key, ZERO) - exact_cents(row["t"])
        held = holds.values("account_id", "organization_id").annotate(
            open=Sum("amount", filter=Q(status=HoldStatus.OPEN)),
            captured=Sum("captured", filter=Q(status=HoldStatus.CAPTURED)),
        )
        for row in held:
            key = (row["account_id"], row["organization_id"])
            totals[key] = (
                totals.get(key, ZERO) + exact_cents(row["open"]) + exact_cents(row["captured"])
            )
        return totals

    all_time, this_month = net(None), net(month_start)
    problems = []
    accesses = CreditAccess.objects.exclude(mode=AccessMode.DISABLED).values_list(
        "id", "account_id", "organization_id", "period", "period_start", "used"
    )
    for pk, account_id, org_id, period, period_start, used in accesses.iterator():
        key = (account_id, org_id)
        if period == QuotaPeriod.MONTHLY:
            cached = used if period_start == month_start else ZERO
            expected = this_month.get(key, ZERO)
        else:
            cached, expected = used, all_time.get(key, ZERO)
        if cached != expected:
            problems.append(f"access #{pk}: cached usage {cached} != ledger usage {expected}")
    return problems


def _usage_rollup_problems() -> list[str]:
    """The usage rollups of the chart against the ledger (missing rows count as zero)."""
    days, months = usage_rollups_from_ledger()
    problems = []
    checks = (
        (days, PoolUsageDay.objects.values_list("organization_id", "day", "consumed"), "day"),
        (
            months,
            MemberUsageMonth.objects.values_list(
                "organization_id", "account_id", "month", "consumed"
            ),
            "month",
        ),
    )
    for expected, rows, what in checks:
        stored = {tuple(row[:-1]): row[-1] for row in rows.iterator()}
        for key in sorted(set(expected) | set(stored), key=str):
            if stored.get(key, ZERO) != expected.get(key, ZERO):
                problems.append(
                    f"usage per {what} {key}: stored {stored.get(key, ZERO)} "
                    f"!= ledger {expected.get(key, ZERO)}"
                )
    return problems


def pools_closed_by_personal_credits(*, account) -> list:
    """The organizations whose pool `account` could draw on once given access, but not while
    it has active personal credits (R21): its memberships whose access is disabled."""
    return [
        access.organization
        for access in CreditAccess.objects.filter(account=account, mode=AccessMode.DISABLED)
        .select_related("organization")
        .order_by("organization__name")
    ]
