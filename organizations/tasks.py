"""Organizations' background tasks (R45): applying a CSV import (R7), folding the member
tallies."""

from procrastinate import RetryStrategy
from procrastinate.contrib.django import app

from organizations.services.imports import member_import_process
from organizations.services.tallies import member_tallies_compact
from portal.jobs import job_task


# A failure here is the database's (member_add's refusals are rows of the report): a few
# retries a minute apart, each going on from the last committed batch.
@job_task(
    name="organizations.member_import_run", retry=RetryStrategy(max_attempts=10, linear_wait=60)
)
def member_import_run(*, import_id: int) -> str:
    return member_import_process(import_id=import_id)


# The member tallies' log grows by a row per change; folded every quarter of an hour so that
# counting an organization's members stays a few rows.
@app.periodic(cron="*/15 * * * *", periodic_id="quarter-hourly")
@job_task(name="organizations.member_tallies_compact", lock="organizations.member_tallies")
def member_tallies_compact_scheduled(*, timestamp: int) -> str:
    rows = member_tallies_compact()
    return f"member tallies folded to {rows} rows"
