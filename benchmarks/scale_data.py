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
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.contrib.auth.hashers import make_password
from django.db import connection, transaction

from billing.models import Order, OrderLine
from credits.models import (
    CreditAccess,
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


def _copy(model, columns: list[str], rows) -> int:
    """COPY rows (tuples in the order of `columns`, given as attnames) into the model's table."""
    fields = {f.attname: f.column for f in model._meta.concrete_fields}
    cols = ", ".join(f'"{fields[c]}"' for c in columns)
    count = 0
    raw = connection.connection
    statement = f'COPY "{model._meta.db_table}" ({cols}) FROM STDIN'
    with raw.cursor() as cur, cur.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)
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


def _period_key(member: _Member, moment: datetime) -> str:
    return f"{moment:%Y-%m}" if member.period == "monthly" else "all"


def generate(scale: Scale, *, now: datetime | None = None, log=print) -> Organization:
    """Write one organization of `scale` unless it is already there."""
    existing = organization_for(scale)
    if existing is not None:
        log(f"organization {scale.customer_number} already there ({scale.members} members)")
        return existing
    now = now or datetime.now(UTC)
    rng = random.Random(scale.tag * 7919 + scale.members)
    started = time.monotonic()
    with transaction.atomic():
        org = _generate(scale, now, rng, log)
        # The chart's usage rollups, added up from the ledger just written (the services
        # keep them for every later consumption and refund).
        usage_rollups_rebuild()
    log(f"organization {scale.customer_number}: done in {time.monotonic() - started:.1f}s")
    vacuum()
    return org


def vacuum() -> None:
    """Statistics for the planner, and the visibility map that lets counts run from an
    index alone (autovacuum would get there too, later)."""
    models = (Account, Membership, CreditAccess, License, LedgerEntry, LotMovement, Lot)
    with connection.cursor() as cur:
        for model in (*models, AuditEvent, Invitation, Wallet, PoolUsageDay, MemberUsageMonth):
            cur.execute(f'VACUUM ANALYZE "{model._meta.db_table}"')


def _generate(scale: Scale, now: datetime, rng: random.Random, log) -> Organization:
    history_start = now - timedelta(days=360)
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
        name=f"Scale Studio {scale.members}",
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

    balance = _ledger(scale, org, members, now, history_start, rng, audit, log)

    # Credit access rows with their cached usage (R22) for the current period.
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
    log(f"  {n} credit accesses; pool balance {balance}")

    audit_rows.sort(key=lambda row: row[6])
    _copy(
        AuditEvent,
        ["actor_id", "channel", "organization_id", "action", "target", "details", "created_at"],
        audit_rows,
    )
    log(f"  {len(audit_rows)} audit events")
    return org


