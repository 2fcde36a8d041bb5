"""Reads of balances, usage, lots and history, scoped by organization or account (R18–R31)."""

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import NamedTuple

from django.db import connection
from django.db.models import Count, DateField, F, Q, Subquery, Sum, Window
from django.db.models.functions import TruncDate, TruncMonth
from django.utils import timezone

from credits.models import (
    AccessMode,
    CreditAccess,
    CreditRequestState,
    EntryKind,
    Hold,
    HoldStatus,
    LedgerEntry,
    Lot,
    LotMovement,
    LotOrigin,
    MemberUsageMonth,
    PoolUsageDay,
    QuotaPeriod,
    Wallet,
)
from portal.pagination import page_number

ZERO = Decimal("0.00")


def exact_cents(value) -> Decimal:
    """A database sum as cents; no rows (None) is zero."""
    return Decimal(str(value or 0)).quantize(Decimal("0.01"))


def unexpired_lots_q(moment=None) -> Q:
    moment = moment or timezone.now()
    return Q(expires_at__isnull=True) | Q(expires_at__gt=moment)


def _expired_holds_q(moment) -> Q:
    return Q(status=HoldStatus.OPEN, expires_at__lte=moment or timezone.now())


# What a wallet `w` can spend now: its unexpired lots' remaining amounts, plus what its open
# holds past their expiry took from those lots (see `_available`).
_AVAILABLE = """
coalesce((SELECT sum(l.remaining) FROM credits_lot l
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
"""
_AVAILABLE_SQL = "SELECT " + _AVAILABLE + "FROM credits_wallet w WHERE w.{owner}_id = %(owner)s"


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


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month(month: date) -> date:
    return (month.replace(day=28) + timedelta(days=4)).replace(day=1)


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


# --- The credit pages' reads, in one statement each ---------------------------------------
# Cloud credits and My credits show a dozen sections. Read through the ORM, each section was
# a query of its own whose building and model instances cost more than the database's work;
# here each section is a scalar subquery (a figure, or its rows as JSON), the sections a page
# shows are read together in one statement, and the rows come back as plain tuples.

KIND_LABELS = dict(EntryKind.choices)
ORIGIN_LABELS = dict(LotOrigin.choices)
REQUEST_STATE_LABELS = dict(CreditRequestState.choices)
_WINDOW_AHEAD = 10


class Person(NamedTuple):
    name: str
    email: str


class Named(NamedTuple):
    id: int
    name: str


class LotRow(NamedTuple):
    origin: str
    origin_label: str
    amount: Decimal
    remaining: Decimal
    arrived_at: datetime
    expires_at: datetime | None


class HoldRow(NamedTuple):
    """A running job: `email` of its member on the pool's page, the `organization` whose pool
    it draws on (None: personal credits) on the account's own."""

    reference: str
    amount: Decimal
    opened_at: datetime
    expires_at: datetime
    email: str | None = None
    organization: str | None = None


class HistoryRow(NamedTuple):
    """A ledger entry: `reference` is its own or its hold's; `email` is the member's (the
    pool's history), `organization` the pool's name (an account's history; None: personal)."""

    created_at: datetime
    kind: str
    kind_label: str
    amount: Decimal
    order_id: int | None
    note: str
    reference: str | None
    email: str | None = None
    organization: str | None = None


class RequestRow(NamedTuple):
    pk: int
    amount: Decimal
    created_at: datetime
    state: str
    state_label: str
    reason: str


@dataclass(slots=True)
class AccessRow:
    """A member's access as the access table shows it; `used_now` as `access_used_now`."""

    pk: int
    email: str
    name: str
    role: str
    mode: str
    limit: Decimal | None
    period: str
    used_now: Decimal
    spendable: Decimal = ZERO
    # Set by the view: its inputs, link and markup, and the form of a row sent back with errors.
    limit_text: str = ""
    update_url: str = ""
    fields_html: str = ""
    row_html: str = ""
    form: object = None

    def _spend(self, pool: Decimal) -> "AccessRow":
        self.spendable = _spendable(self.mode, self.limit, self.used_now, pool)
        return self


@dataclass(slots=True)
class OpenRequest:
    """A request waiting for an answer, with the member's access mode now (R29)."""

    pk: int
    display_name: str
    email: str
    amount: Decimal
    message: str
    created_at: datetime
    access_mode: str | None
    refusal: str | None = None


