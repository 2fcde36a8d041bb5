"""Credits' background tasks (R45): the alerts that a consumption saved, and expiry on a
schedule (what `manage.py expire_credits` does, for scripts)."""

from procrastinate import RetryStrategy
from procrastinate.contrib.django import app

from credits import services
from portal.audit import audit_channel
from portal.jobs import job_task


# A failure here is the database's, not the mail server's: a few retries a minute apart.
@job_task(name="credits.alerts_send", retry=RetryStrategy(max_attempts=10, linear_wait=60))
def alerts_send(*, account_id, organization_id, quota_level, used_after, pool_after):
    """R30: the alerts saved by `credits_consume` with the consumption (or hold) itself."""
    services.alerts_send(
        account_id=account_id,
        organization_id=organization_id,
        quota_level=quota_level,
        used_after=used_after,
        pool_after=pool_after,
    )


# R28, R37 every minute. A run still going when the next is due is not doubled (`lock`), and
# at most one waits behind it (`queueing_lock`).
@app.periodic(cron="* * * * *", periodic_id="every-minute")
@job_task(name="credits.expire", lock="credits.expire", queueing_lock="credits.expire")
def credits_expire_scheduled(*, timestamp: int) -> str:
    with audit_channel("system"):
        # Holds first: what they give back to an expired lot is then written off with it.
        holds = services.holds_expire()
        lots = services.credits_expire(actor=None)
    return f"{holds} holds released, {lots} lots expired"
