"""`make serve` as a deployment runs it: production settings, collectstatic, migrate, gunicorn,
static files served by whitenoise (README "Deploying").

The database is a fresh one on the PostgreSQL server the suite runs on, dropped afterwards.
"""

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def fetch(url, headers=None):
    opener = urllib.request.build_opener(NoRedirect)
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with opener.open(request, timeout=5) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


@pytest.fixture
def database_url():
    """A database of its own on the server the suite runs on, dropped afterwards."""
    import psycopg

    db = settings.DATABASES["default"]
    name = f"portal_serve_{uuid.uuid4().hex[:8]}"
    # The embedded server listens on a Unix socket, given as the `host` option.
    host = db["HOST"] or db["OPTIONS"].get("host")
    params = dict(
        host=host,
        port=db["PORT"] or 5432,
        user=db["USER"],
        password=db["PASSWORD"],
        dbname="postgres",
        autocommit=True,
    )
    with psycopg.connect(**params) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    if host.startswith("/"):
        yield f"postgres://{db['USER']}@/{name}?host={host}"
    else:
        yield f"postgres://{db['USER']}:{db['PASSWORD']}@{host}:{params['port']}/{name}"
    with psycopg.connect(**params) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.slow
def test_make_serve_runs_gunicorn_with_whitenoise(database_url, tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env.update(
        DJANGO_SECRET_KEY="serve-test-" + "s3cret-k3y-w1th-3nough-v4riety-!@#$%^&*" * 2,
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        DATABASE_URL=database_url,
        WEB_CONCURRENCY="1",
        # A directory of its own: nothing left by an earlier collectstatic counts.
        DJANGO_STATIC_ROOT=str(tmp_path / "static"),
        HOST="127.0.0.1",
        PORT=str(port),
    )
    # `-o` : the virtualenv is taken as installed (no pip run inside the test).
    # Output goes to a file: a pipe nobody reads would fill up and stall the server.
    log = tmp_path / "serve.log"
    server = subprocess.Popen(
        ["make", "--no-print-directory", "-o", ".venv/.installed", "serve"],
        cwd=ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    https = {"X-Forwarded-Proto": "https", "Host": "localhost"}
    try:
        # collectstatic compresses with gzip and Brotli first (about half a minute on 2 cores).
        deadline = time.monotonic() + 120
        while True:
            try:
                status, _, _ = fetch(base + "/accounts/login/", https)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    stop(server)
                    output = log.read_text(errors="replace")
                    pytest.fail(f"make serve did not answer:\n{output[-3000:]}")
                time.sleep(0.3)

        # The sign-in page over "HTTPS" (as the proxy says), with the production headers.
        status, headers, body = fetch(base + "/accounts/login/", https)
        assert status == 200, log.read_text(errors="replace")[-3000:]
        assert "max-age=31536000" in headers["Strict-Transport-Security"]
        assert "script-src 'self'" in headers["Content-Security-Policy"]
        # Plain HTTP is sent to HTTPS.
        status, headers, _ = fetch(base + "/accounts/login/", {"Host": "localhost"})
        assert status == 301 and headers["Location"].startswith("https://")

        # Static files: hashed names in the page, served by whitenoise, cached for good, gzip.
        manifest = json.loads((tmp_path / "static" / "staticfiles.json").read_text())
        css = manifest["paths"]["css/portal.css"]
        assert f"/static/{css}".encode() in body
        status, headers, content = fetch(
            f"{base}/static/{css}", {**https, "Accept-Encoding": "gzip"}
        )
        assert status == 200
        assert headers["Content-Type"].startswith("text/css")
        assert "immutable" in headers["Cache-Control"]
        assert headers.get("Content-Encoding") == "gzip"
        status, _, _ = fetch(f"{base}/static/{manifest['paths']['js/htmx.min.js']}", https)
        assert status == 200
        status, _, _ = fetch(f"{base}/static/no-such-file.css", https)
        assert status == 404

        # The database was migrated: the API answers from it.
        status, headers, body = fetch(base + "/api/v1/org", https)
        assert status == 401 and json.loads(body)["error"]["code"] == "unauthenticated"
    finally:
        stop(server)


def stop(server):
    """make, gunicorn and its workers share one process group: ask them to stop, then make
    sure (a worker stuck in a request would otherwise outlive the test)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        server.wait(timeout=10)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGKILL)
    server.wait()
