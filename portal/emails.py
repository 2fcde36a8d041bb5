"""Emails go out through Django's backend after the transaction that caused them commits."""

from functools import cache

from django.conf import settings
from django.core.mail import send_mail
from django.db.transaction import on_commit
from django.template import Context, Engine


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
    """Render `templates/emails/<template>.txt` and send it once the change has committed."""
    recipients = [to] if isinstance(to, str) else list(to)
    body = email_render(template, context)
    subject = " ".join(subject.split())[:200]

    def send():
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, recipients, fail_silently=False)

    on_commit(send)
