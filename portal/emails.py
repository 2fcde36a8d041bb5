"""Emails go out through Django's backend after the transaction that caused them commits."""

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string


def email_send(*, to: str | list[str], subject: str, template: str, context: dict) -> None:
    """Render `templates/emails/<template>.txt` and send it once the change has committed."""
    recipients = [to] if isinstance(to, str) else list(to)
    body = render_to_string(
        f"emails/{template}.txt", {**context, "base_url": settings.PORTAL_BASE_URL.rstrip("/")}
    )

    def send():
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, recipients, fail_silently=False)

    transaction.on_commit(send)
