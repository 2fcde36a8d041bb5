"""Holds (R35-R37) beside bare SQL: a hold followed by its capture, 8 clients on one pool.

Three sides, each draining the same pool (the large organization's) with 8 client processes,
each holding and then capturing for its own unlimited member until the pool refuses a hold:

- HTTP: `POST /api/v1/credits/holds` then `POST /api/v1/credits/holds/{reference}/capture`
  on gunicorn (production settings), as a render farm sends them.
- Own statements, bare: the two statements those endpoints send (`credits_consume` with an
  expiry, then `credits_hold_change('capture')`), through psycopg, no Django.
- Smallest bare SQL: a hand-written transaction per step doing the same bookkeeping with plain
  statements (wallet, lots, hold row, ledger entries with their lot movements, caches), no
  functions.
- pgbench: the smallest bare SQL transaction of SPEC "Performance" (lock the balance row,
  insert a ledger row with a unique reference, update the balance; `benchmarks.smallest`),
  `pgbench -n -c 8 -j 2 -T <seconds>` on the same pool's wallet row.

A pair (hold + capture of half of it) is one success; throughput is pairs per second. A pair
is two of those transactions (the hold's, the capture's), so the pgbench yardstick is its
transactions per second halved: pairs that pgbench's smallest transactions would make. The
budget (SPEC "Performance"): the endpoints do at least half of pgbench's pairs and at least
half of their own statements called bare.

Run alone: `python -m benchmarks.holds` with the environment of benchmarks/run.sh
(`make bench` runs it after benchmarks.bench).
"""

import argparse
import http.client
import json
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import django

HALF = Decimal("0.5")
BUDGET_RATIO = 0.5


def _month_start(now):
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _own_pair(conn, plan, amount, reference) -> bool:
    """The endpoints' two statements, bare."""
    now = datetime.now(UTC)
    (outcome,) = conn.execute(
        "SELECT outcome FROM credits_consume(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        [
            plan.email,
            amount,
            reference,
            now,
            _month_start(now),
            "api",
            None,
            plan.token_digest,
            plan.scope,
            now + timedelta(hours=1),
        ],
    ).fetchone()
    if outcome != "created":
        return False
    now = datetime.now(UTC)
    (outcome,) = conn.execute(
        "SELECT outcome FROM credits_hold_change(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        [
            "capture",
            reference,
            (amount * HALF).quantize(Decimal("0.01")),
            now,
            _month_start(now),
            "api",
            None,
            plan.token_digest,
            plan.scope,
            "",
        ],
    ).fetchone()
    assert outcome == "captured", outcome
    return True


def _bare_pair(conn, ids, amount, reference) -> bool:
    """The smallest transactions that keep the same books: no functions, no checks beyond
    the pool's (the member is unlimited), one lot per step when one suffices."""
    account_id, wallet_id, org_id = ids
    now = datetime.now(UTC)
    with conn.transaction():
        conn.execute("SELECT 1 FROM credits_wallet WHERE id = %s FOR UPDATE", [wallet_id])
        lot = conn.execute(
            "SELECT id, remaining FROM credits_lot WHERE wallet_id = %s AND remaining >= %s "
            "AND (expires_at IS NULL OR expires_at > %s) "
            "ORDER BY expires_at NULLS LAST, arrived_at, id LIMIT 1 FOR UPDATE",
            [wallet_id, amount, now],
        ).fetchone()
        if lot is None:
            return False
        (hold_id,) = conn.execute(
            "INSERT INTO credits_hold (reference, account_id, wallet_id, organization_id, "
            "opening_amount, amount, status, opened_at, expires_at, release_reason) "
            "VALUES (%s, %s, %s, %s, %s, %s, 'open', %s, %s, '') RETURNING id",
            [
                reference,
                account_id,
                wallet_id,
                org_id,
                amount,
                amount,
                now,
                now + timedelta(hours=1),
            ],
        ).fetchone()
        (entry,) = conn.execute(
            "INSERT INTO credits_ledgerentry (wallet_id, kind, amount, account_id, "
            "organization_id, note, created_at, hold_id) "
            "VALUES (%s, 'hold', %s, %s, %s, '', %s, %s) RETURNING id",
            [wallet_id, -amount, account_id, org_id, now, hold_id],
        ).fetchone()
        conn.execute(
            "INSERT INTO credits_lotmovement (entry_id, lot_id, amount) VALUES (%s, %s, %s)",
            [entry, lot[0], -amount],
        )
        conn.execute(
            "UPDATE credits_lot SET remaining = remaining - %s WHERE id = %s", [amount, lot[0]]
        )
        conn.execute(
            "UPDATE credits_wallet SET balance = balance - %s WHERE id = %s", [amount, wallet_id]
        )
        conn.execute(
            "UPDATE credits_creditaccess SET used = used + %s "
            "WHERE account_id = %s AND organization_id = %s",
            [amount, account_id, org_id],
        )
    captured = (amount * HALF).quantize(Decimal("0.01"))
    now = datetime.now(UTC)
    with conn.transaction():
        conn.execute("SELECT 1 FROM credits_wallet WHERE id = %s FOR UPDATE", [wallet_id])
        conn.execute("SELECT 1 FROM credits_hold WHERE id = %s FOR UPDATE", [hold_id])
        conn.execute("SELECT 1 FROM credits_lot WHERE id = %s FOR UPDATE", [lot[0]])
        (back,) = conn.execute(
            "INSERT INTO credits_ledgerentry (wallet_id, kind, amount, account_id, "
            "organization_id, note, created_at, hold_id) "
            "VALUES (%s, 'release', %s, %s, %s, '', %s, %s) RETURNING id",
            [wallet_id, amount, account_id, org_id, now, hold_id],
        ).fetchone()
        (used,) = conn.execute(
            "INSERT INTO credits_ledgerentry (wallet_id, kind, amount, account_id, "
            "organization_id, reference, note, created_at, hold_id) "
            "VALUES (%s, 'consumption', %s, %s, %s, %s, '', %s, %s) RETURNING id",
            [wallet_id, -captured, account_id, org_id, reference, now, hold_id],
        ).fetchone()
        conn.execute(
            "INSERT INTO credits_lotmovement (entry_id, lot_id, amount) "
            "VALUES (%s, %s, %s), (%s, %s, %s)",
            [back, lot[0], amount, used, lot[0], -captured],
        )
        conn.execute(
            "UPDATE credits_lot SET remaining = remaining + %s WHERE id = %s",
            [amount - captured, lot[0]],
        )
        conn.execute(
            "UPDATE credits_wallet SET balance = balance + %s WHERE id = %s",
            [amount - captured, wallet_id],
        )
        conn.execute(
            "UPDATE credits_creditaccess SET used = used - %s "
            "WHERE account_id = %s AND organization_id = %s",
            [amount - captured, account_id, org_id],
        )
        conn.execute(
            "UPDATE credits_hold SET status = 'captured', captured = %s, settled_at = %s "
            "WHERE id = %s",
            [captured, now, hold_id],
        )
        conn.execute(
            "SELECT credits_usage_add(%s, %s, %s, %s)", [org_id, account_id, now, captured]
        )
    return True


