"""The smallest bare SQL transaction, run by pgbench: the yardstick of SPEC "Performance".

`pgbench -n -c 8 -j 2 -T <seconds> -f benchmarks/smallest_transaction.sql` against the same
database as the endpoint, on the same pool's wallet row: lock the balance row, insert a
consumption ledger row with a random unique reference, update the balance, commit.

Those rows are a consumption without lot movements, which `verify_ledger` would rightly
refuse. So the run takes them out again afterwards, in one transaction that deletes exactly
the rows the run wrote (ids above the ledger's highest before the run, the run's reference
prefix, no movements) and gives their amount back to the wallet; the books are as they were
before the run, and the count deleted must equal the transactions pgbench reports.
"""

import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction

SCRIPT = Path(__file__).resolve().parent / "smallest_transaction.sql"
CLIENTS = 8
THREADS = 2


@dataclass
class PgbenchResult:
    name: str
    successes: int
    tps: float
    latency_ms: float
    errors: int
    seconds: int
    expected: None = None

    @property
    def throughput(self) -> float:
        return self.tps

    @property
    def median_ms(self) -> float:
        # pgbench (without -r or a log) reports the mean; shown in the median's column.
        return self.latency_ms

    @property
    def p95_ms(self) -> float:
        return float("nan")


def pgbench_path() -> str:
    """The pgbench of the server's major version: pg_config's, the cluster's, or PATH's."""
    candidates = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        bindir = subprocess.run(  # noqa: S603 - fixed argument list
            [pg_config, "--bindir"], capture_output=True, text=True, check=False
        ).stdout.strip()
        candidates.append(Path(bindir) / "pgbench")
    with connection.cursor() as cur:
        cur.execute("SHOW server_version_num")
        (number,) = cur.fetchone()
    candidates.append(Path(f"/usr/lib/postgresql/{int(number) // 10000}/bin/pgbench"))
    found = shutil.which("pgbench")
    if found:
        candidates.append(Path(found))
    for candidate in candidates:
        if candidate.is_file():
            return str(candidate)
    raise SystemExit("pgbench not found: install PostgreSQL's client programs (postgresql).")


def _environment() -> dict:
    database = settings.DATABASES["default"]
    env = dict(os.environ)
    env.update(
        PGHOST=database["HOST"] or "127.0.0.1",
        PGPORT=str(database["PORT"] or 5432),
        PGUSER=database["USER"],
        PGPASSWORD=database["PASSWORD"],
        PGDATABASE=database["NAME"],
    )
    return env


def command(seconds: int) -> list[str]:
    return [
        pgbench_path(),
        "-n",
        "-c",
        str(CLIENTS),
        "-j",
        str(THREADS),
        "-T",
        str(seconds),
        "-f",
        str(SCRIPT),
    ]


def run(*, wallet_id: int, organization_id: int, account_id: int, seconds: int):
    """One pgbench run on the wallet, then its rows taken out again. Returns a result."""
    tag = time.time_ns()
    with connection.cursor() as cur:
        cur.execute("SELECT coalesce(max(id), 0) FROM credits_ledgerentry")
        (last_id,) = cur.fetchone()
    connection.close()
    variables = [
        f"wallet={wallet_id}",
        f"organization={organization_id}",
        f"account={account_id}",
        f"tag={tag}",
    ]
    args = command(seconds)
    for variable in variables:
        args += ["-D", variable]
    done = subprocess.run(  # noqa: S603 - fixed argument list
        args, env=_environment(), capture_output=True, text=True, check=False
    )
    written = undo(wallet_id=wallet_id, last_id=last_id, tag=tag)
    output = done.stdout + done.stderr
    if done.returncode != 0:
        raise SystemExit(f"pgbench failed ({done.returncode}):\n{output}")
    processed = int(re.search(r"number of transactions actually processed: (\d+)", output)[1])
    failed = re.search(r"number of failed transactions: (\d+)", output)
    tps = float(re.search(r"tps = ([\d.]+) \(without initial connection time\)", output)[1])
    latency = float(re.search(r"latency average = ([\d.]+) ms", output)[1])
    errors = int(failed[1]) if failed else 0
    if written != processed:
        errors += abs(written - processed)
    return PgbenchResult("pgbench (smallest)", processed, tps, latency, errors, seconds)


def undo(*, wallet_id: int, last_id: int, tag: int) -> int:
    """Delete the run's ledger rows and give their amount back to the wallet, at once."""
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(
            "WITH gone AS (DELETE FROM credits_ledgerentry e WHERE e.id > %s "
            "AND e.wallet_id = %s AND e.kind = 'consumption' AND e.reference LIKE %s "
            "AND NOT EXISTS (SELECT 1 FROM credits_lotmovement m WHERE m.entry_id = e.id) "
            "RETURNING e.amount) "
            "UPDATE credits_wallet SET balance = balance - "
            "(SELECT coalesce(sum(amount), 0) FROM gone) WHERE id = %s "
            "RETURNING (SELECT count(*) FROM gone)",
            [last_id, wallet_id, f"pgbench-{tag}-%", wallet_id],
        )
        (count,) = cur.fetchone()
    connection.close()
    return count
