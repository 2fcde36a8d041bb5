"""The consumption's SQL without Django: the yardstick of the throughput budget.

`consume` runs the statements that `credits.services.credits_consume` sends for a pool
consumption by an unlimited member, in the same order and the same transaction shape: the
lookups before the lock (reference, personal credits, access), then the locked section. Only
the Python around them is gone: no HTTP, no ORM, no token check, no account lookup.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import psycopg
from psycopg.types.json import Jsonb


def dsn_from_settings(database: dict) -> str:
    return psycopg.conninfo.make_conninfo(
        dbname=database["NAME"],
        user=database["USER"],
        password=database["PASSWORD"],
        host=database["HOST"] or "127.0.0.1",
        port=str(database["PORT"] or 5432),
    )


def connect(dsn: str):
    return psycopg.connect(dsn, autocommit=False, prepare_threshold=None)


@dataclass(frozen=True)
class Plan:
    account_id: int
    email: str
    organization_id: int


def prepare(organization, access) -> Plan:
    return Plan(access.account_id, access.account.email, organization.pk)


def consume(conn, plan: Plan, amount: Decimal, reference: str) -> bool:
    """One consumption; False when the pool refuses it (nothing written)."""
    now = datetime.now(UTC)
    cur = conn.cursor()
    cur.execute("SELECT id FROM credits_ledgerentry WHERE reference = %s LIMIT 1", [reference])
    cur.fetchone()
    cur.execute(
        "SELECT l.wallet_id FROM credits_lot l JOIN credits_wallet w ON l.wallet_id = w.id "
        "WHERE l.remaining > 0 AND w.account_id = %s "
        "AND (l.expires_at IS NULL OR l.expires_at > %s) LIMIT 1",
        [plan.account_id, now],
    )
    cur.fetchone()
    cur.execute(
        "SELECT a.id, a.mode, a.limit, a.period, a.period_start, a.used, a.alert_level, "
        "w.id FROM credits_creditaccess a JOIN credits_wallet w "
        "ON w.organization_id = a.organization_id "
        "WHERE a.account_id = %s AND NOT (a.mode = 'disabled') LIMIT 1",
        [plan.account_id],
    )
    access_id, _mode, _limit, _period, _start, used, _level, wallet_id = cur.fetchone()
    conn.commit()
    # The locked section.
    cur.execute(
        "SELECT balance, low_balance_alerted FROM credits_wallet WHERE id = %s FOR UPDATE",
        [wallet_id],
    )
    balance, _alerted = cur.fetchone()
    cur.execute("SELECT used FROM credits_creditaccess WHERE id = %s FOR UPDATE", [access_id])
    (used,) = cur.fetchone()
    cur.execute(
        "SELECT id, remaining, expires_at, arrived_at FROM credits_lot "
        "WHERE remaining > 0 AND wallet_id = %s AND (expires_at IS NULL OR expires_at > %s) "
        "ORDER BY id FOR UPDATE",
        [wallet_id, now],
    )
    lots = sorted(cur.fetchall(), key=lambda lot: (lot[2] or now, lot[3], lot[0]))
    pool = sum((lot[1] for lot in lots), Decimal("0.00"))
    if amount > pool:
        conn.rollback()
        return False
    cur.execute(
        "INSERT INTO credits_ledgerentry (wallet_id, kind, amount, account_id, organization_id, "
        "reference, available_after, note, created_at) "
        "VALUES (%s, 'consumption', %s, %s, %s, %s, %s, '', %s) RETURNING id",
        [wallet_id, -amount, plan.account_id, plan.organization_id, reference, pool - amount, now],
    )
    (entry_id,) = cur.fetchone()
    left = amount
    taken = []
    for lot_id, remaining, _expires, _arrived in lots:
        if left <= 0:
            break
        take = min(remaining, left)
        taken.append((lot_id, take))
        left -= take
    cur.executemany(
        "INSERT INTO credits_lotmovement (entry_id, lot_id, amount) VALUES (%s, %s, %s)",
        [(entry_id, lot_id, -take) for lot_id, take in taken],
    )
    for lot_id, take in taken:
        cur.execute(
            "UPDATE credits_lot SET remaining = remaining - %s WHERE id = %s", [take, lot_id]
        )
    cur.execute(
        "UPDATE credits_wallet SET balance = %s WHERE id = %s", [balance - amount, wallet_id]
    )
    cur.execute(
        "UPDATE credits_creditaccess SET used = %s, period_start = NULL, alert_level = 0 "
        "WHERE id = %s",
        [used + amount, access_id],
    )
    cur.execute(
        "INSERT INTO portal_auditevent (actor_id, channel, organization_id, action, target, "
        "details, created_at) VALUES (NULL, 'api', %s, 'credits.consumed', %s, %s, %s)",
        [
            plan.organization_id,
            reference,
            Jsonb({"account": plan.email, "amount": f"{amount}", "source": "organization"}),
            now,
        ],
    )
    conn.commit()
    return True
