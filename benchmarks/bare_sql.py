"""The consumption's SQL without Django: the yardstick of the throughput budget.

`consume` runs the one statement the endpoint sends on PostgreSQL for a consumption: the
`credits_consume` function with the same arguments, the bearer token's hash and scope
included (the function checks the token, looks the account up, then takes the locks). Only
the Python around it is gone: no HTTP, no Django.
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
    email: str
    token_digest: str
    scope: str


def prepare(access, token: str) -> Plan:
    from portal.api import token_hash
    from portal.models import Scope

    return Plan(access.account.email, token_hash(token), Scope.CREDITS_CONSUME)


def consume(conn, plan: Plan, amount: Decimal, reference: str) -> bool:
    """One consumption; False when the pool refuses it (nothing written)."""
    now = datetime.now(UTC)
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    cur = conn.execute(
        "SELECT outcome FROM credits_consume(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        [
            plan.email,
            amount,
            reference,
            now,
            month_start,
            "api",
            None,
            plan.token_digest,
            plan.scope,
            None,  # no hold: a consumption
        ],
    )
    (outcome,) = cur.fetchone()
    if outcome == "created":
        return True
    if outcome in ("insufficient_pool", "quota_exceeded"):
        return False
    raise RuntimeError(f"unexpected outcome {outcome}")
