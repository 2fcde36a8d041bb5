"""The one way every change is recorded (R34).

Every write service calls `audit_record` inside its transaction, so the event exists exactly
when the change does. The channel (portal, api, admin, command) is set once per request or
command by `audit_channel`, not passed through every service.
"""

import contextvars
from contextlib import contextmanager

from portal.models import AuditEvent

_channel = contextvars.ContextVar("audit_channel", default="portal")


@contextmanager
def audit_channel(name: str):
    token = _channel.set(name)
    try:
        yield
    finally:
        _channel.reset(token)


def current_channel() -> str:
    """The channel of the change in progress, for writes that do not go through the ORM."""
    return _channel.get()


def audit_record(
    *,
    actor,
    action: str,
    organization=None,
    target: str = "",
    details: dict | None = None,
) -> AuditEvent:
    return AuditEvent.objects.create(
        actor=actor if getattr(actor, "pk", None) else None,
        channel=_channel.get(),
        organization=organization,
        action=action,
        target=str(target)[:255],
        details=details or {},
    )