class WindowPage:
    """A page of rows whose list was counted only up to a window of pages past the one asked
    for, as `portal.pagination.WindowPaginator` counts (and shows) it: a page past the end
    shows the last one; `paginator.capped` says the count is a lower bound."""

    def __init__(self, rows: list, *, asked: int, count: int, per_page: int, cap: int):
        num_pages = max(1, -(-count // per_page))
        self.object_list = rows
        self.number = min(asked, num_pages)
        self.paginator = SimpleNamespace(
            count=count, num_pages=num_pages, per_page=per_page, capped=count >= cap
        )
        self.has_previous = self.number > 1
        self.has_next = self.number < num_pages
        self.previous_page_number = self.number - 1
        self.next_page_number = self.number + 1


def _window(prefix: str, number, per_page: int) -> dict:
    """Parameters of a page: the page asked for, its size and offset, and the rows counted
    at most (`WindowPaginator`'s window)."""
    asked = page_number(number)
    return {
        f"{prefix}_asked": asked,
        f"{prefix}_per": per_page,
        f"{prefix}_offset": (asked - 1) * per_page,
        f"{prefix}_end": asked * per_page,
        f"{prefix}_cap": (asked + _WINDOW_AHEAD) * per_page + 1,
    }


def _page(prefix: str, params: dict, count: int, rows: list) -> WindowPage:
    return WindowPage(
        rows,
        asked=params[f"{prefix}_asked"],
        count=count,
        per_page=params[f"{prefix}_per"],
        cap=params[f"{prefix}_cap"],
    )


def _json(value):
    return json.loads(value, parse_float=Decimal) if value is not None else None


_when = datetime.fromisoformat


def _maybe_when(value):
    return None if value is None else _when(value)


def _read(sections: dict[str, str], params: dict, pages=()) -> dict:
    """The sections (each a scalar subquery: a figure, or JSON as text) in one statement:
    {name: value}. `pages` name the sections that are pages of rows ([count, rows, ...]).

    A page's offset is given as a number, so that the planner reads the first pages along
    an index (computed in the statement, it planned for any offset: a sort of every member,
    30 ms at 100,000). A page asked for past the last one shows the last one, as
    `Paginator.get_page` does: that takes a second statement, once the rows are counted."""
    sql = "SELECT " + ",\n".join(f"({section})" for section in sections.values())
    for _attempt in range(2):
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            row = cursor.fetchone()
        values = {
            name: _json(value) if isinstance(value, str) else value
            for name, value in zip(sections, row, strict=True)
        }
        past = [prefix for prefix in pages if _past_the_end(params, prefix, *values[prefix][:2])]
        if not past:
            break
        for prefix in past:
            count, per_page = values[prefix][0], params[f"{prefix}_per"]
            params.update(_window(prefix, -(-count // per_page), per_page))
    return values


def _past_the_end(params: dict, prefix: str, count: int, rows: list) -> bool:
    return not rows and count > 0 and params[f"{prefix}_asked"] > 1


_POOL_AVAILABLE = "SELECT " + _AVAILABLE + "FROM credits_wallet w WHERE w.organization_id = %(org)s"

# R23's burn order: the lots that still hold credits, how many, and the first of them.
_POOL_LOTS = """
WITH holding AS MATERIALIZED (
    SELECT l.id, l.origin, l.amount, l.remaining, l.arrived_at, l.expires_at
    FROM credits_lot l
    WHERE l.wallet_id = (SELECT id FROM credits_wallet WHERE organization_id = %(org)s)
      AND l.remaining > 0 AND (l.expires_at IS NULL OR l.expires_at > %(now)s)
)
SELECT json_build_array(
    (SELECT count(*) FROM holding),
    (SELECT coalesce(json_agg(json_build_array(
                 s.origin, s.amount, s.remaining, s.arrived_at, s.expires_at)
             ORDER BY s.expires_at, s.arrived_at, s.id), '[]')
     FROM (SELECT * FROM holding ORDER BY expires_at, arrived_at, id LIMIT %(lots_shown)s) s)
)::text
"""

# R35: the pool's running jobs: how many, what they set aside, and a page of them.
_POOL_HOLDS = """
WITH running AS MATERIALIZED (
    SELECT h.id, h.reference, h.account_id, h.amount, h.opened_at, h.expires_at
    FROM credits_hold h
    WHERE h.organization_id = %(org)s AND h.status = 'open' AND h.expires_at > %(now)s
)
SELECT json_build_array(
    (SELECT count(*) FROM running),
    (SELECT coalesce(json_agg(json_build_array(
                 s.reference, s.amount, s.opened_at, s.expires_at, a.email)
             ORDER BY s.expires_at, s.id), '[]')
     FROM (SELECT * FROM running ORDER BY expires_at, id
           LIMIT %(holds_per)s OFFSET %(holds_offset)s) s
     JOIN organizations_account a ON a.id = s.account_id),
    (SELECT coalesce(sum(amount), 0) FROM running)
)::text
"""

# The usage chart's month (UTC) from the usage rollups, at most 31 days and the month's top
# members whatever the ledger's size; consumptions and their refunds count on the
# consumption's day, as quota usage does (R22).
_POOL_USAGE = """
SELECT json_build_array(
    (SELECT coalesce(json_agg(json_build_array(d.day, d.consumed)), '[]')
     FROM credits_poolusageday d
     WHERE d.organization_id = %(org)s AND d.day >= %(month)s AND d.day < %(month_end)s),
    (SELECT coalesce(json_agg(json_build_array(s.name, s.email, s.consumed)
             ORDER BY s.consumed DESC, s.account_id), '[]')
     FROM (SELECT a.name, a.email, u.consumed, u.account_id
           FROM credits_memberusagemonth u JOIN organizations_account a ON a.id = u.account_id
           WHERE u.organization_id = %(org)s AND u.month = %(month)s AND u.consumed > 0
           ORDER BY u.consumed DESC, u.account_id LIMIT %(leaders)s) s)
)::text
"""

# The access table: every member's access by email, searchable by email or name ({search}),
# a window of pages counted. "Used now" as `access_used_now`: the cached usage, nothing in a
# new month, less the open holds past their expiry (R37), read once for the organization.
_MEMBERS = """
WITH n AS (
    SELECT count(*) AS total FROM (
        SELECT 1 FROM credits_creditaccess ca {join}
        WHERE ca.organization_id = %(org)s {search} LIMIT %(members_cap)s) w
), shown AS (
    SELECT ca.id, ca.account_id, a.email, a.name, m.role, ca.mode, ca."limit", ca.period,
           ca.period_start, ca.used
    FROM credits_creditaccess ca
    JOIN organizations_account a ON a.id = ca.account_id
    JOIN organizations_membership m ON m.id = ca.membership_id
    WHERE ca.organization_id = %(org)s {search} {only}
    ORDER BY a.email, ca.id
    LIMIT %(members_per)s OFFSET %(members_offset)s
), expired AS MATERIALIZED (
    SELECT h.account_id, h.opened_at, h.amount FROM credits_hold h
    WHERE h.organization_id = %(org)s AND h.status = 'open' AND h.expires_at <= %(now)s
)
SELECT json_build_array(
    (SELECT total FROM n),
    coalesce(json_agg(json_build_array(
        s.id, s.email, s.name, s.role, s.mode, s."limit", s.period,
        CASE WHEN s.period = 'monthly' AND s.period_start IS DISTINCT FROM %(month_start)s
             THEN 0.00
             ELSE greatest(s.used - coalesce(
                 (SELECT sum(x.amount) FROM expired x
                  WHERE x.account_id = s.account_id
                    AND (s.period <> 'monthly' OR x.opened_at >= %(month_start)s)), 0), 0.00)
        END
    ) ORDER BY s.email, s.id), '[]')
)::text
FROM shown s
"""

# The pool's ledger, newest first, a window of pages counted. The pool's wallet id as a
# scalar subquery, so that the (wallet, -created_at, -id) index serves the page directly; a
# join on the wallet would sort a million entries first.
_POOL_HISTORY = """
WITH wallet AS (SELECT id FROM credits_wallet WHERE organization_id = %(org)s),
n AS (
    SELECT count(*) AS total FROM (
        SELECT 1 FROM credits_ledgerentry e WHERE e.wallet_id = (SELECT id FROM wallet)
        LIMIT %(history_cap)s) w
), shown AS (
    SELECT e.id, e.created_at, e.kind, e.amount, e.order_id, e.note, e.reference, e.hold_id,
           e.account_id
    FROM credits_ledgerentry e WHERE e.wallet_id = (SELECT id FROM wallet)
    ORDER BY e.created_at DESC, e.id DESC
    LIMIT %(history_per)s OFFSET %(history_offset)s
)
SELECT json_build_array(
    (SELECT total FROM n),
    coalesce(json_agg(json_build_array(
        s.created_at, s.kind, s.amount, s.order_id, s.note,
        CASE WHEN s.reference <> '' THEN s.reference
             WHEN s.hold_id IS NOT NULL THEN h.reference END,
        a.email
    ) ORDER BY s.created_at DESC, s.id DESC), '[]')
)::text
FROM shown s
LEFT JOIN organizations_account a ON a.id = s.account_id
LEFT JOIN credits_hold h ON h.id = s.hold_id
"""

# R29: the requests waiting for an answer, newest first, with the member's access mode now.
_POOL_REQUESTS = """
SELECT coalesce(json_agg(json_build_array(
           s.id, s.name, s.email, s.amount, s.message, s.created_at, s.mode)
       ORDER BY s.created_at DESC, s.id DESC), '[]')::text
FROM (
    SELECT r.id, a.name, a.email, r.amount, r.message, r.created_at,
           (SELECT ca.mode FROM credits_creditaccess ca
            WHERE ca.account_id = r.account_id AND ca.organization_id = r.organization_id
            LIMIT 1) AS mode
    FROM credits_creditrequest r JOIN organizations_account a ON a.id = r.account_id
    WHERE r.organization_id = %(org)s AND r.state = 'open'
    ORDER BY r.created_at DESC, r.id DESC LIMIT %(requests_shown)s
) s
"""


def _members_sql(query: str, params: dict, only: int | None = None) -> str:
    """The access table's section; `query` searches email and name as `icontains` does."""
    search = join = only_sql = ""
    if query:
        params["members_like"] = f"%{connection.ops.prep_for_like_query(query)}%"
        search = (
            "AND (UPPER(a.email::text) LIKE UPPER(%(members_like)s)"
            " OR UPPER(a.name::text) LIKE UPPER(%(members_like)s))"
        )
        join = "JOIN organizations_account a ON a.id = ca.account_id"
    if only is not None:
        params["members_only"] = only
        only_sql = "AND ca.id = %(members_only)s"
    return _MEMBERS.format(join=join, search=search, only=only_sql)


def _access_rows(rows, pool: Decimal) -> list[AccessRow]:
    return [
        AccessRow(pk, email, name, role, mode, limit, period, used_now)._spend(pool)
        for pk, email, name, role, mode, limit, period, used_now in rows
    ]


def _spendable(mode: str, limit, used_now: Decimal, pool: Decimal) -> Decimal:
    """As `access_spendable`, from the figures the pages read."""
    if mode == AccessMode.UNLIMITED:
        return pool
    if mode == AccessMode.QUOTA:
        return max(min(limit - used_now, pool), ZERO)
    return ZERO


def _history_rows(rows, *, personal: bool) -> list[HistoryRow]:
    labels = KIND_LABELS
    if personal:
        return [
            HistoryRow(_when(at), kind, labels[kind], amount, order, note, ref, None, source)
            for at, kind, amount, order, note, ref, source in rows
        ]
    return [
        HistoryRow(_when(at), kind, labels[kind], amount, order, note, ref, email)
        for at, kind, amount, order, note, ref, email in rows
    ]


def _lot_rows(rows) -> list[LotRow]:
    return [
        LotRow(origin, ORIGIN_LABELS[origin], amount, remaining, _when(arrived), _maybe_when(ends))
        for origin, amount, remaining, arrived, ends in rows
    ]


def _open_requests(value) -> list[OpenRequest]:
    return [
        OpenRequest(pk, name or email, email, amount, message, _when(created_at), mode)
        for pk, name, email, amount, message, created_at, mode in value
    ]


def _usage_month(value, month: date) -> dict:
    """The chart's month: every day's net consumption (none: zero) and its top members."""
    days, leaders = value
    per_day = {date.fromisoformat(day): consumed for day, consumed in days}
    end = next_month(month)
    return {
        "month": month,
        "days": [
            {"day": day, "total": per_day.get(day, ZERO)}
            for day in (month + timedelta(days=n) for n in range((end - month).days))
        ],
        "leaders": [(Person(name, email), consumed) for name, email, consumed in leaders],
        "total": sum(per_day.values(), ZERO),
    }


def _pool_params(organization_id: int, now: datetime) -> dict:
    return {
        "org": organization_id,
        "now": now,
        "month_start": current_period_start(QuotaPeriod.MONTHLY, now),
    }


def pool_page(
    *,
    organization_id: int,
    now: datetime,
    month: date,
    holds_page,
    holds_per_page: int,
    lots_shown: int,
    query: str,
    members_page,
    members_per_page: int,
    history_page,
    history_per_page: int,
    requests_shown: int,
    leaders: int = 5,
) -> dict:
    """Everything the Cloud credits page shows (R18–R22, R29, R35) in one statement: the
    pool's balance, its lots, running jobs, month of usage, access table, history and open
    requests; bounded at any size (pages of rows, windowed counts: rules.md "Performance")."""
    params = {
        **_pool_params(organization_id, now),
        "month": month,
        "month_end": next_month(month),
        "lots_shown": lots_shown + 1,
        "leaders": leaders,
        "requests_shown": requests_shown,
        **_window("holds", holds_page, holds_per_page),
        **_window("members", members_page, members_per_page),
        **_window("history", history_page, history_per_page),
    }
    sections = {
        "available": _POOL_AVAILABLE,
        "lots": _POOL_LOTS,
        "holds": _POOL_HOLDS,
        "usage": _POOL_USAGE,
        "members": _members_sql(query, params),
        "history": _POOL_HISTORY,
        "requests": _POOL_REQUESTS,
    }
    values = _read(sections, params, pages=("holds", "members", "history"))
    available = exact_cents(values["available"])
    lots_count, lots = values["lots"]
    holds_count, holds, held = values["holds"]
    members_count, members = values["members"]
    history_count, history = values["history"]
    return {
        "available": available,
        "lots": _lot_rows(lots[:lots_shown]),
        "lots_more": lots_count - lots_shown if len(lots) > lots_shown else 0,
        "held": exact_cents(held),
        # Every running job is counted: never more than the jobs rendering.
        "holds": WindowPage(
            [
                HoldRow(ref, amount, _when(opened), _when(ends), email)
                for ref, amount, opened, ends, email in holds
            ],
            asked=params["holds_asked"],
            count=holds_count,
            per_page=holds_per_page,
            cap=holds_count + 1,
        ),
        "usage": _usage_month(values["usage"], month),
        "members": _page("members", params, members_count, _access_rows(members, available)),
        "history": _page("history", params, history_count, _history_rows(history, personal=False)),
        "requests": _open_requests(values["requests"]),
    }


def pool_members(*, organization_id: int, now: datetime, query: str, page, per_page: int):
    """The access table alone (a search or a page of it): a page of `AccessRow`."""
    params = {**_pool_params(organization_id, now), **_window("members", page, per_page)}
    sections = {"available": _POOL_AVAILABLE, "members": _members_sql(query, params)}
    values = _read(sections, params, pages=("members",))
    count, rows = values["members"]
    return _page("members", params, count, _access_rows(rows, exact_cents(values["available"])))


def pool_access_row(*, organization_id: int, access_id: int, now: datetime) -> AccessRow | None:
    """One member's row of the access table, as the table shows it (None: no longer there)."""
    params = {**_pool_params(organization_id, now), **_window("members", 1, 1)}
    sections = {"available": _POOL_AVAILABLE, "members": _members_sql("", params, access_id)}
    values = _read(sections, params)
    _count, rows = values["members"]
    return next(iter(_access_rows(rows, exact_cents(values["available"]))), None)


def pool_requests(*, organization_id: int, shown: int) -> list[OpenRequest]:
    """R29: the requests waiting for an answer, newest first."""
    values = _read({"requests": _POOL_REQUESTS}, {"org": organization_id, "requests_shown": shown})
    return _open_requests(values["requests"])


# --- My credits (R31) ---------------------------------------------------------------------

# The account's enabled access, where it draws on (R21: at most one), what the account can
# spend and every list the page shows but its history; "used now" as `access_used_now`, the
# pool only read when personal credits are not spent first (R23).
_MY_CREDITS = f"""
WITH acc AS (
    SELECT ca.mode, ca."limit", ca.period, ca.period_start, ca.used, ca.organization_id,
           o.name
    FROM credits_creditaccess ca JOIN organizations_organization o ON o.id = ca.organization_id
    WHERE ca.account_id = %(account)s AND ca.mode <> 'disabled'
    ORDER BY ca.id LIMIT 1
), own AS (
    SELECT w.id, {_AVAILABLE} AS available
    FROM credits_wallet w WHERE w.account_id = %(account)s
)
SELECT
    (SELECT id FROM own),
    (SELECT available FROM own),
    (SELECT json_build_array(
         acc.mode, acc."limit", acc.period, acc.organization_id, acc.name,
         CASE WHEN acc.period = 'monthly' AND acc.period_start IS DISTINCT FROM %(month_start)s
              THEN 0.00
              ELSE greatest(acc.used - coalesce(
                  (SELECT sum(h.amount) FROM credits_hold h
                   WHERE h.organization_id = acc.organization_id AND h.account_id = %(account)s
                     AND h.status = 'open' AND h.expires_at <= %(now)s
                     AND (acc.period <> 'monthly' OR h.opened_at >= %(month_start)s)), 0), 0.00)
         END,
         CASE WHEN coalesce((SELECT available FROM own), 0) <= 0 THEN
             (SELECT {_AVAILABLE} FROM credits_wallet w
              WHERE w.organization_id = acc.organization_id)
         END)
     FROM acc)::text,
    (SELECT coalesce(json_agg(json_build_array(
                 l.origin, l.amount, l.remaining, l.arrived_at, l.expires_at)
             ORDER BY l.expires_at, l.arrived_at, l.id), '[]')
     FROM credits_lot l WHERE l.wallet_id = (SELECT id FROM own))::text,
    (SELECT coalesce(json_agg(json_build_array(
                 s.reference, s.amount, s.opened_at, s.expires_at, o.name)
             ORDER BY s.expires_at, s.id), '[]')
     FROM (SELECT h.id, h.reference, h.amount, h.opened_at, h.expires_at, h.organization_id
           FROM credits_hold h
           WHERE h.account_id = %(account)s AND h.status = 'open' AND h.expires_at > %(now)s
           ORDER BY h.expires_at, h.id LIMIT %(holds_shown)s) s
     LEFT JOIN organizations_organization o ON o.id = s.organization_id)::text,
    (SELECT coalesce(json_agg(json_build_array(
                 s.id, s.amount, s.created_at, s.state, s.reason)
             ORDER BY s.created_at DESC, s.id DESC), '[]')
     FROM (SELECT r.id, r.amount, r.created_at, r.state, r.reason
           FROM credits_creditrequest r WHERE r.account_id = %(account)s
           ORDER BY r.created_at DESC, r.id DESC LIMIT %(requests_shown)s) s)::text,
    CASE WHEN NOT EXISTS (SELECT FROM acc) THEN
        (SELECT json_build_array(o.id, o.name)
         FROM organizations_membership m
         JOIN organizations_organization o ON o.id = m.organization_id
         WHERE m.account_id = %(account)s AND m.role = 'member'
         ORDER BY m.id LIMIT 1)::text
    END,
    CASE WHEN NOT EXISTS (SELECT FROM acc) THEN
        (SELECT coalesce(json_agg(o.name ORDER BY o.name), '[]')
         FROM credits_creditaccess ca
         JOIN organizations_organization o ON o.id = ca.organization_id
         WHERE ca.account_id = %(account)s AND ca.mode = 'disabled')::text
    END
"""

# The account's own history, newest first, a window of pages counted: its personal wallet
# (by the wallet's id, read first: given as a subquery, the planner cannot tell a personal
# wallet from a pool of a million entries and scans the ledger) and what it drew from pools.
# Each of the two is read along its own index, newest first, as far as the page or the count
# needs ({parts}: `_own_parts`): with the two conditions in one OR, every entry of the account
# was read and sorted on each view, however long its history.
_MY_HISTORY = """
WITH n AS (
    SELECT least(count(*), %(history_cap)s) AS total FROM ({counted}) w
), shown AS (
    SELECT * FROM ({listed}) u
    ORDER BY created_at DESC, id DESC
    LIMIT %(history_per)s OFFSET %(history_offset)s
)
SELECT json_build_array(
    (SELECT total FROM n),
    coalesce(json_agg(json_build_array(
        s.created_at, s.kind, s.amount, s.order_id, s.note,
        CASE WHEN s.reference <> '' THEN s.reference
             WHEN s.hold_id IS NOT NULL THEN h.reference END,
        o.name
    ) ORDER BY s.created_at DESC, s.id DESC), '[]')
)::text
FROM shown s
LEFT JOIN organizations_organization o ON o.id = s.organization_id
LEFT JOIN credits_hold h ON h.id = s.hold_id
"""
_OWN_PART = """(SELECT {columns} FROM credits_ledgerentry e WHERE {condition}
 ORDER BY e.created_at DESC, e.id DESC LIMIT {limit})"""
_OWN_COLUMNS = (
    "e.id, e.created_at, e.kind, e.amount, e.order_id, e.note, e.reference, e.hold_id,"
    " e.organization_id"
)
_DRAWN = "e.account_id = %(account)s AND e.kind IN ('consumption', 'refund', 'hold', 'release')"


def _own_history_sql(wallet_id) -> str:
    """The account's history: the personal wallet's entries (none without a wallet), then
    those it drew from pools (its entries of the personal wallet being in the first)."""
    conditions = [_DRAWN]
    if wallet_id is not None:
        conditions = ["e.wallet_id = %(wallet)s", f"{_DRAWN} AND e.wallet_id <> %(wallet)s"]

    def parts(columns, limit):
        return " UNION ALL ".join(
            _OWN_PART.format(columns=columns, condition=condition, limit=limit)
            for condition in conditions
        )

    return _MY_HISTORY.format(
        counted=parts("1", "%(history_cap)s"),
        listed=parts(_OWN_COLUMNS, "%(history_end)s"),
    )


class MyAccess(NamedTuple):
    mode: str
    limit: Decimal | None
    period: str


def my_credits_page(
    *,
    account_id: int,
    now: datetime,
    history_page,
    history_per_page: int,
    holds_shown: int,
    requests_shown: int,
) -> dict:
    """Everything My credits shows (R22, R23, R29, R31, R35), in two statements: the account's
    source and what it can spend (as `account_spendable`), its lots, running jobs, requests,
    the organization it may ask, and a page of its history."""
    params = {
        "account": account_id,
        "now": now,
        "month_start": current_period_start(QuotaPeriod.MONTHLY, now),
        "holds_shown": holds_shown,
        "requests_shown": requests_shown,
        **_window("history", history_page, history_per_page),
    }
    with connection.cursor() as cursor:
        cursor.execute(_MY_CREDITS, params)
        wallet_id, personal, access, lots, holds, requests, member_of, closed = cursor.fetchone()
    params["wallet"] = wallet_id
    history_count, history = _read(
        {"history": _own_history_sql(wallet_id)}, params, pages=("history",)
    )["history"]
    personal = exact_cents(personal)
    summary = {
        "source": None,
        "available": ZERO,
        "quota": None,
        "personal_available": personal,
        "access": None,
        "organization": None,
        "pool_available": None,
    }
    if access is not None:
        mode, limit, period, organization_id, name, used_now, pool = _json(access)
        summary["access"] = MyAccess(mode, limit, period)
        summary["organization"] = Named(organization_id, name)
    if personal > 0:
        summary.update(source="personal", available=personal)
    elif access is not None:
        pool = exact_cents(pool)
        available = _spendable(mode, limit, used_now, pool)
        summary.update(source="organization", available=available, pool_available=pool)
        if mode == AccessMode.QUOTA:
            summary["quota"] = {"limit": limit, "used": used_now, "period": period}
    member_of = _json(member_of)
    return {
        "summary": summary,
        "lots": _lot_rows(_json(lots)),
        "holds": [
            HoldRow(reference, amount, _when(opened), _when(expires), None, organization)
            for reference, amount, opened, expires, organization in _json(holds)
        ],
        "requests": [
            RequestRow(pk, amount, _when(created), state, REQUEST_STATE_LABELS[state], reason)
            for pk, amount, created, state, reason in _json(requests)
        ],
        # The organization it may ask for access (R29): its pool's, else the first it is a
        # user of; and R21's pools closed while it has personal credits.
        "member_of": Named(*member_of) if member_of else None,
        "closed_pools": _json(closed) or [],
        "history": _page("history", params, history_count, _history_rows(history, personal=True)),
    }
