"""Several app servers and several workers on one PostgreSQL (README "Several app servers",
R45): two gunicorn servers behind nginx (round robin) and two background workers, all
separate processes on one database.

- 40 consumptions of 3.00 at once on a pool of 100.00, spread over both servers by the proxy,
  succeed exactly 33 times (R22 holds across servers: the rule is settled in PostgreSQL);
- both workers schedule the same periodic jobs, and each scheduled run happens once.

nginx is Debian's (`.ci/run` installs it); its files live in the test's own folder.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.db import connection

from portal.services import api_token_create
from tests.credits.factories import fund_pool, set_access
from tests.factories import add_member, make_org_admin
from tests.portal.conftest import database_url, free_port

ROOT = Path(__file__).resolve().parents[2]
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.real_jobs,
    pytest.mark.usefixtures("empty_job_queue"),
]


def nginx_conf(folder: Path, port: int, upstreams: list[int]) -> Path:
    servers = "\n".join(f"        server 127.0.0.1:{p};" for p in upstreams)
    # As root (CI), nginx's workers would switch to a user that cannot write this folder.
    user = "user root;" if os.geteuid() == 0 else ""
    conf = folder / "nginx.conf"
    conf.write_text(
        f"""
{user}
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/nginx-error.log;
events {{ worker_connections 256; }}
http {{
    access_log {folder}/nginx-access.log;
    client_body_temp_path {folder}/body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    upstream portal {{
{servers}
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://portal;
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }}
    }}
}}
"""
    )
    return conf


def wait_for(url: str, processes, logs: list[Path], seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            pass
        if time.monotonic() > deadline or any(p.poll() is not None for p in processes):
            text = "\n".join(log.read_text(errors="replace")[-1500:] for log in logs)
            pytest.fail(f"{url} did not answer:\n{text}")
        time.sleep(0.3)


def consume(base: str, secret: str, n: int, email: str) -> int:
    body = json.dumps({"account": email, "amount": "3.00", "reference": f"render-{n}"}).encode()
    request = urllib.request.Request(
        f"{base}/api/v1/credits/consumptions",
        data=body,
        method="POST",
        headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_two_servers_and_two_workers_behind_nginx_keep_the_rules(tmp_path):
    organization = make_org_admin().administered_organization
    member = add_member(organization).account
    fund_pool(organization, "100.00")
    set_access(member, organization, "unlimited")
    _token, secret = api_token_create(actor=None, name="farm", scopes=["credits:consume"])

    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PORTAL_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="portal.settings.local",
        DJANGO_DEBUG="false",
        DATABASE_URL=database_url(),
        DJANGO_EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
    )
    ports = [free_port(), free_port()]
    proxy_port = free_port()
    processes, logs = [], []

    def start(name, command):
        log = tmp_path / f"{name}.log"
        logs.append(log)
        processes.append(
            subprocess.Popen(
                command,
                cwd=ROOT,
                env=env,
                stdout=log.open("wb"),
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )

    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    try:
        for n, port in enumerate(ports):
            start(
                f"web{n}",
                [gunicorn, "portal.wsgi:application", "--bind", f"127.0.0.1:{port}"]
                + ["--workers", "1", "--threads", "8", "--access-logfile", "-"],
            )
            start(f"worker{n}", [sys.executable, "manage.py", "procrastinate", "worker"])
        conf = nginx_conf(tmp_path, proxy_port, ports)
        start("nginx", [NGINX, "-c", str(conf), "-p", str(tmp_path), "-g", "daemon off;"])
        for port in ports:
            wait_for(f"http://127.0.0.1:{port}/accounts/login/", processes, logs)
        base = f"http://127.0.0.1:{proxy_port}"
        wait_for(f"{base}/accounts/login/", processes, logs)

        with ThreadPoolExecutor(max_workers=40) as pool:
            statuses = list(pool.map(lambda n: consume(base, secret, n, member.email), range(40)))
        assert statuses.count(201) == 33, statuses
        assert set(statuses) == {201, 402}, statuses  # insufficient_credits
        # Both servers answered some of them.
        for n in range(2):
            assert "/api/v1/credits/consumptions" in (tmp_path / f"web{n}.log").read_text()

        # Both workers are up; each schedules the every-minute jobs, which run once per minute.
        deadline = time.monotonic() + 60
        with connection.cursor() as cursor:
            while True:
                cursor.execute("SELECT count(*) FROM procrastinate_workers")
                up = cursor.fetchone()[0]
                cursor.execute(
                    "SELECT count(*) FROM procrastinate_jobs "
                    "WHERE task_name = 'credits.expire' AND status = 'succeeded'"
                )
                if (up == 2 and cursor.fetchone()[0] >= 1) or time.monotonic() > deadline:
                    break
                time.sleep(0.3)
            assert up == 2
            cursor.execute(
                "SELECT d.defer_timestamp, count(*), "
                "count(*) FILTER (WHERE e.type = 'started') "
                "FROM procrastinate_periodic_defers d "
                "JOIN procrastinate_events e ON e.job_id = d.job_id "
                "WHERE d.task_name = 'credits.expire' GROUP BY d.defer_timestamp"
            )
            runs = cursor.fetchall()
        assert runs, "no scheduled expiry ran"
        # One job per scheduled minute, started once.
        assert all(started == 1 for _minute, _events, started in runs), runs
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGINT)
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
