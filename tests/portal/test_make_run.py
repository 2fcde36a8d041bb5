"""`make run` serves the portal and runs a background worker (R45); Ctrl-C stops both and
leaves no process behind."""

import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from django.db import connection

from tests.portal.conftest import database_url, free_port

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.real_jobs,
    pytest.mark.usefixtures("empty_job_queue"),
]


def descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def workers() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM procrastinate_workers")
        return cursor.fetchone()[0]


def test_ctrl_c_on_make_run_stops_the_web_server_and_the_worker(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PORTAL_"))}
    # This test's (migrated) database: `make run` migrates nothing and loads the demo data.
    env.update(DATABASE_URL=database_url(), HOST="127.0.0.1", PORT=str(port))
    log = tmp_path / "run.log"
    make = subprocess.Popen(
        ["make", "--no-print-directory", "-o", ".venv/.installed", "run"],
        cwd=ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/accounts/login/", timeout=5):
                    pass
                if workers() == 1:
                    break
            except OSError:
                pass
            if make.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"make run did not serve:\n{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.3)
        processes = descendants(make.pid)
        # runserver and its autoreloader's child, the worker, the command that holds them.
        assert len(processes) >= 4

        # What Ctrl-C in a terminal does: SIGINT to the foreground process group.
        os.killpg(make.pid, signal.SIGINT)
        make.wait(timeout=60)
        deadline = time.monotonic() + 10
        while any(alive(pid) for pid in processes) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert [pid for pid in processes if alive(pid)] == [], log.read_text(errors="replace")
        assert workers() == 0  # the worker stopped gracefully and said so
    finally:
        if make.poll() is None:
            os.killpg(make.pid, signal.SIGKILL)
            make.wait()
