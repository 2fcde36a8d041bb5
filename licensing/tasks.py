"""Licensing's background tasks (R45): seat expiry on a schedule (what `manage.py
expire_seats` does, for scripts)."""

from procrastinate.contrib.django import app

from licensing.services import seat_tallies_compact, seats_release_ended
from portal.audit import audit_channel
from portal.jobs import job_task


# R13 every quarter of an hour; seats end on dates, so sooner would find nothing new.
@app.periodic(cron="*/15 * * * *", periodic_id="quarter-hourly")
@job_task(name="licensing.expire_seats", lock="licensing.expire", queueing_lock="licensing.expire")
def seats_expire_scheduled(*, timestamp: int) -> str:
    with audit_channel("system"):
        released = seats_release_ended(actor=None)
    rows = seat_tallies_compact()
    return f"{released} seats released, tallies folded to {rows} rows"
