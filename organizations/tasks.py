"""Organizations' background tasks (R45): applying a CSV import (R7)."""

from procrastinate import RetryStrategy

from organizations.services.imports import member_import_process
from portal.jobs import job_task


# A failure here is the database's (member_add's refusals are rows of the report): a few
# retries a minute apart, each going on from the last committed batch.
@job_task(
    name="organizations.member_import_run", retry=RetryStrategy(max_attempts=10, linear_wait=60)
)
def member_import_run(*, import_id: int) -> str:
    return member_import_process(import_id=import_id)
