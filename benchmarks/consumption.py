"""Consumption throughput: the real endpoint under gunicorn beside its bare SQL transaction
and beside the smallest bare SQL transaction (pgbench, `benchmarks.smallest`).

The function's and the endpoint's sides drain ONE organization pool (the large organization's)
with 8 concurrent clients, each consuming for its own unlimited member, until the pool refuses.
Before each side the pool gets a grant so that its available balance is known; the amount per
consumption is chosen so that the pool holds a known number of them, and the number of
successes must equal it exactly (R24: never more, never fewer). Afterwards `verify_ledger`
must pass (R27).

- HTTP: `POST /api/v1/credits/consumptions` on gunicorn (production settings, DEBUG off,
  several workers) over loopback; each client is a process with a keep-alive `http.client`
  connection.
- Bare SQL: the statements the endpoint's transaction runs (`benchmarks.bare_sql`), through
  psycopg with one connection per client process.
- pgbench: the smallest transaction doing the same bookkeeping (lock the wallet row, insert a
  ledger row, update the balance) on the same wallet row, 8 connections, for a fixed time;
  its rows are taken out again afterwards (see `benchmarks.smallest`).

Throughput is successes over the time from the start to the last success; latency is per
request as the client sees it.
"""

import http.client
import json
import multiprocessing
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from pathlib import Path

from django.conf import settings
from django.db import connection

from benchmarks import bare_sql, smallest
from benchmarks.scale_data import Scale, organization_for
from credits.models import AccessMode, CreditAccess, Wallet
from credits.selectors import pool_available
from credits.services import credits_grant
from portal.models import Scope
from portal.services import api_token_create

CLIENTS = 8
WARM_UP_SECONDS = 180
HOST = "127.0.0.1"
ROOT = Path(__file__).resolve().parent.parent
SERVER_LOG = Path(tempfile.gettempdir()) / "portal-bench-gunicorn.log"


@dataclass
class RunResult:
    name: str
    expected: int
    successes: int
    refusals: int
    errors: int
    seconds: float
    latencies_ms: list

    @property
    def throughput(self) -> float:
        return self.successes / self.seconds if self.seconds else 0.0

    @property
    def median_ms(self) -> float:
        return statistics.median(self.latencies_ms) if self.latencies_ms else 0.0

    @property
    def p95_ms(self) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[int(0.95 * (len(ordered) - 1))] if ordered else 0.0


def _consumers(organization, count: int):
    """`count` unlimited members of the organization, each one client's account."""
    accesses = list(
        CreditAccess.objects.filter(organization=organization, mode=AccessMode.UNLIMITED)
        .exclude(account_id=organization.administrator_id)
        .select_related("account")
        .order_by("id")[:count]
    )
    if len(accesses) < count:
        raise SystemExit("The organization needs more unlimited members for the benchmark.")
    return accesses


def _fill_pool(organization, consumptions: int) -> tuple[Decimal, int]:
    """Grant credits, then choose the amount so that the pool holds exactly a known number
    of consumptions. Returns (amount, expected successes)."""
    credits_grant(actor=None, organization=organization, amount=Decimal("50000.00"), days=30)
    available = pool_available(organization=organization)
    amount = (available / consumptions).quantize(Decimal("0.01"), rounding=ROUND_DOWN)
    return amount, int(available // amount)


def _run_clients(worker, count: int, limit_seconds: float):
    """Run `worker(index, barrier, deadline)` in `count` client processes started together.

    Processes rather than threads: with threads, a client that gets its answer waits for the
    interpreter lock while the others compute, and on the bare SQL side that wait falls
    inside the locked section, so threads would understate the SQL limit (measured: about
    190 transactions per second with threads against several times that with processes).
    """
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(count + 1)
    results = context.Queue()
    # The limit is a safety net (the sides run until the pool refuses), counted from after
    # the slowest possible warm-up.
    deadline = time.perf_counter() + WARM_UP_SECONDS + limit_seconds

    def run(index):
        results.put((index, worker(index, barrier, deadline)))

    processes = [context.Process(target=run, args=(i,)) for i in range(count)]
    for process in processes:
        process.start()
    # A client that died before the start (its warm-up failed) breaks the barrier rather
    # than leaving the run waiting for it.
    barrier.wait(timeout=WARM_UP_SECONDS + 60)
    started = time.perf_counter()
    outcomes = [None] * count
    for _ in range(count):
        index, outcome = results.get(timeout=WARM_UP_SECONDS + limit_seconds + 60)
        outcomes[index] = outcome
    for process in processes:
        process.join()
    return started, outcomes


def _summarize(name, expected, started, outcomes) -> RunResult:
    latencies, successes, refusals, errors, last = [], 0, 0, 0, started
    for outcome in outcomes:
        latencies += outcome["latencies"]
        successes += outcome["ok"]
        refusals += outcome["refused"]
        errors += outcome["errors"]
        last = max(last, outcome["last_ok"])
    return RunResult(name, expected, successes, refusals, errors, last - started, latencies)


# --- HTTP side ----------------------------------------------------------------------------


def _server_env(port: int) -> dict:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="benchmarks.settings",
        DJANGO_SECRET_KEY=env.get("DJANGO_SECRET_KEY", "benchmark-only-secret-key-" + "x" * 40),
        DJANGO_ALLOWED_HOSTS=f"{HOST},localhost",
        DJANGO_SECURE_SSL_REDIRECT="false",
        DJANGO_EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
        DATABASE_URL=env["DATABASE_URL"],
    )
    return env


