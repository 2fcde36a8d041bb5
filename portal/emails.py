"""Emails are background jobs (R45): saved with the change that causes them, sent by a worker.

`email_send` renders the message now (the objects it names may change before the worker runs)
and saves it as a job in the current transaction: a change rolled back sends nothing, a
committed one is sent by a worker, retried while the mail server is away."""

from email.utils import make_msgid
from functools import cache

from django.conf import settings
from django.template import Context, Engine

from portal import jobs, tasks


@cache
def _text_engine() -> Engine:
    # Plain-text emails must not HTML-escape names and messages ("O'Brien", "R&D").
    return Engine(
        dirs=[settings.BASE_DIR / "templates"],
        autoescape=False,
        libraries={"portal_text": "portal.templatetags.portal_text"},
    )


def email_render(template: str, context: dict) -> str:
    tpl = _text_engine().get_template(f"emails/{template}.txt")
    data = {**context, "base_url": settings.PORTAL_BASE_URL.rstrip("/")}
    return tpl.render(Context(data, autoescape=False))


def email_send(*, to: str | list[str], subject: str, template: str, context: dict) -> None:
    """Render `templates/emails/<template>.txt` and save it as a job in this transaction."""
    email_send_rendered(to=to, subject=subject, body=email_render(template, context))


def email_send_rendered(*, to: str | list[str], subject: str, body: str) -> None:
    """Save an already written message as a job in this transaction (R45). Its Message-ID is
    fixed here, so every attempt of the job sends the same message."""
    recipients = [to] if isinstance(to, str) else list(to)
    sender = settings.DEFAULT_FROM_EMAIL
    jobs.job_defer(
        tasks.email_deliver,
        subject=" ".join(subject.split())[:200],
        body=body,
        from_email=sender,
        to=recipients,
        # The sender's domain, not the machine's name: every worker makes the same kind of
        # id, and no DNS lookup is needed.
        message_id=make_msgid(domain=sender.rpartition("@")[2] or "localhost"),
    )
