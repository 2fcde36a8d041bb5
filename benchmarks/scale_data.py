"""Scale data for the benchmarks: one large organization and one small one in PostgreSQL.

The data is written with COPY (psycopg) instead of the services, so that a million ledger
entries take about a minute rather than hours. It is nevertheless built the way the services
would have built it, in time order, so that `verify_ledger` holds afterwards (R27):

- every lot's remaining is its amount plus its movements, and never went below zero;
- every consumption and refund equals the sum of its movements, every purchase brought one lot;
- the pool's cached balance equals the ledger and the lots, and never went below zero;
- consumptions under a quota carry the limit in force and the usage right after them, and the
  cached usage of every enabled access equals the ledger's figure for its current period;
- references are unique.

Ids of rows that others point at are reserved from the table's sequence up front and handed
out in time order, because `verify_ledger` checks running balances in id order.
"""

import bisect
import hashlib
import json
import random
import secrets
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.contrib.auth.hashers import make_password
from django.db import DatabaseError, connection, transaction

from billing.models import Order, OrderLine
from credits.models import (
    CreditAccess,
    Hold,
    LedgerEntry,
    Lot,
    LotMovement,
    MemberUsageMonth,
    PoolUsageDay,
    Wallet,
)
from credits.services import usage_rollups_rebuild
from licensing.models import License, Product
from organizations.models import Account, Invitation, Membership, Organization
from portal.models import AuditEvent

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
PASSWORD = "portal-demo"
PRODUCTS = [
    ("scale-modeler", "Scale Modeler", Decimal("1200.00")),
    ("scale-render", "Scale Render Node", Decimal("600.00")),
    ("scale-animate", "Scale Animate", Decimal("900.00")),
    ("scale-paint", "Scale Paint", Decimal("300.00")),
    ("scale-review", "Scale Review", Decimal("150.00")),
]
FIRST_NAMES = ["Ada", "Bruno", "Chiara", "Dmitri", "Elena", "Farid", "Greta", "Hugo", "Ines"]
LAST_NAMES = ["Keller", "Moreau", "Rossi", "Novak", "Silva", "Berg", "Okafor", "Lind", "Sato"]


@dataclass(frozen=True)
class Scale:
    """One organization to generate. `tag` (one digit) makes its emails and numbers unique."""

    tag: int
    members: int
    seats: int
    ledger: int

    @property
    def customer_number(self) -> str:
        # Generated customer numbers never start with 0 (organizations.models), so these
        # cannot collide with real ones.
        return f"0{self.tag}{0:08d}"

    @property
    def domain(self) -> str:
        return f"scale{self.tag}.example.com"

    def email(self, i: int) -> str:
        return "admin@" + self.domain if i == 0 else f"user{i:06d}@{self.domain}"


def organization_for(scale: Scale):
    return Organization.objects.filter(customer_number=scale.customer_number).first()


# --- Low-level writing --------------------------------------------------------------------


def _reserve_ids(model, count: int) -> int:
    """Reserve `count` consecutive ids from the model's sequence; returns the first."""
    table = model._meta.db_table
    with connection.cursor() as cur:
        cur.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
        (sequence,) = cur.fetchone()
        cur.execute("SELECT nextval(%s)", [sequence])
        (first,) = cur.fetchone()
        if count > 1:
            cur.execute("SELECT setval(%s, %s)", [sequence, first + count - 1])
    return first


def _defaults(model, columns: list[str]) -> dict[str, object]:
    """The model's defaults for the columns a COPY leaves out: Django keeps them in Python,
    not in the table, so a column added later with a default would otherwise be NULL."""
    return {
        f.column: f.get_db_prep_save(f.get_default(), connection)
        for f in model._meta.concrete_fields
        if f.attname not in columns and f.has_default() and not f.primary_key
    }


def _copy_statement(model, columns: list[str]) -> tuple[str, tuple]:
    fields = {f.attname: f.column for f in model._meta.concrete_fields}
    defaults = _defaults(model, columns)
    cols = ", ".join(f'"{c}"' for c in [*(fields[c] for c in columns), *defaults])
    return f'COPY "{model._meta.db_table}" ({cols}) FROM STDIN', tuple(defaults.values())


