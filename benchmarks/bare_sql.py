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


def dsn_from_settings(database: dict) -> str:
    return psycopg.conninfo.make_conninfo(
        dbname=database["NAME"],
        user=database["USER"],
        password=database["PASSWORD"],
        host=database["HOST"] or "127.0.0.1",
        port=str(database["PORT"] or 5432),
    )


def connect(dsn: str):
    return psycopg.connect(dsn, autocommit=True)


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
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    cur = conn.execute(
        "SELECT outcome FROM credits_consume(%s, %s, %s, %s, %s, %s, %s)",
        [plan.email, amount, reference, now, month_start, "api", None],
    )
    (outcome,) = cur.fetchone()
    if outcome == "created":
        return True
    if outcome in ("insufficient_pool", "quota_exceeded"):
        return False
    raise RuntimeError(f"unexpected outcome {outcome}")
