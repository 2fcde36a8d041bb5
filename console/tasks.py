"""Scheduled checks that span apps (R45): the nightly `verify_ledger`."""

from procrastinate.contrib.django import app

from console.services import ledger_verify_and_report
from portal.jobs import job_task


class LedgerProblems(Exception):
    """The nightly check found violations: the job fails, so staff see it in the admin too."""


# R27 nightly, when the portal is quietest; `manage.py verify_ledger` stays for scripts.
@app.periodic(cron="17 3 * * *", periodic_id="nightly")
@job_task(name="console.verify_ledger", lock="console.verify_ledger")
def verify_ledger_nightly(*, timestamp: int) -> str:
    problems = ledger_verify_and_report()
    if problems:
        raise LedgerProblems(
            f"{len(problems)} ledger violation(s), emailed to staff: " + "; ".join(problems[:5])
        )
    return "Ledger OK: every invariant holds."