def measure(scale, *, port, workers, pairs=1500, rounds=3):
    from django.conf import settings
    from django.db import connection

    from benchmarks import bare_sql
    from benchmarks.consumption import (
        CLIENTS,
        HOST,
        WARM_UP_SECONDS,
        _consumers,
        _fill_pool,
        _run_clients,
        _summarize,
        start_server,
        stop_server,
    )
    from benchmarks.scale_data import organization_for
    from credits.models import Wallet
    from portal.models import Scope
    from portal.services import api_token_create

    organization = organization_for(scale)
    accesses = _consumers(organization, CLIENTS)
    wallet_id = Wallet.objects.get(organization=organization).pk
    stamp = f"{int(time.time())}"
    _, token = api_token_create(actor=None, name=f"holds {stamp}", scopes=[Scope.CREDITS_CONSUME])
    dsn = bare_sql.dsn_from_settings(settings.DATABASES["default"])
    plans = [bare_sql.prepare(access, token) for access in accesses]
    ids = [(a.account_id, wallet_id, organization.pk) for a in accesses]

    # What the next run holds per pair and its references' prefix, read by the client
    # processes, which are forked after both are set.
    state = {}

    def sql_worker(pair):
        def worker(index, barrier, deadline):
            out = {"latencies": [], "ok": 0, "refused": 0, "errors": 0, "last_ok": 0.0}
            with bare_sql.connect(dsn) as conn:
                barrier.wait()
                n = 0
                while time.perf_counter() < deadline:
                    began = time.perf_counter()
                    ok = pair(conn, index, f"{state['tag']}-{index}-{n}")
                    n += 1
                    ended = time.perf_counter()
                    out["latencies"].append((ended - began) * 1000)
                    if not ok:
                        out["refused"] += 1
                        break
                    out["ok"] += 1
                    out["last_ok"] = ended
            return out

        return worker

    def http_worker(index, barrier, deadline):
        email = accesses[index].account.email
        # A worker still importing the project (a busy machine) answers its first request late.
        conn = http.client.HTTPConnection(HOST, port, timeout=WARM_UP_SECONDS)
        headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Host": HOST,
        }
        conn.request("GET", "/api/v1/openapi.json", headers={"Host": HOST})
        conn.getresponse().read()
        conn.sock.settimeout(30)
        out = {"latencies": [], "ok": 0, "refused": 0, "errors": 0, "last_ok": 0.0}
        barrier.wait()
        n = 0
        while time.perf_counter() < deadline:
            reference = f"{state['tag']}-{index}-{n}"
            n += 1
            began = time.perf_counter()
            body = json.dumps(
                {
                    "account": email,
                    "amount": str(state["amount"]),
                    "reference": reference,
                    "expires_in": 3600,
                }
            )
            conn.request("POST", "/api/v1/credits/holds", body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            if response.status == 402:
                out["refused"] += 1
                break
            captured = str((state["amount"] * HALF).quantize(Decimal("0.01")))
            conn.request(
                "POST",
                f"/api/v1/credits/holds/{reference}/capture",
                body=json.dumps({"amount": captured}),
                headers=headers,
            )
            second = conn.getresponse()
            second.read()
            ended = time.perf_counter()
            out["latencies"].append((ended - began) * 1000)
            if response.status == 201 and second.status == 200:
                out["ok"] += 1
                out["last_ok"] = ended
            else:
                out["errors"] += 1
                if out["errors"] > 20:
                    break
        conn.close()
        return out

    connection.close()
    server = start_server(port, workers)
    from benchmarks import smallest

    seconds = int(os.environ.get("BENCH_PGBENCH_SECONDS", "8"))
    results = []
    try:
        for n in range(rounds):
            # The pool is filled first so that pgbench never meets an empty wallet.
            _fill_pool(organization, pairs * 2)
            connection.close()
            yardstick = smallest.run(
                wallet_id=wallet_id,
                organization_id=organization.pk,
                account_id=accesses[0].account_id,
                seconds=seconds,
            )
            row = []
            for name, worker in (
                (
                    "smallest bare SQL",
                    sql_worker(lambda c, i, r: _bare_pair(c, ids[i], state["amount"], r)),
                ),
                (
                    "own statements, bare",
                    sql_worker(lambda c, i, r: _own_pair(c, plans[i], state["amount"], r)),
                ),
                ("HTTP endpoints", http_worker),
            ):
                # Each pair keeps half of what it holds: the pool holds `pairs` pairs.
                amount, _expected = _fill_pool(organization, pairs * 2)
                state["amount"] = (amount * 2).quantize(Decimal("0.01"))
                state["tag"] = f"bench-hold-{stamp}-{n}-{len(row)}"
                connection.close()
                started, outcomes = _run_clients(worker, CLIENTS, 120)
                row.append(_summarize(name, None, started, outcomes))
            results.append([yardstick, *row])
    finally:
        stop_server(server)
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=int(os.environ.get("BENCH_MEMBERS", 10000)))
    parser.add_argument("--port", type=int, default=int(os.environ.get("BENCH_PORT", 8105)))
    parser.add_argument("--workers", type=int, default=int(os.environ.get("BENCH_WORKERS", 4)))
    parser.add_argument("--pairs", type=int, default=1500)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.settings")
    django.setup()
    from benchmarks.scale_data import Scale
    from credits.selectors import ledger_verify

    scale = Scale(tag=2, members=args.members, seats=10000, ledger=1_000_000)
    results = measure(
        scale, port=args.port, workers=args.workers, pairs=args.pairs, rounds=args.rounds
    )
    print("Holds: a hold then its capture, 8 clients on one pool (pairs per second)")
    print(
        "  pgbench: pgbench -n -c 8 -j 2 -T <s> -f benchmarks/smallest_transaction.sql, "
        "its transactions per second halved (two per pair)"
    )
    print(
        f"  {'round':<6} {'pgbench':>8} {'smallest bare SQL':>18} {'own statements':>15}"
        f" {'HTTP':>8} {'HTTP/pgbench':>13} {'HTTP/bare':>10} {'HTTP/own':>9}"
    )
    ratios_pgbench, ratios_bare, ratios_own = [], [], []
    for n, (yardstick, bare, own, web) in enumerate(results, 1):
        pgbench_pairs = yardstick.throughput / 2
        rp = web.throughput / pgbench_pairs if pgbench_pairs else 0
        rb = web.throughput / bare.throughput if bare.throughput else 0
        ro = web.throughput / own.throughput if own.throughput else 0
        ratios_pgbench.append(rp)
        ratios_bare.append(rb)
        ratios_own.append(ro)
        errors = yardstick.errors + bare.errors + own.errors + web.errors
        print(
            f"  {n:<6} {pgbench_pairs:>8.0f} {bare.throughput:>18.0f} {own.throughput:>15.0f}"
            f" {web.throughput:>8.0f} {rp:>13.2f} {rb:>10.2f} {ro:>9.2f}"
            f"   (HTTP p95 {web.p95_ms:.1f} ms, errors {errors})"
        )
    median_pgbench = statistics.median(ratios_pgbench)
    median_bare = statistics.median(ratios_bare)
    median_own = statistics.median(ratios_own)
    print(
        f"  median ratios: HTTP/pgbench {median_pgbench:.2f}"
        f" {'ok' if median_pgbench >= BUDGET_RATIO else 'FAIL'},"
        f" HTTP/own {median_own:.2f} {'ok' if median_own >= BUDGET_RATIO else 'FAIL'}"
        f" (budget ≥ {BUDGET_RATIO} each); HTTP/smallest bare SQL {median_bare:.2f}"
    )
    problems = ledger_verify()
    print(f"  verify_ledger: {'clean' if not problems else problems[:5]}")
    failed = problems or median_pgbench < BUDGET_RATIO or median_own < BUDGET_RATIO
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
