"""The administrator's CSV exports at scale (R41): peak memory, SQL statements and time.

Each export (members, seats, the pool's credit history, the activity) is requested through
Django's test client with the production settings, signed in as the organization's
administrator, and its streaming response is read chunk by chunk, as a server hands it to the
network, and thrown away. Per export and organization size:

- **traced peak**: `tracemalloc`'s peak of the Python allocations made during the download
  (the primary figure: what the export keeps alive at once);
- **RSS growth**: the process's resident-set high-water mark (`VmHWM`, reset through
  `/proc/self/clear_refs` just before) minus its resident set before the download: it also
  sees what tracemalloc cannot, such as libpq's buffers for a result set;
- the SQL statements the download sends (through `connection.execute_wrapper`: the fetches of
  a server-side cursor are round trips of its one statement and are not counted), the rows
  (header excluded; each streamed chunk is one row) and bytes, the time to the first data row
  and the total time.

Every measurement runs in a process of its own (`python -m benchmarks.exports --child TAG
EXPORT`), so that no export inherits another's grown heap. The process first downloads the same
export of the small organization (imports, URL resolution, connection: the first request's
one-time costs), then the timed download (resident set), then the traced one (tracemalloc slows
Python down about five times, so time and RSS come from the untraced download). The rows are
checked against the database's count.
"""

import argparse
import gc
import json
import math
import os
import re
import subprocess
import sys
import time
import tracemalloc
from dataclasses import asdict, dataclass

MIB = 2**20
# The administrator's exports (console.views.exports.ORGANIZATION_EXPORTS) and their URLs.
URL_NAMES = {
    "members": "organizations:export_members",
    "seats": "organizations:export_seats",
    "credit-history": "organizations:export_credit_history",
    "activity": "organizations:export_activity",
}
EXPORTS = tuple(URL_NAMES)
# Budgets. Memory: the issue's "the 100,000-member export's peak stays within 50 MiB of the
# 10,000-member one", for every export and both memory figures. Statements: the exports read
# in keyset chunks of console.exports.CHUNK rows, so their count may grow by a few per chunk
# and never per row (a query per row would be thousands per chunk).
BUDGET_PEAK_GROWTH_MIB = 50.0
# tracemalloc slows Python down about five times: a year of a large pool's ledger (ten
# million rows) is measured by its resident set alone.
TRACE_ROWS = 1_000_000
BUDGET_STATEMENTS_FIXED = 12
BUDGET_STATEMENTS_PER_CHUNK = 6


@dataclass
class ExportResult:
    export: str
    members: int
    status: int
    rows: int
    expected_rows: int
    bytes: int
    statements: int
    statements_traced: int
    first_row_ms: float
    seconds: float
    traced_peak_mib: float | None
    rss_growth_mib: float
    rss_before_mib: float
    error: str = ""


# --- In the child process -----------------------------------------------------------------


def _status_kib() -> dict[str, int]:
    with open("/proc/self/status") as status:
        return {
            k: int(v) for k, v in re.findall(r"^(VmRSS|VmHWM):\s+(\d+) kB", status.read(), re.M)
        }


def _reset_high_water_mark() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
    except OSError:
        return False
    return True


def _expected_rows(export: str, organization) -> int:
    from credits.models import LedgerEntry
    from licensing.models import License
    from organizations.models import Membership
    from portal.models import AuditEvent

    if export == "members":
        return Membership.objects.filter(organization=organization).count()
    if export == "seats":
        return License.objects.filter(organization=organization).count()
    if export == "credit-history":
        return LedgerEntry.objects.filter(wallet__organization=organization).count()
    return AuditEvent.objects.filter(organization=organization).count()