def _copy(model, columns: list[str], rows) -> int:
    """COPY rows (tuples in the order of `columns`, given as attnames) into the model's table."""
    statement, extra = _copy_statement(model, columns)
    count = 0
    raw = connection.connection
    with raw.cursor() as cur, cur.copy(statement) as copy:
        for row in rows:
            copy.write_row((*row, *extra))
            count += 1
    return count


# --- The organization ---------------------------------------------------------------------


@dataclass
class _Member:
    account_id: int
    membership_id: int
    access_id: int
    email: str
    mode: str = "disabled"
    limit: Decimal | None = None
    period: str = "none"
    # Usage per period key: "all" for period none and unlimited, "YYYY-MM" for monthly.
    usage: dict = field(default_factory=dict)


GENERATING = " (generating)"


def generate(scale: Scale, *, now: datetime | None = None, log=print) -> Organization:
    """Write one organization of `scale` unless it is already there.

    Three steps: the people, seats and invitations in one transaction; the year of the
    ledger in chunks of their own transactions; the credit accesses, the final balances and
    the rollups in a last one. The organization's name carries a mark until the last step
    commits, so that an interrupted run is recognised rather than measured."""
    existing = organization_for(scale)
    if existing is not None:
        if existing.name.endswith(GENERATING):
            raise SystemExit(
                f"Organization {scale.customer_number} was left half-written by an interrupted "
                "run: drop the benchmark database (BENCH_DB) and run again."
            )
        members = Membership.objects.filter(organization=existing).count()
        if members != scale.members:
            raise SystemExit(
                f"Organization {scale.customer_number} has {members} members, not "
                f"{scale.members}: use another database (BENCH_DB) for another scale."
            )
        log(f"organization {scale.customer_number} already there ({members} members)")
        return existing
    now = now or datetime.now(UTC)
    rng = random.Random(scale.tag * 7919 + scale.members)
    started = time.monotonic()
    history_start = now - timedelta(days=360)
    with transaction.atomic():
        org, members = _generate(scale, now, history_start, rng, log)
    big = (LedgerEntry, LotMovement, AuditEvent, Hold)
    with _indexes_set_aside(big if scale.ledger >= 1_000_000 else (), log):
        balance = _ledger(scale, org, members, now, history_start, rng, log)
    log(f"  ledger written ({time.monotonic() - started:.0f}s so far)")
    with transaction.atomic():
        _accesses(org, members, now, history_start, log)
        # The chart's usage rollups, added up from the ledger just written (the services
        # keep them for every later consumption and refund).
        usage_rollups_rebuild()
        org.name = org.name.removesuffix(GENERATING)
        org.save(update_fields=["name"])
    log(f"  pool balance {_money(balance)}")
    log(f"organization {scale.customer_number}: done in {time.monotonic() - started:.1f}s")
    vacuum()
    return org


@contextmanager
def _indexes_set_aside(models, log):
    """Drop the indexes of `models` that back no constraint, and build them again afterwards
    from their own definitions: building an index once over ten million sorted rows is much
    quicker than keeping it up to date row by row. Constraints (primary keys, unique
    references) stay, so the load is still checked by them."""
    tables = [m._meta.db_table for m in models]
    with connection.cursor() as cur:
        cur.execute(
            "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) "
            "FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid "
            "WHERE t.relname = ANY(%s) "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)",
            [tables],
        )
        indexes = cur.fetchall()
        for name, _ in indexes:
            cur.execute(f"DROP INDEX {name}")
    try:
        yield
    finally:
        started = time.monotonic()
        with connection.cursor() as cur:
            cur.execute("SET maintenance_work_mem = '1GB'")
            for _, definition in indexes:
                cur.execute(definition)
            cur.execute("RESET maintenance_work_mem")
        if indexes:
            log(f"  {len(indexes)} indexes built ({time.monotonic() - started:.0f}s)")


def vacuum() -> None:
    """Statistics for the planner, and the visibility map that lets counts run from an
    index alone (autovacuum would get there too, later)."""
    models = (Account, Membership, CreditAccess, License, LedgerEntry, LotMovement, Lot)
    with connection.cursor() as cur:
        for model in (*models, AuditEvent, Invitation, Wallet, PoolUsageDay, MemberUsageMonth):
            cur.execute(f'VACUUM ANALYZE "{model._meta.db_table}"')


