"""Background jobs (R45): emails and alerts saved with their change and sent by a worker, at
least once with one Message-ID, retried while the mail server is away, failures shown and
retried from the admin, schedules run once whatever the number of workers.

These tests run real workers (`portal.jobs.jobs_run_worker`, on a connection of their own),
so their changes must really commit: `transaction=True`.
"""

import socket
import threading
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from django.contrib import admin
from django.contrib.messages.storage.fallback import FallbackStorage
from django.core import mail
from django.db import connection, connections, transaction
from django.test import RequestFactory
from procrastinate.contrib.django import app
from procrastinate.contrib.django.models import ProcrastinateJob
from procrastinate.periodic import PeriodicDeferrer

from credits import services as credits_services
from credits.models import Lot
from portal import jobs
from portal.emails import email_send
from portal.models import JobError
from tests.credits.factories import fund_pool, set_access
from tests.factories import add_member, make_org_admin
from tests.portal.conftest import free_port

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.real_jobs,
    pytest.mark.usefixtures("empty_job_queue"),
]


def email_jobs():
    return list(ProcrastinateJob.objects.filter(task_name="portal.email_deliver").order_by("id"))


def test_a_rolled_back_change_sends_nothing_and_a_committed_one_sends_once():
    with pytest.raises(RuntimeError), transaction.atomic():
        email_send(to="a@x.example", subject="Never", template="password_changed", context={})
        raise RuntimeError("the change fails after its email was written")
    assert email_jobs() == []

    with transaction.atomic():
        email_send(to="a@x.example", subject="Once", template="password_changed", context={})
        # Nothing leaves before the commit: the worker cannot even see the job yet.
        jobs.jobs_run_worker()
        assert mail.outbox == []
    jobs.jobs_run_worker()
    jobs.jobs_run_worker()
    assert [m.subject for m in mail.outbox] == ["Once"]
    [job] = email_jobs()
    assert job.status == "succeeded"
    assert mail.outbox[0].extra_headers["Message-ID"] == job.args["message_id"]


def test_with_the_mail_server_down_the_page_answers_and_the_email_arrives_once_later(
    client, smtp, settings
):
    org_admin = make_org_admin()
    client.force_login(org_admin)
    client.get("/organization/users/")  # the first page of a process is slower than the rest
    # A mail server that accepts connections and never answers: a request that waited for it
    # would take the minute of EMAIL_TIMEOUT.
    hung = socket.create_server(("127.0.0.1", settings.EMAIL_PORT))
    settings.EMAIL_TIMEOUT = 60
    started = time.monotonic()
    response = client.post("/organization/users/add/", {"email": "new.user@x.example"})
    assert response.status_code in (200, 302)
    assert time.monotonic() - started < 10
    hung.close()  # now the port refuses: the mail server is down
    settings.EMAIL_TIMEOUT = 5
    [job] = [j for j in email_jobs() if j.args["to"] == ["new.user@x.example"]]

    jobs.jobs_run_worker(queues=[jobs.EMAILS])
    job.refresh_from_db()
    assert (job.status, job.attempts) == ("todo", 1)  # to be tried again, later
    waited = (job.scheduled_at - datetime.now(UTC)).total_seconds()
    assert 20 < waited <= 30
    error = JobError.objects.get(job_id=job.id)
    assert "Connection refused" in error.error or "ConnectionRefused" in error.error

    jobs.jobs_run_worker(queues=[jobs.EMAILS])  # not yet due: nothing is tried
    job.refresh_from_db()
    assert job.attempts == 1

    sink = smtp()
    # The backoff's 30 seconds pass.
    with connection.cursor() as cursor:
        cursor.execute("UPDATE procrastinate_jobs SET scheduled_at = now() WHERE id = %s", [job.id])
    jobs.jobs_run_worker(queues=[jobs.EMAILS])
    jobs.jobs_run_worker(queues=[jobs.EMAILS])
    job.refresh_from_db()
    assert job.status == "succeeded"
    invitations = [m for m in sink.messages if "To: new.user@x.example" in m]
    assert len(invitations) == 1 and len(sink.messages) == 1
    assert job.args["message_id"] in sink.message_ids()


def test_transient_errors_are_retried_for_a_day_then_fail_and_refusals_fail_at_once():
    import smtplib

    strategy = jobs.MAIL_RETRY

    class Job:
        attempts = 0

    job = Job()
    down = ConnectionRefusedError(111, "Connection refused")
    waits = []
    while (decision := strategy.get_retry_decision(exception=down, job=job)) is not None:
        waits.append((decision.retry_at - datetime.now(UTC)).total_seconds())
        assert strategy.wait(job.attempts) - 5 < waits[-1] <= strategy.wait(job.attempts)
        waits[-1] = strategy.wait(job.attempts)
        job.attempts += 1
    assert waits[:3] == [30, 60, 120] and max(waits) == 3600
    assert sum(waits) >= 24 * 3600 and sum(waits[:-1]) < 24 * 3600
    job.attempts = 0
    refused = smtplib.SMTPRecipientsRefused({"x@x.example": (550, b"no such user")})
    assert strategy.get_retry_decision(exception=refused, job=job) is None
    busy = smtplib.SMTPDataError(451, b"try again later")
    assert strategy.get_retry_decision(exception=busy, job=job) is not None