def _listening(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.2):
            return True
    except OSError:
        return False


def start_server(port: int, workers: int):
    # A server left on the port (an interrupted run) would answer in place of this one.
    if _listening(port):
        raise SystemExit(f"Something already listens on {HOST}:{port}; stop it or set BENCH_PORT.")
    process = subprocess.Popen(  # noqa: S603 - fixed argument list
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "portal.wsgi:application",
            "--bind",
            f"{HOST}:{port}",
            "--workers",
            str(workers),
            "--worker-class",
            os.environ.get("BENCH_WORKER_CLASS", "gthread"),
            "--threads",
            os.environ.get("BENCH_THREADS", "2"),
            "--keep-alive",
            "30",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=_server_env(port),
        start_new_session=True,
        # Refused consumptions (402) are logged as warnings: kept out of the table.
        stdout=SERVER_LOG.open("w"),
        stderr=subprocess.STDOUT,
    )
    for _ in range(100):
        if process.poll() is not None:
            break
        if _listening(port):
            return process
        time.sleep(0.1)
    stop_server(process)
    raise SystemExit(f"gunicorn did not start on {HOST}:{port}; see {SERVER_LOG}")


def stop_server(process) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def run_http(organization, port, token, accesses, amount, expected, tag, limit_seconds=90):
    body_amount = str(amount)

    def worker(index, barrier, deadline):
        email = accesses[index].account.email
        # A worker still importing the project (a busy machine) answers its first request late.
        conn = http.client.HTTPConnection(HOST, port, timeout=WARM_UP_SECONDS)
        headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Host": HOST,
        }
        # One request before the start opens the connection and warms the worker.
        conn.request("GET", "/api/v1/openapi.json", headers={"Host": HOST})
        conn.getresponse().read()
        conn.sock.settimeout(30)
        out = {"latencies": [], "ok": 0, "refused": 0, "errors": 0, "last_ok": 0.0}
        barrier.wait()
        n = 0
        while time.perf_counter() < deadline:
            payload = json.dumps(
                {"account": email, "amount": body_amount, "reference": f"{tag}-{index}-{n}"}
            )
            n += 1
            began = time.perf_counter()
            conn.request("POST", "/api/v1/credits/consumptions", body=payload, headers=headers)
            response = conn.getresponse()
            response.read()
            ended = time.perf_counter()
            out["latencies"].append((ended - began) * 1000)
            if response.status == 201:
                out["ok"] += 1
                out["last_ok"] = ended
            elif response.status == 402:
                out["refused"] += 1
                break
            else:
                out["errors"] += 1
                if out["errors"] > 20:
                    break
        conn.close()
        return out

    started, outcomes = _run_clients(worker, len(accesses), limit_seconds)
    return _summarize("HTTP endpoint", expected, started, outcomes)


# --- Bare SQL side ------------------------------------------------------------------------


def run_sql(token, accesses, amount, expected, tag, limit_seconds=90):
    dsn = bare_sql.dsn_from_settings(settings.DATABASES["default"])
    plans = [bare_sql.prepare(access, token) for access in accesses]

    def worker(index, barrier, deadline):
        out = {"latencies": [], "ok": 0, "refused": 0, "errors": 0, "last_ok": 0.0}
        with bare_sql.connect(dsn) as conn:
            barrier.wait()
            n = 0
            while time.perf_counter() < deadline:
                reference = f"{tag}-{index}-{n}"
                n += 1
                began = time.perf_counter()
                ok = bare_sql.consume(conn, plans[index], amount, reference)
                ended = time.perf_counter()
                out["latencies"].append((ended - began) * 1000)
                if ok:
                    out["ok"] += 1
                    out["last_ok"] = ended
                else:
                    out["refused"] += 1
                    break
        return out

    started, outcomes = _run_clients(worker, len(accesses), limit_seconds)
    return _summarize("bare SQL (psycopg)", expected, started, outcomes)


