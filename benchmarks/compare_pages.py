"""Median server time of some pages, for comparing two trees of the portal on the same data.

Run once per tree, alternating, with that tree on PYTHONPATH and run.sh's environment:

    PYTHONPATH=<tree> .venv/bin/python -m benchmarks.compare_pages 100000 /organization/ ...

It logs in as the administrator of the generated organization of that size (100 or 100,000
members), asks each path 3 times to warm up, then 15 times, and prints the medians (ms) in
the order given. On a shared machine alternate the trees a few times: the load moves.
"""

import statistics
import sys
import time

import django


def main() -> None:
    django.setup()
    from django.test import Client

    from organizations.models import Organization

    members, paths = int(sys.argv[1]), sys.argv[2:]
    number = "0200000000" if members == 100 else "0100000000"
    organization = Organization.objects.get(customer_number=number)
    client = Client()
    client.force_login(organization.administrator)
    for path in paths:
        for _ in range(3):
            client.get(path, secure=True)
    medians = []
    for path in paths:
        timings = []
        for _ in range(15):
            started = time.perf_counter()
            client.get(path, secure=True)
            timings.append((time.perf_counter() - started) * 1000)
        medians.append(statistics.median(timings))
    print(" ".join(f"{m:.1f}" for m in medians))


if __name__ == "__main__":
    main()
