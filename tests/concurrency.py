"""Run calls in truly concurrent threads for the PostgreSQL race tests (rules.md "Correctness")."""

import threading

from django.db import connection


def run_together(calls, *, timeout: float = 60):
    """Run each callable in its own thread, all released at once by a barrier; return the
    outcomes in order: the callable's result, or the exception it raised (the outcome under
    test). Each thread closes its own database connection."""
    barrier = threading.Barrier(len(calls))
    outcomes = [None] * len(calls)

    def worker(i, call):
        try:
            barrier.wait()
            outcomes[i] = call()
        except Exception as exc:  # noqa: BLE001 - collected for the assertions
            outcomes[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    return outcomes
