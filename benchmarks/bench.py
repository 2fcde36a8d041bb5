"""`make bench`: the row counts it runs on, page server times at two scales, consumption and
holds beside bare SQL, the CSV exports' memory and statements at two scales, every budget
with its verdict.

Run by benchmarks/run.sh (which prepares PostgreSQL and the data) as
`python -m benchmarks.bench`, with DJANGO_SETTINGS_MODULE=benchmarks.settings (production
settings with a private static directory).
Exits 1 when a budget is missed or the ledger does not verify.
"""

import argparse
import os
import platform
import sys
import time

import django

from benchmarks.exports import EXPORTS

BUDGET_PAGE_MS = 50.0
BUDGET_GROWTH = 1.3
BUDGET_THROUGHPUT_RATIO = 0.5
# A quiet machine, on which every budget must hold (a shared virtual machine's speed varies
# by the hour; on a busier one the figures are printed and judged all the same).
QUIET_PROBE_MS = 160.0
QUIET_LOAD = 0.5


def _machine() -> tuple[str, bool]:
    """The machine line, and whether the machine is quiet."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SHOW server_version")
        (pg_version,) = cur.fetchone()
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    loads = os.getloadavg()
    load = " ".join(f"{x:.2f}" for x in loads)
    probe = _cpu_probe_ms()
    quiet = probe <= QUIET_PROBE_MS and loads[0] < QUIET_LOAD
    line = (
        f"{os.cpu_count()} cores, {memory:.1f} GiB memory, PostgreSQL {pg_version}, "
        f"Python {platform.python_version()}, load average {load}, "
        f"CPU probe {probe:.0f} ms"
    )
    return line, quiet


def _row_counts(scales) -> list[tuple[str, ...]]:
    """What each organization holds, counted exactly (a few seconds at ten million)."""
    from django.db.models import Count, Q

    from benchmarks.scale_data import organization_for
    from credits.models import Hold, LedgerEntry
    from licensing.models import License
    from organizations.models import Invitation, Membership
    from portal.models import AuditEvent

    rows = []
    for scale in scales:
        org = organization_for(scale)
        if org is None:
            continue
        holds = Hold.objects.filter(organization=org).aggregate(
            all=Count("id"), open=Count("id", filter=Q(status="open"))
        )
        rows.append(
            (
                org.customer_number,
                f"{Membership.objects.filter(organization=org).count():,}",
                f"{Invitation.objects.filter(organization=org, state='pending').count():,}",
                f"{License.objects.filter(organization=org).count():,}",
                f"{LedgerEntry.objects.filter(wallet__organization=org).count():,}",
                f"{holds['all']:,} ({holds['open']} open)",
                f"{AuditEvent.objects.filter(organization=org).count():,}",
            )
        )
    return rows


def _cpu_probe_ms() -> float:
    """A fixed pure-Python loop, best of three: the speed the machine lends this run (a shared
    virtual machine's varies by the hour; every figure below scales with it)."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        total = 0
        for i in range(5_000_000):
            total += i
        best = min(best, (time.perf_counter() - started) * 1000)
    return best


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--small-members", type=int, default=100)
    parser.add_argument(
        "--large-tag",
        type=int,
        default=1,
        help="the large organization's tag (customer number 0<tag>00000000); default 1",
    )
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--consumptions", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=int(os.environ.get("BENCH_WORKERS", 4)))
    parser.add_argument("--port", type=int, default=int(os.environ.get("BENCH_PORT", 8105)))
    parser.add_argument("--skip-pages", action="store_true")
    parser.add_argument("--skip-consumption", action="store_true")
    parser.add_argument("--skip-exports", action="store_true")
    parser.add_argument(
        "--exports",
        default=os.environ.get("BENCH_EXPORTS", "members,seats,credit-history"),
        help="the exports to measure, comma-separated (members, seats, credit-history, "
        "activity), `all` or `none`; default the members, the seats and the pool's year",
    )
    parser.add_argument(
        "--export-members",
        type=int,
        default=int(os.environ.get("BENCH_EXPORT_MEMBERS", 0)),
        help="a third organization, for the exports only (generated once; 0: none)",
    )
    parser.add_argument(
        "--export-ledger",
        type=int,
        default=int(os.environ.get("BENCH_EXPORT_LEDGER", 1_000_000)),
        help="the third organization's ledger entries (its seats: one per member)",
    )
    args = parser.parse_args(argv)
    export_names = (
        () if args.skip_exports or args.exports == "none" else tuple(args.exports.split(","))
    )
    if args.exports == "all":
        export_names = EXPORTS
    if set(export_names) - set(EXPORTS):
        unknown = ", ".join(sorted(set(export_names) - set(EXPORTS)))
        parser.error(f"--exports: unknown {unknown}; known: {', '.join(EXPORTS)}, all, none")

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.settings")
    django.setup()
    from benchmarks import consumption, exports, pages
    from benchmarks.scale_data import Scale
    from credits.selectors import ledger_verify
    from licensing.selectors import seat_tally_problems
    from organizations.selectors import member_tally_problems

    large = Scale(tag=args.large_tag, members=args.members, seats=0, ledger=0)
    small = Scale(tag=2, members=args.small_members, seats=0, ledger=0)
    include_credits = pages.credits_pages_exist()
    failures: list[str] = []
    machine, quiet = _machine()
    print(f"Machine: {machine}")
    if not quiet:
        print(
            f"  not a quiet machine (CPU probe over {QUIET_PROBE_MS:.0f} ms or load average "
            f"{QUIET_LOAD} or more): absolute times are inflated at both scales alike"
        )
    print()
    counts = _row_counts([small, large])
    header = ("organization", "members", "invited", "seats", "ledger", "holds", "audit events")
    widths = [max(len(h), *(len(r[i]) for r in counts)) for i, h in enumerate(header)]
    print("Data (exact counts):")
    for row in (header, *counts):
        print("  " + "  ".join(f"{v:>{w}}" for v, w in zip(row, widths, strict=True)))
    print()

    if not args.skip_pages:
        results = {}
        rows = pages.measure([small, large], repeat=args.repeat, include_credits=include_credits)
        for row in rows:
            results[(row.name, row.members)] = row
        names = [name for name, _, _ in pages.scenarios(include_credits)]
        print(
            f"Server time per page (ms, {args.repeat} requests each; "
            f"budget: Organization pages ≤ {BUDGET_PAGE_MS:.0f} ms median at both "
            f"scales, every page's growth ≤ {BUDGET_GROWTH}×)"
        )
        header = (
            f"{'page':<14} {'path':<42} "
            f"{'median@' + str(small.members):>11} {'median@' + str(large.members):>13} "
            f"{'p95@' + str(large.members):>10} {'growth':>7} {'queries':>8}  verdict"
        )
        print(header)
        print("-" * len(header))
        for name in names:
            a, b = results[(name, small.members)], results[(name, large.members)]
            growth = b.median_ms / a.median_ms if a.median_ms else 0.0
            verdict = "ok"
            if a.status != 200 or b.status != 200:
                verdict = f"FAIL: status {a.status}/{b.status}"
            elif b.path.startswith("/organization/") and b.median_ms > BUDGET_PAGE_MS:
                verdict = f"FAIL: {b.median_ms - BUDGET_PAGE_MS:.1f} ms over"
            elif a.path.startswith("/organization/") and a.median_ms > BUDGET_PAGE_MS:
                verdict = f"FAIL: {a.median_ms - BUDGET_PAGE_MS:.1f} ms over at {small.members}"
            elif growth > BUDGET_GROWTH:
                verdict = f"FAIL: growth {growth:.2f}×"
            if verdict != "ok":
                failures.append(f"{name}: {verdict}")
            print(
                f"{name:<14} {b.path:<42} {a.median_ms:>11.1f} {b.median_ms:>13.1f} "
                f"{b.p95_ms:>10.1f} {growth:>6.2f}× {a.queries:>3}/{b.queries:<4}  {verdict}"
            )
        print()

    if not args.skip_consumption:
        rounds = consumption.measure(
            large,
            port=args.port,
            workers=args.workers,
            consumptions=args.consumptions,
            rounds=args.rounds,
        )
        failures += consumption.report(rounds, workers=args.workers, budget=BUDGET_THROUGHPUT_RATIO)
        print()

    if export_names:
        scales = [small, large]
        if args.export_members:
            n = args.export_members
            scales.append(Scale(tag=3, members=n, seats=n, ledger=args.export_ledger))
            exports.ensure_scale(scales[-1])
        print("CSV exports (a process per download):")
        results = exports.measure(scales, export_names, warm_tag=small.tag)
        print()
        failures += exports.report(results, scales, export_names)
        print()

    problems = ledger_verify() + seat_tally_problems() + member_tally_problems()
    verdict = "ok" if not problems else f"{len(problems)} violations"
    print(f"verify_ledger (seat and member tallies included): {verdict}")
    for problem in problems[:20]:
        print(f"  {problem}")
    if problems:
        failures.append("verify_ledger")
    print()
    if failures:
        print("Budgets missed:")
        for failure in failures:
            print(f"  - {failure}")
        return 1
    print("All budgets met.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