def test_a_failed_job_shows_its_error_in_the_admin_and_is_retried_from_there(staff, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()
    email_send(to="a@x.example", subject="Hello", template="password_changed", context={})
    [job] = email_jobs()
    # The last retry: a day of backoff is behind it.
    with connection.cursor() as cursor:
        cursor.execute("UPDATE procrastinate_jobs SET attempts = 40 WHERE id = %s", [job.id])
    jobs.jobs_run_worker()
    job.refresh_from_db()
    assert job.status == "failed"

    # The job admin's own views (the staff's sign-in and second factor are tested elsewhere).
    job_admin = admin.site._registry[ProcrastinateJob]

    def admin_request(method, data=None):
        request = getattr(RequestFactory(), method)("/admin/procrastinate/procrastinatejob/", data)
        request.user = staff
        request.session = {}
        request._messages = FallbackStorage(request)
        request._dont_enforce_csrf_checks = True  # the CSRF middleware is not in this call
        return request

    request = admin_request("get", {"status": "failed"})
    page = job_admin.changelist_view(request).render().content.decode()
    assert "Connection refused" in page or "ConnectionRefused" in page
    assert "characters, not shown" in page  # the email's text stays out of the list
    retry = {"action": "retry_jobs", "index": 0, "_selected_action": [job.id]}
    request = admin_request("post", retry)
    job_admin.changelist_view(request)
    assert [m.message for m in request._messages] == ["1 job(s) will run again."]
    job.refresh_from_db()
    assert job.status == "todo"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    jobs.jobs_run_worker()
    assert [m.subject for m in mail.outbox] == ["Hello"]


def test_a_quota_crossing_alerts_once_with_consumptions_arriving_together():
    """R30 under R45: eight consumptions at once take a quota of 10 past 80% and then to 100%;
    each crossing is saved once, so each alert is emailed once."""
    org_admin = make_org_admin()
    organization = org_admin.administered_organization
    member = add_member(organization).account
    fund_pool(organization, "100.00")
    set_access(member, organization, "quota", "10.00")
    barrier = threading.Barrier(8)
    failures = []

    def spend(n):
        try:
            barrier.wait()
            credits_services.credits_consume(account=member, amount="1.25", reference=f"r-{n}")
        except Exception as exc:  # pragma: no cover - shown by the assertion below
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=spend, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert mail.outbox == []  # no consumption's request sent anything
    jobs.jobs_run_worker()
    subjects = sorted(m.subject for m in mail.outbox if m.subject.startswith("Credit quota"))
    assert subjects == [
        f"Credit quota 100% used: {member.email}",
        f"Credit quota 80% used: {member.email}",
    ]


def test_scheduled_jobs_run_once_at_their_time_whatever_the_number_of_workers():
    """Two workers' schedulers at the same frozen minute defer one expiry job; the worker
    runs it and the expired lot is written off."""
    organization = make_org_admin().administered_organization
    fund_pool(organization, "10.00")
    Lot.objects.update(expires_at=datetime.now(UTC) - timedelta(days=1))
    minute = datetime(2027, 1, 1, 0, 1, 30, tzinfo=UTC).timestamp()

    async def defer_as_two_workers():
        for _ in range(2):
            deferrer = PeriodicDeferrer(registry=app.periodic_registry, max_delay=10**9)
            due = [
                t
                for t in deferrer.get_previous_tasks(at=minute)
                if t[0].task.name == "credits.expire"
            ]
            assert len(due) == 1
            await deferrer.defer_jobs(jobs_to_defer=due)

    async def defer_then_close():
        await defer_as_two_workers()
        # The deferrers used Django's connection in asgiref's thread: it must not outlive them.
        await sync_to_async(connections.close_all, thread_sensitive=True)()

    jobs.run_coroutine(defer_then_close)
    at_that_minute = ProcrastinateJob.objects.filter(
        task_name="credits.expire", args__timestamp=int(minute // 60 * 60)
    )
    assert at_that_minute.count() == 1
    jobs.jobs_run_worker()
    [job] = at_that_minute
    assert job.status == "succeeded"
    lot = Lot.objects.get()
    assert lot.remaining == Decimal("0") and lot.expired_entry_id is not None