def _download(client, path: str, counter: list[int]) -> tuple[int, int, int, float, float]:
    """(status, rows, bytes, first row ms, seconds): the response read chunk by chunk."""
    from django.db import connection

    def count(execute, sql, params, many, context):
        counter[0] += 1
        return execute(sql, params, many, context)

    chunks = size = 0
    first_row = 0.0
    with connection.execute_wrapper(count):
        started = time.perf_counter()
        response = client.get(path, secure=True)
        if not response.streaming:
            raise RuntimeError(f"{path}: status {response.status_code}, not a streaming response")
        for chunk in response.streaming_content:
            chunks += 1
            size += len(chunk)
            if chunks == 2:
                first_row = (time.perf_counter() - started) * 1000
        response.close()
        seconds = time.perf_counter() - started
    return response.status_code, max(0, chunks - 1), size, first_row, seconds


def child(tag: int, export: str, warm_tag: int) -> ExportResult:
    """One export of the organization `tag`, measured in this (fresh) process."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.settings")
    django.setup()
    from django.test import Client
    from django.urls import reverse

    from benchmarks.scale_data import Scale, organization_for

    path = reverse(URL_NAMES[export])
    organization = organization_for(Scale(tag=tag, members=0, seats=0, ledger=0))
    warm_organization = organization_for(Scale(tag=warm_tag, members=0, seats=0, ledger=0))
    if organization is None or warm_organization is None:
        raise SystemExit(f"No scale data for tag {tag} or {warm_tag}.")
    members = organization.memberships.count()

    warm = Client()
    warm.force_login(warm_organization.administrator)
    _download(warm, path, [0])
    client = Client()
    client.force_login(organization.administrator)
    # The activity export's own audit event (written as it starts) is one of its rows.
    expected_rows = _expected_rows(export, organization) + (export == "activity")

    # The timed download, and the resident set's growth over it.
    counter = [0]
    gc.collect()
    before = _status_kib()["VmRSS"]
    exact = _reset_high_water_mark()
    status, rows, size, first_row_ms, seconds = _download(client, path, counter)
    after = _status_kib()
    high = after["VmHWM"] if exact else max(after["VmHWM"], before)
    rss_growth = (high - before) / 1024

    # The traced download: Python's allocations during it, their peak.
    traced_counter = [0]
    traced_peak = None
    if expected_rows <= TRACE_ROWS:
        gc.collect()
        tracemalloc.start()
        start_current, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        _download(client, path, traced_counter)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        traced_peak = (peak - start_current) / MIB

    return ExportResult(
        export=export,
        members=members,
        status=status,
        rows=rows,
        expected_rows=expected_rows,
        bytes=size,
        statements=counter[0],
        statements_traced=traced_counter[0],
        first_row_ms=first_row_ms,
        seconds=seconds,
        traced_peak_mib=traced_peak,
        rss_growth_mib=rss_growth,
        rss_before_mib=before / 1024,
        error="" if exact else "VmHWM not reset: RSS growth is from the process's peak",
    )


# --- In the benchmark's process -----------------------------------------------------------


def run_child(tag: int, export: str, warm_tag: int) -> ExportResult:
    command = [sys.executable, "-m", "benchmarks.exports", "--child", str(tag), export]
    command += ["--warm", str(warm_tag)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        return ExportResult(export, 0, 0, 0, 0, 0, 0, 0, 0.0, 0.0, None, 0.0, 0.0, " | ".join(tail))
    return ExportResult(**json.loads(lines[-1]))


def ensure_scale(scale, log=print):
    """The organization of `scale`, generated (once, with COPY) when it is not there yet."""
    from benchmarks.scale_data import generate, organization_for

    if organization_for(scale) is None:
        log(
            f"Generating the {scale.members}-member organization for the exports "
            f"({scale.seats} seats, {scale.ledger} ledger entries; once)"
        )
        started = time.monotonic()
        generate(scale, log=log)
        log(f"Generated in {time.monotonic() - started:.0f}s")
    return organization_for(scale)


def measure(scales, exports=EXPORTS, *, warm_tag: int, log=print) -> dict:
    """{(export, tag): result}: every export at every scale, each download in a process of
    its own."""
    results = {}
    for export in exports:
        for scale in scales:
            started = time.monotonic()
            result = run_child(scale.tag, export, warm_tag)
            note = f" ({result.error})" if result.error else ""
            log(
                f"  {export} of the {result.members or scale.members}-member organization: "
                f"{result.rows} rows, {time.monotonic() - started:.0f}s{note}"
            )
            results[export, scale.tag] = result
    return results


def statements_budget(rows: int) -> int:
    from console.exports import CHUNK

    return BUDGET_STATEMENTS_FIXED + BUDGET_STATEMENTS_PER_CHUNK * (math.ceil(rows / CHUNK) + 1)


def report(results: dict, scales, exports=EXPORTS) -> list[str]:
    """Print the table; returns the budgets missed. Memory: each scale against every smaller
    one (the 100,000-member organization against the 100-member one)."""
    failures = []
    print(
        f"CSV exports, read chunk by chunk, each download in a fresh process (budgets: peak "
        f"memory, traced (— over {TRACE_ROWS:,} rows) and RSS, at most "
        f"{BUDGET_PEAK_GROWTH_MIB:.0f} MiB over the same "
        f"export of a smaller organization; statements ≤ {BUDGET_STATEMENTS_FIXED} + "
        f"{BUDGET_STATEMENTS_PER_CHUNK} per chunk of 2,000 rows; rows = the database's count)"
    )
    header = (
        f"{'export':<15} {'members':>8} {'rows':>9} {'MB':>7} {'stmts':>6} {'first row ms':>12} "
        f"{'seconds':>8} {'rows/s':>7} {'traced MiB':>10} {'RSS+ MiB':>9}  verdict"
    )
    print(header)
    print("-" * len(header))
    for export in exports:
        for index, scale in enumerate(scales):
            r = results.get((export, scale.tag))
            if r is None:
                continue
            problems = []
            if not r.status:
                problems.append(f"failed: {r.error}")
            else:
                if r.status != 200:
                    problems.append(f"status {r.status}")
                if r.rows != r.expected_rows:
                    problems.append(f"{r.rows} rows for {r.expected_rows} in the database")
                if r.statements > statements_budget(r.rows):
                    problems.append(f"{r.statements} statements > {statements_budget(r.rows)}")
                for smaller in scales[:index]:
                    s = results.get((export, smaller.tag))
                    if s is None or not s.status:
                        continue
                    for figure, label in (("traced_peak_mib", "traced"), ("rss_growth_mib", "RSS")):
                        if getattr(r, figure) is None or getattr(s, figure) is None:
                            continue
                        growth = getattr(r, figure) - getattr(s, figure)
                        if growth > BUDGET_PEAK_GROWTH_MIB:
                            problems.append(
                                f"{label} peak +{growth:.1f} MiB over {s.members} members"
                            )
            verdict = "FAIL: " + "; ".join(problems) if problems else "ok"
            if problems:
                failures.append(f"export {export} at {r.members or scale.members}: {verdict}")
            rate = r.rows / r.seconds if r.seconds else 0.0
            traced = "—" if r.traced_peak_mib is None else f"{r.traced_peak_mib:.2f}"
            print(
                f"{export:<15} {r.members:>8} {r.rows:>9} {r.bytes / 1e6:>7.1f} "
                f"{r.statements:>6} {r.first_row_ms:>12.1f} {r.seconds:>8.2f} {rate:>7.0f} "
                f"{traced:>10} {r.rss_growth_mib:>9.2f}  {verdict}"
            )
    return failures


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs=2, metavar=("TAG", "EXPORT"))
    parser.add_argument("--warm", type=int, default=2)
    args = parser.parse_args(argv)
    if args.child:
        tag, export = int(args.child[0]), args.child[1]
        if export not in EXPORTS:
            parser.error(f"export: one of {', '.join(EXPORTS)}")
        result = child(tag, export, args.warm)
        print(json.dumps(asdict(result)))
        return 0
    parser.error("run through `python -m benchmarks.bench` (or give --child TAG EXPORT)")
    return 2


if __name__ == "__main__":
    sys.exit(main())
