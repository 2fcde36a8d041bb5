"""Helpers of the background jobs' tests (R45): a local SMTP server, an empty queue."""

import contextlib
import socket
import time

import pytest
from aiosmtpd.controller import Controller
from django.conf import settings
from django.db import connection


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Sink:
    """A local SMTP server that keeps what it accepts."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope.content.decode())
        return "250 OK"

    def message_ids(self):
        return [
            line.split(":", 1)[1].strip()
            for message in self.messages
            for line in message.splitlines()
            if line.lower().startswith("message-id:")
        ]


@contextlib.contextmanager
def sink_at(port: int):
    """A local SMTP server on `port` for the duration of the block."""
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()


@pytest.fixture
def smtp(settings):
    """The portal's SMTP settings pointed at a local port where nothing listens yet;
    `smtp()` starts the mail server there."""
    port = free_port()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", port, 5
    with contextlib.ExitStack() as stack:
        yield lambda: stack.enter_context(sink_at(port))


def sessions_on_this_database() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


@pytest.fixture
def empty_job_queue(transactional_db):
    # Procrastinate's tables are not Django models that a transactional test empties.
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE procrastinate_jobs, procrastinate_periodic_defers, procrastinate_workers "
            "CASCADE"
        )
    yield
    # A worker's connections end with its run (the test database is dropped at the end); a
    # stopped process's session takes a moment to go.
    deadline = time.monotonic() + 5
    while sessions_on_this_database() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert sessions_on_this_database() == 0


def database_url() -> str:
    """The URL of this test's database, for the processes a test starts."""
    db = settings.DATABASES["default"]
    host = db["HOST"] or db["OPTIONS"].get("host")
    if host.startswith("/"):
        return f"postgres://{db['USER']}@/{db['NAME']}?host={host}"
    return f"postgres://{db['USER']}:{db['PASSWORD']}@{host}:{db['PORT'] or 5432}/{db['NAME']}"