def _generate(scale: Scale, now: datetime, history_start, rng: random.Random, log):
    """The people: accounts, memberships, seats, invitations and their audit events."""
    password = make_password(PASSWORD)

    # Accounts: index 0 is the administrator.
    n = scale.members
    first_account = _reserve_ids(Account, n)
    account_rows = []
    for i in range(n):
        joined = history_start + timedelta(seconds=rng.randrange(0, 300 * 86400))
        if i == 0:
            joined = history_start - timedelta(days=30)
        account_rows.append(
            (
                first_account + i,
                password,
                None,
                False,
                scale.email(i),
                f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
                "commercial" if i == 0 else rng.choice(["trial", "commercial", "student"]),
                f"0{scale.tag}{i:08d}",
                False,
                True,
                joined,
            )
        )
    _copy(
        Account,
        [
            "id",
            "password",
            "last_login",
            "is_superuser",
            "email",
            "name",
            "kind",
            "customer_number",
            "is_staff",
            "is_active",
            "date_joined",
        ],
        account_rows,
    )
    admin_id = first_account
    org = Organization.objects.create(
        name=f"Scale Studio {scale.members}{GENERATING}",
        customer_number=scale.customer_number,
        administrator_id=admin_id,
        low_balance_threshold=Decimal("1000.00"),
        created_at=history_start - timedelta(days=30),
    )
    log(f"  {n} accounts")

    # Memberships and credit access: a mix of disabled, unlimited and quotas.
    first_membership = _reserve_ids(Membership, n)
    first_access = _reserve_ids(CreditAccess, n)
    members: list[_Member] = []
    membership_rows = []
    for i in range(n):
        membership_rows.append(
            (
                first_membership + i,
                org.pk,
                first_account + i,
                "admin" if i == 0 else "member",
                account_rows[i][10],
            )
        )
        member = _Member(first_account + i, first_membership + i, first_access + i, scale.email(i))
        draw = rng.random()
        if i == 0 or draw < 0.15:
            member.mode = "unlimited"
        elif draw < 0.45:
            member.mode, member.period = "quota", "monthly"
            member.limit = Decimal(rng.choice([200, 500, 1000, 2000]))
        elif draw < 0.60:
            member.mode, member.period = "quota", "none"
            member.limit = Decimal(rng.choice([1000, 2000, 5000, 10000]))
        members.append(member)
    _copy(
        Membership,
        ["id", "organization_id", "account_id", "role", "created_at"],
        membership_rows,
    )
    log(f"  {n} memberships")

    # Seats: several products, mostly assigned, a few ended.
    products = []
    for code, name, price in PRODUCTS:
        product, _ = Product.objects.get_or_create(
            code=code, defaults={"name": name, "price": price}
        )
        products.append(product)
    # Seats arrive as the portal sells them: in orders of 5 to 200 seats of one product, all
    # the seats of an order sharing one validity window (some perpetual, a few ended).
    seat_rows = []
    per_product = [scale.seats // len(products)] * len(products)
    per_product[0] += scale.seats - sum(per_product)
    for product, count in zip(products, per_product, strict=True):
        holders = iter(rng.sample(range(n), min(n, count)))
        left = count
        while left > 0:
            quantity = min(left, rng.choice([5, 10, 20, 25, 50, 100, 200]))
            left -= quantity
            starts = history_start + timedelta(days=rng.randrange(0, 300))
            draw = rng.random()
            term = None if draw < 0.05 else rng.choice([365, 730])
            ended = draw > 0.97
            if ended:
                term = 365
                starts = now - timedelta(days=365 + rng.randrange(1, 60))
            ends = starts + timedelta(days=term) if term else None
            order = Order.objects.create(
                buyer_id=admin_id, organization=org, status="paid", created_at=starts
            )
            line = OrderLine.objects.create(
                order=order,
                item=OrderLine.Item.SEATS,
                product_code=product.code,
                description=product.name,
                quantity=quantity,
                term_days=term,
                unit_price=product.price,
            )
            for _ in range(quantity):
                assignee = assigned_at = None
                if not ended and rng.random() < 0.88:
                    holder = next(holders, None)
                    if holder is not None:
                        assignee = first_membership + holder
                        assigned_at = starts + timedelta(days=rng.randrange(0, 30))
                seat_rows.append(
                    (
                        product.pk,
                        org.pk,
                        None,
                        "commercial",
                        starts,
                        ends,
                        None,
                        assignee,
                        assigned_at,
                        line.pk,
                        starts,
                    )
                )
    _copy(
        License,
        [
            "product_id",
            "organization_id",
            "account_id",
            "kind",
            "starts_at",
            "ends_at",
            "cancelled_at",
            "assignee_id",
            "assigned_at",
            "order_line_id",
            "created_at",
        ],
        seat_rows,
    )
    log(f"  {len(seat_rows)} seats")

    # Invitations: some pending (a few expired), more accepted or cancelled.
    invitation_rows = []
    for j in range(max(2, n // 25)):
        created = now - timedelta(days=rng.randrange(0, 120), seconds=rng.randrange(86400))
        state = rng.choices(["pending", "accepted", "cancelled"], [4, 5, 1])[0]
        invitation_rows.append(
            (
                org.pk,
                f"invitee{j:06d}@guests{scale.tag}.example.com",
                hashlib.sha256(secrets.token_bytes(32)).hexdigest(),
                state,
                admin_id,
                created,
                created,
                created + timedelta(days=7),
                created + timedelta(days=1) if state == "accepted" else None,
                None,
            )
        )
    _copy(
        Invitation,
        [
            "organization_id",
            "email",
            "token_hash",
            "state",
            "invited_by_id",
            "created_at",
            "sent_at",
            "expires_at",
            "accepted_at",
            "accepted_account_id",
        ],
        invitation_rows,
    )
    log(f"  {len(invitation_rows)} invitations")

    audit_rows = []

    def audit(moment, action, target, details, actor=admin_id, channel="portal"):
        audit_rows.append((actor, channel, org.pk, action, target, json.dumps(details), moment))

    audit(org.created_at, "organization.created", org.name, {})
    for i in range(1, n):
        audit(membership_rows[i][4], "member.added", scale.email(i), {"role": "member"})
    for row in seat_rows:
        if row[7] is not None:
            email = members[row[7] - first_membership].email
            audit(row[8], "seat.assigned", email, {"product": row[0]})
    for member in members:
        if member.mode != "disabled":
            audit(
                history_start,
                "credit_access.changed",
                member.email,
                {"from": {"mode": "disabled"}, "to": {"mode": member.mode}},
            )

    audit_rows.sort(key=lambda row: row[6])
    _copy(
        AuditEvent,
        ["actor_id", "channel", "organization_id", "action", "target", "details", "created_at"],
        audit_rows,
    )
    log(f"  {len(audit_rows)} audit events")
    return org, members


def _accesses(org, members, now, history_start, log) -> None:
    """Credit access rows with their cached usage (R22) for the current period."""
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    access_rows = []
    for member in members:
        if member.period == "monthly":
            used = member.usage.get(f"{now:%Y-%m}", ZERO)
            period_start = month_start
        else:
            used = member.usage.get("all", ZERO)
            period_start = None
        if member.mode == "disabled":
            used, period_start = ZERO, None
        level = 0
        if member.limit is not None:
            level = 100 if used >= member.limit else 80 if used * 5 >= member.limit * 4 else 0
        access_rows.append(
            (
                member.access_id,
                member.membership_id,
                member.account_id,
                org.pk,
                member.mode,
                member.limit,
                member.period,
                period_start,
                used,
                level,
                history_start,
            )
        )
    _copy(
        CreditAccess,
        [
            "id",
            "membership_id",
            "account_id",
            "organization_id",
            "mode",
            "limit",
            "period",
            "period_start",
            "used",
            "alert_level",
            "updated_at",
        ],
        access_rows,
    )
    log(f"  {len(access_rows)} credit accesses")


def _money(cents: int) -> str:
    """Cents as the text COPY reads into a numeric column."""
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{cents // 100}.{cents % 100:02d}"


class _Stream:
    """Rows for several tables, written as COPY text in chunks: memory stays flat however
    long the ledger is. Each chunk is its own transaction, so that PostgreSQL's deferred
    foreign-key checks (Django's constraints are DEFERRABLE INITIALLY DEFERRED) are queued
    for one chunk at a time rather than for ten million rows."""

    TABLES = {
        "entries": (
            LedgerEntry,
            "id wallet_id kind amount account_id organization_id reference refund_of_id "
            "available_after quota_limit quota_used_after actor_id note created_at hold_id",
        ),
        "movements": (LotMovement, "entry_id lot_id amount"),
        "lots": (
            Lot,
            "id wallet_id origin amount remaining arrived_at expires_at entry_id expired_entry_id",
        ),
        "holds": (
            Hold,
            "id reference account_id wallet_id organization_id opening_amount amount status "
            "captured period_start opened_at expires_at settled_at capture_requested "
            "settled_available_after release_reason",
        ),
        "audit": (
            AuditEvent,
            "actor_id channel organization_id action target details created_at",
        ),
    }
    ORDER = ("lots", "holds", "entries", "movements", "audit")

    def __init__(self, chunk_entries: int = 200_000):
        self.chunk_entries = chunk_entries
        self.lines = {name: [] for name in self.TABLES}
        self.entries = 0
        self.unchecked = _may_skip_triggers()

    def add(self, table: str, *values) -> None:
        self.lines[table].append("\t".join("\\N" if v is None else str(v) for v in values) + "\n")
        if table == "entries":
            self.entries += 1
            if self.entries % self.chunk_entries == 0:
                self.flush()

    def flush(self) -> None:
        with transaction.atomic():
            if self.unchecked:
                # As pg_restore --disable-triggers does: the rows are consistent by
                # construction (verify_ledger checks them afterwards), and checking eleven
                # foreign keys per ledger entry one row at a time would triple the time.
                # The ledger's tables have no triggers of their own.
                with connection.cursor() as cur:
                    cur.execute("SET LOCAL session_replication_role = replica")
            raw = connection.connection
            for name in self.ORDER:
                lines = self.lines[name]
                if not lines:
                    continue
                model, columns = self.TABLES[name]
                statement, extra = _copy_statement(model, columns.split())
                if extra:
                    raise ValueError(f"{model.__name__}: give {statement} every column")
                with raw.cursor() as cur, cur.copy(statement) as copy:
                    for start in range(0, len(lines), 10_000):
                        copy.write("".join(lines[start : start + 10_000]))
                lines.clear()


def _may_skip_triggers() -> bool:
    """Whether this role may set session_replication_role (a superuser, or on PostgreSQL 15
    and later a role granted it: benchmarks/run.sh grants it on the benchmark database)."""
    try:
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute("SELECT has_parameter_privilege('session_replication_role', 'SET')")
            return bool(cur.fetchone()[0])
    except DatabaseError:
        return False


HOLD_RATE = 0.03  # consumptions of unlimited members that go through a hold and its capture
OPEN_HOLDS = 40  # holds still open at the end (render jobs running now)


def _ledger(scale, org, members, now, history_start, rng, log) -> int:
    """A year of the pool, streamed in time order: weekly purchases, consumptions by enabled
    members (refused ones leave no trace, R25), some of them held first and captured (R35),
    about one refund in a hundred, a few holds still open. Amounts are whole cents in Python
    and text for COPY. Returns the final balance in cents."""
    wallet = Wallet.objects.create(organization=org, balance=ZERO)
    spenders = [m for m in members if m.mode != "disabled"]
    if not spenders:
        return 0
    admin_id = org.administrator_id
    total = scale.ledger
    purchases = max(2, min(52, total // 100))
    # Entry times spread evenly over the year, in id order.
    span = (now - timedelta(minutes=5) - history_start).total_seconds()
    step = span / (total + 3 * OPEN_HOLDS)
    first_entry = _reserve_ids(LedgerEntry, total + 3 * OPEN_HOLDS)
    spare_lots = purchases * 2 + 50
    first_lot = _reserve_ids(Lot, spare_lots)
    lot_ids = iter(range(first_lot, first_lot + spare_lots))
    # At most one hold per consumption drawn; ids left over are a harmless gap.
    hold_budget = int(total * HOLD_RATE) + OPEN_HOLDS + 10
    first_hold = _reserve_ids(Hold, hold_budget)
    hold_ids = iter(range(first_hold, first_hold + hold_budget))
    weekly = 1025 * total // purchases + 100  # cents: about 10.25 credits per consumption
    stream = _Stream()
    open_lots: list[int] = []  # burn order (R23): every lot lasts 365 days, so by id
    remaining: dict[int, int] = {}
    lot_amounts: dict[int, int] = {}
    balance = 0
    entry_id = first_entry
    purchase_every = total // purchases
    wallet_id, org_id = wallet.pk, org.pk
    unlimited = [m for m in spenders if m.mode == "unlimited"]
    for m in spenders:
        m.usage = {k: int(v * 100) for k, v in m.usage.items()}

    def at(index: int) -> str:
        return (history_start + timedelta(seconds=step * index)).isoformat()

    def entry(kind, cents, account, reference=None, refund_of=None, available=None,
              limit=None, used=None, actor=None, note="", hold=None) -> int:  # fmt: skip
        nonlocal entry_id
        moment = at(entry_id - first_entry)
        stream.add(
            "entries", entry_id, wallet_id, kind, _money(cents), account, org_id, reference,
            refund_of, available, limit, used, actor, note, moment, hold,
        )  # fmt: skip
        entry_id += 1
        return entry_id - 1

    def take(entry_number: int, cents: int) -> list[tuple[int, int]]:
        taken = []
        while cents > 0:
            lot_id = open_lots[0]
            part = min(remaining[lot_id], cents)
            remaining[lot_id] -= part
            cents -= part
            stream.add("movements", entry_number, lot_id, _money(-part))
            taken.append((lot_id, part))
            if remaining[lot_id] == 0:
                open_lots.pop(0)
        return taken

    def give_back(entry_number: int, taken, cents: int) -> None:
        """R26: back to the lots it came from, the last lot drawn first."""
        for lot_id, took in reversed(taken):
            if cents <= 0:
                break
            part = min(took, cents)
            stream.add("movements", entry_number, lot_id, _money(part))
            if remaining[lot_id] == 0:
                bisect.insort(open_lots, lot_id)
            remaining[lot_id] += part
            cents -= part

    def buy(cents: int) -> None:
        nonlocal balance
        lot_id = next(lot_ids)
        moment = at(entry_id - first_entry)
        number = entry("purchase", cents, None, actor=admin_id, note=f"Order scale-{lot_id}")
        arrived = history_start + timedelta(seconds=step * (number - first_entry))
        expires = (arrived + timedelta(days=365)).isoformat()
        # Written with remaining = amount; the final figures are set once the year is done.
        stream.add("lots", lot_id, wallet_id, "purchase", _money(cents), _money(cents),
                   moment, expires, number, None)  # fmt: skip
        open_lots.append(lot_id)
        remaining[lot_id] = lot_amounts[lot_id] = cents
        balance += cents
        stream.add("audit", admin_id, "portal", org_id, "credits.purchase", org.name,
                   f'{{"amount": "{_money(cents)}", "lot": {lot_id}}}', moment)  # fmt: skip

    def hold(member, cents, reference, *, capture: bool) -> None:
        nonlocal balance
        hold_id = next(hold_ids)
        opened = at(entry_id - first_entry)
        number = entry("hold", -cents, member.account_id, available=_money(balance - cents),
                       hold=hold_id)  # fmt: skip
        taken = take(number, cents)
        audit_details = (
            f'{{"account": "{member.email}", "amount": "{_money(cents)}", '
            '"source": "organization"}'
        )
        stream.add("audit", None, "api", org_id, "credits.held", reference, audit_details, opened)
        expires = (
            history_start + timedelta(seconds=step * (number - first_entry), hours=12)
        ).isoformat()
        if not capture:
            balance -= cents
            member.usage["all"] = member.usage.get("all", 0) + cents
            stream.add("holds", hold_id, reference, member.account_id, wallet_id, org_id,
                       _money(cents), _money(cents), "open", None, None, opened,
                       (now + timedelta(days=1)).isoformat(), None, None, None, "")  # fmt: skip
            return
        captured = max(10, cents * rng.randrange(30, 101) // 100)
        settled = at(entry_id - first_entry)
        back = entry("release", cents, member.account_id, hold=hold_id)
        give_back(back, taken, cents)
        used = entry("consumption", -captured, member.account_id, reference=reference,
                     hold=hold_id)  # fmt: skip
        take(used, captured)
        balance -= captured
        member.usage["all"] = member.usage.get("all", 0) + captured
        stream.add("holds", hold_id, reference, member.account_id, wallet_id, org_id,
                   _money(cents), _money(cents), "captured", _money(captured), None, opened,
                   expires, settled, _money(captured), _money(balance), "")  # fmt: skip
        details = (
            f'{{"account": "{member.email}", "held": "{_money(cents)}", '
            f'"captured": "{_money(captured)}"}}'
        )
        stream.add("audit", None, "api", org_id, "credits.hold_captured", reference, details,
                   settled)  # fmt: skip

    last = first_entry + total  # the open holds come after
    i = 0
    while entry_id < last:
        written = entry_id - first_entry
        if i % purchase_every == 0 and entry_id + 1 < last:
            buy(weekly)
            i += 1
            continue
        i += 1
        cents = min(50_000, max(10, int(rng.lognormvariate(1.9, 0.8) * 100)))
        if cents > balance:
            buy(weekly)
            continue
        member = rng.choice(spenders)
        reference = f"scale{scale.tag}-job-{entry_id}"
        if member.mode == "unlimited" and entry_id + 3 < last and rng.random() < HOLD_RATE:
            hold(member, cents, reference, capture=True)
            continue
        moment = at(written)
        key = f"{moment[:7]}" if member.period == "monthly" else "all"
        used = member.usage.get(key, 0)
        limit = None if member.limit is None else int(member.limit * 100)
        if member.mode == "quota" and used + cents > limit:
            member = spenders[0]  # the administrator, unlimited; the refused call left nothing
            key, used, limit = "all", member.usage.get("all", 0), None
        used_after = used + cents
        pool_after = balance - cents
        available = min(limit - used_after, pool_after) if limit is not None else pool_after
        number = entry(
            "consumption", -cents, member.account_id, reference=reference,
            available=_money(available),
            limit=_money(limit) if limit is not None else None,
            used=_money(used_after) if limit is not None else None,
        )  # fmt: skip
        taken = take(number, cents)
        balance = pool_after
        member.usage[key] = used_after
        stream.add("audit", None, "api", org_id, "credits.consumed", reference,
                   f'{{"account": "{member.email}", "amount": "{_money(cents)}", '
                   '"source": "organization"}', moment)  # fmt: skip
        if entry_id < last and rng.random() < 0.01:
            back = cents if rng.random() < 0.6 else max(1, cents // 2)
            refund = entry("refund", back, member.account_id, refund_of=number)
            give_back(refund, taken, back)
            balance += back
            member.usage[key] -= back
            stream.add("audit", None, "api", org_id, "credits.refunded", reference,
                       f'{{"account": "{member.email}", "amount": "{_money(back)}"}}',
                       at(refund - first_entry))  # fmt: skip
        if written and written % 1_000_000 == 0:
            log(f"  {written:,} ledger entries")
    # Render jobs running now: their holds are open until they end (R35).
    for n in range(OPEN_HOLDS):
        member = unlimited[n % len(unlimited)]
        hold(member, 500 + 100 * n, f"scale{scale.tag}-running-{n}", capture=False)
    stream.flush()
    with connection.cursor() as cur:
        # The lots' final remaining amounts, in one statement.
        cur.execute(
            "UPDATE credits_lot l SET remaining = u.remaining / 100.0 "
            "FROM unnest(%s::bigint[], %s::bigint[]) AS u(id, remaining) WHERE l.id = u.id",
            [list(remaining), list(remaining.values())],
        )
    Wallet.objects.filter(pk=wallet.pk).update(balance=Decimal(balance) / 100)
    for m in spenders:
        m.usage = {k: Decimal(v) / 100 for k, v in m.usage.items()}
    log(f"  {stream.entries:,} ledger entries, {len(remaining)} lots; pool {_money(balance)}")
    return balance
