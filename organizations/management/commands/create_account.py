from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from organizations.commands import PortalCommand
from organizations.models import AccountKind
from organizations.services import account_create
from portal import errors


class Command(PortalCommand):
    help = "Create an account and print its customer number on the last line (R1, R2)."

    def add_arguments(self, parser):
        parser.add_argument("email")
        parser.add_argument("--kind", required=True, help=", ".join(AccountKind.values))
        parser.add_argument("--password", default=None)
        parser.add_argument("--name", default="")
        parser.add_argument("--staff", action="store_true", help="Vendor staff (Django admin).")

    def run(self, *args, email, kind, password, name, staff, **options):
        kind = kind.strip().lower()  # "TRIAL" and "Trial" name the same kind
        try:
            validate_email(email.strip())
        except ValidationError as exc:
            raise errors.InvalidRequest(f"Not a valid email address: {email!r}.") from exc
        if kind not in AccountKind.values:
            raise errors.InvalidRequest(
                f"Unknown kind {kind!r}; choose one of {', '.join(AccountKind.values)}."
            )
        account = account_create(
            email=email, kind=kind, password=password, name=name, is_staff=staff
        )
        if staff:
            account.is_superuser = True
            account.save(update_fields=["is_superuser"])
        self.stdout.write(f"Created {account.kind} account {account.email}.")
        self.stdout.write(account.customer_number)