def _ledger(scale, org, members, now, history_start, rng, audit, log) -> Decimal:
    """A year of the pool: weekly purchases, consumptions by enabled members (refused ones
    leave no trace, R25), about one refund in a hundred. Returns the final balance."""
    wallet = Wallet.objects.create(organization=org, balance=ZERO)
    spenders = [m for m in members if m.mode != "disabled"]
    if not spenders:
        return ZERO
    total = scale.ledger
    purchases = max(2, min(52, total // 100))
    consumptions = total - purchases
    refund_rate = 0.01
    # Entry times spread evenly over the year, in order.
    span = (now - timedelta(minutes=5) - history_start).total_seconds()
    step = span / total
    first_entry = _reserve_ids(LedgerEntry, total)
    spare_lots = purchases + total // 500 + 50
    first_lot = _reserve_ids(Lot, spare_lots)
    lot_ids = iter(range(first_lot, first_lot + spare_lots))
    mean_amount = Decimal("10.25")
    weekly = (mean_amount * consumptions / purchases).quantize(Decimal("1")) + 1

    entries, movements, lots = [], [], []
    # Every lot expires 365 days after it arrived, so the burn order (R23: soonest expiry,
    # then oldest arrival, then id) is the order of the ids.
    open_lots: list[int] = []
    lot_remaining: dict[int, Decimal] = {}
    balance = ZERO
    entry_id = first_entry
    written = 0
    purchase_every = total // purchases

    def buy(moment, amount):
        nonlocal balance, entry_id, written
        lot_id = next(lot_ids)
        entries.append(
            (
                entry_id, wallet.pk, "purchase", amount, None, org.pk, None, None,
                None, None, None, org.administrator_id, f"Order scale-{lot_id}", moment,
            )
        )  # fmt: skip
        lots.append(
            (
                lot_id, wallet.pk, "purchase", amount, moment,
                moment + timedelta(days=365), entry_id, None,
            )
        )  # fmt: skip
        open_lots.append(lot_id)
        lot_remaining[lot_id] = amount
        balance += amount
        audit(moment, "credits.purchase", org.name, {"amount": f"{amount}", "lot": lot_id})
        entry_id += 1
        written += 1

    i = 0
    while written < total:
        moment = history_start + timedelta(seconds=step * written)
        if i % purchase_every == 0 and written + 1 < total:
            buy(moment, Decimal(weekly))
            i += 1
            continue
        i += 1
        amount = (Decimal(rng.lognormvariate(1.9, 0.8)).quantize(CENT)).max(Decimal("0.10"))
        amount = min(amount, Decimal("500.00"))
        member = rng.choice(spenders)
        key = _period_key(member, moment)
        used = member.usage.get(key, ZERO)
        if member.mode == "quota" and used + amount > member.limit:
            member = spenders[0]  # the administrator, unlimited; the refused call left nothing
            key, used = "all", member.usage.get("all", ZERO)
        if amount > balance:
            buy(moment, Decimal(weekly))
            continue
        used_after = used + amount
        pool_after = balance - amount
        is_quota = member.mode == "quota"
        available_after = min(member.limit - used_after, pool_after) if is_quota else pool_after
        reference = f"scale{scale.tag}-job-{entry_id}"
        entries.append(
            (
                entry_id, wallet.pk, "consumption", -amount, member.account_id, org.pk,
                reference, None, available_after, member.limit if is_quota else None,
                used_after if is_quota else None, None, "", moment,
            )
        )  # fmt: skip
        consumption_id = entry_id
        taken = []
        left = amount
        while left > 0:
            lot_id = open_lots[0]
            take = min(lot_remaining[lot_id], left)
            lot_remaining[lot_id] -= take
            left -= take
            movements.append((consumption_id, lot_id, -take))
            taken.append((lot_id, take))
            if lot_remaining[lot_id] == 0:
                open_lots.pop(0)
        balance = pool_after
        member.usage[key] = used_after
        audit(
            moment,
            "credits.consumed",
            reference,
            {"account": member.email, "amount": f"{amount}", "source": "organization"},
            actor=None,
            channel="api",
        )
        entry_id += 1
        written += 1
        if written < total and rng.random() < refund_rate:
            # R26: part or all back, to the lots it came from, the last lot drawn first.
            back = amount if rng.random() < 0.6 else (amount / 2).quantize(CENT)
            back = back.max(CENT)
            later = moment + timedelta(seconds=step / 2)
            entries.append(
                (
                    entry_id, wallet.pk, "refund", back, member.account_id, org.pk, None,
                    consumption_id, None, None, None, None, "", later,
                )
            )  # fmt: skip
            left = back
            for lot_id, took in reversed(taken):
                if left <= 0:
                    break
                give = min(took, left)
                movements.append((entry_id, lot_id, give))
                if lot_remaining[lot_id] == 0:
                    bisect.insort(open_lots, lot_id)
                lot_remaining[lot_id] += give
                left -= give
            balance += back
            member.usage[key] = member.usage[key] - back
            audit(
                later,
                "credits.refunded",
                reference,
                {"account": member.email, "amount": f"{back}"},
                actor=None,
                channel="api",
            )
            entry_id += 1
            written += 1

    # Lots were created with remaining = amount; store the final remaining instead.
    lots = [(*row[:3], row[3], lot_remaining[row[0]], *row[4:]) for row in lots]
    _copy(
        LedgerEntry,
        [
            "id",
            "wallet_id",
            "kind",
            "amount",
            "account_id",
            "organization_id",
            "reference",
            "refund_of_id",
            "available_after",
            "quota_limit",
            "quota_used_after",
            "actor_id",
            "note",
            "created_at",
        ],
        entries,
    )
    _copy(
        Lot,
        [
            "id",
            "wallet_id",
            "origin",
            "amount",
            "remaining",
            "arrived_at",
            "expires_at",
            "entry_id",
            "expired_entry_id",
        ],
        lots,
    )
    _copy(LotMovement, ["entry_id", "lot_id", "amount"], movements)
    Wallet.objects.filter(pk=wallet.pk).update(balance=balance)
    log(f"  {len(entries)} ledger entries, {len(lots)} lots, {len(movements)} lot movements")
    return balance
