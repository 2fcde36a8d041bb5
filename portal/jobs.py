"""Background jobs (R45) on Procrastinate.

A job is a row of this database (`procrastinate_jobs`), saved by `job_defer` on Django's own
connection, so inside the transaction of the change that causes it: a change rolled back
leaves no job, a committed one leaves a job that a worker (`manage.py procrastinate worker`)
runs. Several workers on several machines share the table; PostgreSQL's row locks give each
job to one worker, and a schedule's unique key lets one worker defer each scheduled run.

Tasks are written with `job_task` in each app's `tasks.py`: it records the error of a failed
attempt in `JobError`, which the Django admin shows beside the job (Procrastinate's Django
app already closes stale connections around each job, as Django does around a request).
"""

import asyncio
import functools
import json
import logging
import smtplib
import threading
from collections.abc import Callable
from typing import Any

from django.db import connection, connections
from django.utils import timezone
from procrastinate import BaseRetryStrategy, RetryDecision
from procrastinate.contrib.django import app

from portal.models import JobError

logger = logging.getLogger(__name__)

# Emails have a queue of their own, so that a backlog of them never delays scheduled work.
EMAILS = "emails"
DEFAULT = "default"

# The plain functions of the tasks by name: what a worker runs, for `job_run_inline`.
TASK_FUNCTIONS: dict[str, Callable[..., Any]] = {}


class TransientRetry(BaseRetryStrategy):
    """R45: a transient failure (the mail server down, refusing for now, a network error) is
    retried after 30 s, then twice as long each time up to an hour, until the waits add up
    to at least `total` seconds (24 hours); then the job is failed and waits for staff.

    A permanent refusal (a 5xx answer: no such recipient, message refused) fails at once:
    asking again would get the same answer."""

    def __init__(self, *, first: int = 30, cap: int = 3600, total: int = 24 * 3600):
        self.first, self.cap, self.total = first, cap, total

    def wait(self, attempts: int) -> int:
        return min(self.first * 2 ** min(attempts, 20), self.cap)

    def waited_before(self, attempts: int) -> int:
        return sum(self.wait(n) for n in range(attempts))

    def get_retry_decision(self, *, exception: BaseException, job) -> RetryDecision | None:
        if not transient(exception) or self.waited_before(job.attempts) >= self.total:
            return None
        return RetryDecision(retry_in={"seconds": self.wait(job.attempts)})


def transient(exception: BaseException) -> bool:
    if isinstance(exception, smtplib.SMTPRecipientsRefused):
        return False
    if isinstance(exception, smtplib.SMTPResponseException):
        return not 500 <= exception.smtp_code < 600
    # smtplib's other errors, refused connections and timeouts are all OSErrors.
    return isinstance(exception, OSError)


MAIL_RETRY = TransientRetry()


def job_task(*, name: str, queue: str = DEFAULT, retry: BaseRetryStrategy | None = None, **options):
    """Declare a task run by the worker under `name` (the name jobs are saved with, so it
    must never change while jobs of that name may wait in the table)."""

    def decorate(func):
        TASK_FUNCTIONS[name] = func

        @functools.wraps(func)
        def run(context, **kwargs):
            try:
                return func(**kwargs)
            except Exception as exc:
                job_error_record(job=context.job, exc=exc)
                raise

        return app.task(name=name, queue=queue, retry=retry, pass_context=True, **options)(run)

    return decorate


def job_defer(task, /, **kwargs) -> int:
    """Save a job for `task` in the current transaction (R45) and return its id."""
    return task.defer(**kwargs)


def job_error_record(*, job, exc: BaseException) -> None:
    """Keep the last error of a job for the admin (Procrastinate itself keeps none)."""
    text = f"{type(exc).__name__}: {exc}"[:2000]
    logger.warning("job %s (%s) failed: %s", job.id, job.task_name, text)
    try:
        JobError.objects.update_or_create(
            job_id=job.id,
            defaults={
                "task_name": job.task_name,
                "attempts": job.attempts + 1,
                "error": text,
                "failed_at": timezone.now(),
            },
        )
    except Exception:
        # The database may be what failed; the job's own retry still stands.
        logger.exception("could not record the error of job %s", job.id)


def job_run_inline(name: str, kwargs: dict) -> Any:
    """Run a task's function here, as a worker would (tests, and `jobs_run_here`)."""
    return TASK_FUNCTIONS[name](**kwargs)


def jobs_run_here() -> int:
    """Run every waiting job on this process's own connection, then delete it. For tests,
    whose uncommitted rows no worker can see; returns the number of jobs run."""
    done = 0
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT id, task_name, args FROM procrastinate_jobs WHERE status = 'todo' "
                "ORDER BY id LIMIT 1"
            )
            row = cursor.fetchone()
            if row is None:
                return done
            cursor.execute("DELETE FROM procrastinate_jobs WHERE id = %s", [row[0]])
        # Django reads jsonb as text (its JSONField decodes it); a worker gets it decoded.
        job_run_inline(row[1], json.loads(row[2]) if isinstance(row[2], str) else row[2])
        done += 1


def jobs_run_worker(*, queues: list[str] | None = None, **options) -> None:
    """Run a worker in this process until no job is left (`wait=False`): operators' scripts
    and tests. It uses a connection of its own, as a worker process does."""
    options = {
        "wait": False,
        "install_signal_handlers": False,
        "listen_notify": False,
        "queues": queues,
        # The worker's threads end with this run: their connections must not outlive it.
        "task_middleware": [_close_connections_after],
        **options,
    }
    # As `manage.py procrastinate worker` does: the app itself (which the tasks and the
    # scheduler use) works on a connection pool of its own for the run.
    with app.replace_connector(app.connector.get_worker_connector()):

        async def run():
            async with app.open_async():
                await app.run_worker_async(**options)

        run_coroutine(run)


def run_coroutine(coroutine_function) -> None:
    """`asyncio.run` of `coroutine_function()`, also from a thread whose event loop is already
    running (the browser tests' driver keeps one open): then on a thread of its own."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(coroutine_function())
        return
    failure = []

    def target():
        try:
            asyncio.run(coroutine_function())
        except BaseException as exc:  # handed back to the caller below
            failure.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]


def _close_connections_after(call_next, context, worker):
    try:
        return call_next()
    finally:
        connections.close_all()