def measure(scale: Scale, *, port: int, workers: int, consumptions: int = 4000, rounds: int = 3):
    """`rounds` times: pgbench's smallest transaction, the function called bare, then the
    endpoint, each on a freshly filled pool; every other round runs them in the reverse order,
    so that a change in the machine's speed (other work, a neighbour on the host) weighs on
    every side; the budgets read the median of the rounds' ratios.
    Returns [(pgbench run, bare SQL run, HTTP run), ...]."""
    organization = organization_for(scale)
    accesses = _consumers(organization, CLIENTS)
    wallet_id = Wallet.objects.get(organization=organization).pk
    stamp = f"{int(time.time())}"
    _, token = api_token_create(
        actor=None, name=f"benchmark {stamp}", scopes=[Scope.CREDITS_CONSUME]
    )
    seconds = int(os.environ.get("BENCH_PGBENCH_SECONDS", "8"))
    connection.close()
    server = start_server(port, workers)
    rounds_out = []
    try:
        for n in range(rounds):

            def pgbench_side():
                # The pool is filled first so that pgbench never meets an empty wallet.
                _fill_pool(organization, consumptions)
                connection.close()
                return smallest.run(
                    wallet_id=wallet_id,
                    organization_id=organization.pk,
                    account_id=accesses[0].account_id,
                    seconds=seconds,
                )

            def sql_side(n=n):
                amount, expected = _fill_pool(organization, consumptions)
                connection.close()
                return run_sql(token, accesses, amount, expected, f"bench-sql-{stamp}-{n}")

            def http_side(n=n):
                amount, expected = _fill_pool(organization, consumptions)
                connection.close()
                tag = f"bench-http-{stamp}-{n}"
                return run_http(organization, port, token, accesses, amount, expected, tag)

            sides = [pgbench_side, sql_side, http_side]
            order = sides if n % 2 == 0 else sides[::-1]
            done = {side: side() for side in order}
            rounds_out.append(tuple(done[side] for side in sides))
    finally:
        stop_server(server)
    return rounds_out


def _verdict(ratio: float, budget: float) -> str:
    return "ok" if ratio >= budget else "FAIL"


def report(rounds, *, workers: int, budget: float) -> list[str]:
    """Print the rounds' table and both ratios with their verdicts; returns the failures."""
    failures = []
    print(
        f"Consumption on one pool, {CLIENTS} clients on every side "
        f"(gunicorn: {workers} workers; the function and the endpoint until the pool refuses, "
        f"pgbench for a fixed time; "
        f"{len(rounds)} rounds, sides alternating)"
    )
    seconds = rounds[0][0].seconds if rounds else 0
    shown = " ".join(smallest.command(seconds)[1:-1])
    print(f"pgbench side: pgbench {shown} benchmarks/{smallest.SCRIPT.name} -D <ids>")
    header = (
        f"{'round':<6} {'side':<22} {'per second':>11} {'median ms':>10} {'p95 ms':>8} "
        f"{'successes':>10} {'expected':>9} {'errors':>7}  ratio to pgbench / bare"
    )
    print(header)
    print("-" * len(header))
    to_pgbench, to_bare = [], []
    for number, (pgbench, sql, web) in enumerate(rounds, start=1):
        a = web.throughput / pgbench.throughput if pgbench.throughput else 0.0
        b = web.throughput / sql.throughput if sql.throughput else 0.0
        to_pgbench.append(a)
        to_bare.append(b)
        for run in (pgbench, sql, web):
            shown = f" {a:.2f} / {b:.2f}" if run is web else ""
            expected = "" if run.expected is None else run.expected
            print(
                f"{number:<6} {run.name:<22} {run.throughput:>11.0f} {run.median_ms:>10.2f} "
                f"{run.p95_ms:>8.2f} {run.successes:>10} {expected:>9} {run.errors:>7} "
                f"{shown}"
            )
            if (run.expected is not None and run.successes != run.expected) or run.errors:
                failures.append(
                    f"{run.name}: {run.successes} successes for {run.expected} expected, "
                    f"{run.errors} errors"
                )
    for name, ratios in (("pgbench's smallest transaction", to_pgbench), ("bare", to_bare)):
        ratio = statistics.median(ratios)
        verdict = _verdict(ratio, budget)
        print(
            f"endpoint / {name} = {ratio:.2f}, median of {len(ratios)} rounds "
            f"(budget ≥ {budget})  {verdict}"
        )
        if verdict != "ok":
            failures.append(f"consumption: endpoint / {name} {ratio:.2f} < {budget}")
    return failures
