"""The shape every operator command shares (rules.md "Operator commands")."""

from django.core.management.base import BaseCommand, CommandError

from organizations.models import Account, Organization, normalize_email
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


def organization_by_customer_number(customer_number: str):
    """`--org` takes the organization's customer number (rules.md "Operator commands")."""
    organization = Organization.objects.filter(customer_number=customer_number.strip()).first()
    if organization is None:
        raise errors.NotFound(f"No organization with customer number {customer_number!r}.")
    return organization


def owner_from_options(*, org: str | None, account: str | None):
    """(organization, account) named by `--org CUSTNO` or `--account EMAIL`; one is None."""
    if org is not None:
        return organization_by_customer_number(org), None

    owner = Account.objects.filter(email=normalize_email(account)).first()
    if owner is None:
        raise errors.NotFound(f"No account {account!r}.")
    return None, owner
