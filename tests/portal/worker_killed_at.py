"""A worker process that kills itself (SIGKILL: no cleanup, no goodbye) at one named point of
sending an email job: `python tests/portal/worker_killed_at.py POINT`. Used by
tests/portal/test_jobs_killed.py; the settings come from the environment."""

import os
import signal
import smtplib
import sys

import django


def die():
    os.kill(os.getpid(), signal.SIGKILL)


def main(point: str) -> None:
    django.setup()
    from django.core.mail.backends.smtp import EmailBackend
    from procrastinate.manager import JobManager

    from portal import jobs

    if point == "before-connecting":
        EmailBackend.open = lambda self: die()
    elif point == "after-accepted":
        sendmail = smtplib.SMTP.sendmail

        def accepted_then_die(self, *args, **kwargs):
            sendmail(self, *args, **kwargs)
            die()

        smtplib.SMTP.sendmail = accepted_then_die
    elif point == "before-marked-done":

        async def die_instead(self, *args, **kwargs):
            die()

        JobManager.finish_job = die_instead
    else:
        raise SystemExit(f"unknown point {point}")
    jobs.jobs_run_worker(queues=[jobs.EMAILS])
    raise SystemExit("the worker was not killed")


if __name__ == "__main__":
    main(sys.argv[1])
