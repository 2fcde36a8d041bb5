"""The shape every operator command shares (SPEC "Operator commands")."""

from django.core.management.base import BaseCommand, CommandError

from portal import errors
from portal.audit import audit_channel


class PortalCommand(BaseCommand):
    """Runs `run(**options)` with audit channel "command"; a domain error exits 1 with its
    message on stderr and, because services are atomic, changes nothing."""

    def handle(self, *args, **options):
        with audit_channel("command"):
            try:
                return self.run(*args, **options)
            except errors.DomainError as exc:
                raise CommandError(exc.message, returncode=1) from exc

    def run(self, *args, **options):  # pragma: no cover - every command defines it
        raise NotImplementedError


def staff_actor():
    """Commands act as no particular person; the audit event records the command channel."""
    return None
