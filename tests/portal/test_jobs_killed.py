"""R45 at least once: a worker killed (SIGKILL) at a named point of sending an email leaves
its job to be run again, and every copy that reaches the mail server is the same message
(one Message-ID)."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection
from procrastinate.contrib.django.models import ProcrastinateJob

from portal import jobs, tasks
from portal.emails import email_send
from tests.portal.conftest import database_url, free_port, sink_at

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.real_jobs,
    pytest.mark.usefixtures("empty_job_queue"),
]


@pytest.mark.parametrize(
    "point, copies",
    [("before-connecting", 1), ("after-accepted", 2), ("before-marked-done", 2)],
)
def test_a_killed_worker_s_email_is_sent_again_as_the_same_message(point, copies, settings):
    port = free_port()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    email_send(to="a@x.example", subject="Your receipt", template="password_changed", context={})
    [job] = ProcrastinateJob.objects.filter(task_name="portal.email_deliver")

    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env.update(
        DJANGO_SETTINGS_MODULE="portal.settings.local",
        DJANGO_DEBUG="false",
        DATABASE_URL=database_url(),
        DJANGO_EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        DJANGO_EMAIL_HOST="127.0.0.1",
        DJANGO_EMAIL_PORT=str(port),
        PYTHONPATH=str(ROOT),
    )
    with sink_at(port) as sink:
        worker = subprocess.run(
            [sys.executable, "tests/portal/worker_killed_at.py", point],
            cwd=ROOT,
            env=env,
            capture_output=True,
            timeout=120,
        )
        assert worker.returncode == -signal.SIGKILL, worker.stderr.decode()[-2000:]
        job.refresh_from_db()
        assert job.status == "doing"  # the dead worker's job, as it left it

        # Its heartbeat stops; once older than the timeout, the job is run again.
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE procrastinate_workers SET last_heartbeat = now() - interval '1 hour'"
            )
        tasks.jobs_retry_stalled.defer(timestamp=0)
        jobs.jobs_run_worker()

        job.refresh_from_db()
        assert job.status == "succeeded"
        assert len(sink.messages) == copies
        assert set(sink.message_ids()) == {job.args["message_id"]}
