"""`manage.py with_worker -- COMMAND…`: run a command (the web server) and one background
worker (R45) beside it, as one process to start and stop.

`make run` serves with `runserver` this way and `make serve` with gunicorn. Each child runs in
a process group of its own, so that stopping them reaches the whole group (runserver's
autoreloader has a child of its own): Ctrl-C or SIGTERM here stops both gracefully (the worker
finishes the job in hand), and either one ending stops the other. No process is left.
"""

import contextlib
import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

GRACE_SECONDS = 20


class Command(BaseCommand):
    help = "Run COMMAND (the web server) with one background worker beside it; Ctrl-C stops both."

    def add_arguments(self, parser):
        parser.add_argument("command", nargs="+", help="the command to run beside the worker")

    def handle(self, *args, **options):
        command = options["command"]
        if command and command[0] == "--":
            command = command[1:]
        if not command:
            raise CommandError("Name the command to run beside the worker.")
        manage = str(settings.BASE_DIR / "manage.py")
        worker = [sys.executable, manage, "procrastinate", "worker"]
        children = [self._start(command), self._start(worker)]

        def stop(signum, frame):
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, stop)
        status = 0
        try:
            while all(child.poll() is None for child in children):
                time.sleep(0.2)
            status = next(child.returncode for child in children if child.returncode is not None)
        except KeyboardInterrupt:
            pass
        finally:
            self._stop(children)
        if status:
            raise CommandError(f"{' '.join(command)} stopped (exit {status}).", returncode=status)

    def _start(self, command):
        return subprocess.Popen(command, start_new_session=True)

    def _stop(self, children):
        for child in children:
            self._signal(child, signal.SIGINT)
        deadline = time.monotonic() + GRACE_SECONDS
        for child in children:
            try:
                child.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                self._signal(child, signal.SIGKILL)
                child.wait()
            # A group member that outlived its leader (a server's own child) goes too.
            self._signal(child, signal.SIGKILL)

    @staticmethod
    def _signal(child, signum):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signum)
