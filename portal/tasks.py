"""The portal's own background tasks (R45): sending an email, and running again the jobs of
a worker that died."""

import logging

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from procrastinate.contrib.django import app

from portal.jobs import DEFAULT, EMAILS, MAIL_RETRY, job_task

logger = logging.getLogger(__name__)


@job_task(name="portal.email_deliver", queue=EMAILS, retry=MAIL_RETRY)
def email_deliver(*, subject: str, body: str, from_email: str, to: list[str], message_id: str):
    """Hand one message to the mail server. The Message-ID comes with the job, so a second
    run of the same job (after a worker died) sends the very same message (R45).

    Only a failure before the server accepted the message raises, and so retries; once the
    server said yes, an error while saying goodbye is logged and the job succeeds, so the
    portal's own retries never send an accepted message twice."""
    message = EmailMessage(subject, body, from_email, to, headers={"Message-ID": message_id})
    mail = get_connection(fail_silently=False)
    mail.open()
    try:
        mail.send_messages([message])
    finally:
        try:
            mail.close()
        except Exception:
            logger.warning("the mail server failed after accepting %s", message_id, exc_info=True)


@app.periodic(cron="* * * * *", periodic_id="every-minute")
@app.task(name="portal.jobs_retry_stalled", queue=DEFAULT, pass_context=True)
async def jobs_retry_stalled(context, timestamp: int) -> int:
    """A worker that died (killed, machine lost) leaves its jobs "doing"; once its heartbeat
    is older than the workers' `stalled_worker_timeout`, they are put back to run again (at
    least once, R45)."""
    timeout = settings.PROCRASTINATE_WORKER_DEFAULTS["stalled_worker_timeout"]
    manager = context.app.job_manager
    stalled = await manager.get_stalled_jobs(seconds_since_heartbeat=timeout)
    for job in stalled:
        await manager.retry_job(job)
    return len(stalled)
