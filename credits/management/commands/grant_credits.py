from django.core.management.base import CommandError

from credits.services import credits_grant
from organizations.commands import PortalCommand, owner_from_options, staff_actor
from portal.amounts import format_amount, parse_amount


class Command(PortalCommand):
    help = (
        "Add a lot of credits to an organization's pool (--org CUSTNO) or to an account's "
        "personal credits (--account EMAIL). R21: refused for an account whose organizational "
        "credit access is enabled. Without --days the lot expires after the default lot term."
    )

    def create_parser(self, prog_name, subcommand, **kwargs):
        parser = super().create_parser(prog_name, subcommand, **kwargs)

        def error(message):
            # Bad input exits 1 like every other refusal (rules.md "Operator commands").
            raise CommandError(message, returncode=1)

        parser.error = error
        return parser

    def add_arguments(self, parser):
        owner = parser.add_mutually_exclusive_group(required=True)
        owner.add_argument("--org", help="The organization's customer number.")
        owner.add_argument("--account", help="The account's email.")
        parser.add_argument("amount", help='Credits, such as "250" or "12.50".')
        parser.add_argument("--days", type=int, default=None, help="Days until the lot expires.")

    def run(self, *args, org, account, amount, days, **options):
        amount = parse_amount(amount.strip() if isinstance(amount, str) else amount)
        organization, owner = owner_from_options(org=org, account=account)
        lot = credits_grant(
            actor=staff_actor(), amount=amount, organization=organization, account=owner, days=days
        )
        target = (
            f"the pool of {organization.name} ({organization.customer_number})"
            if organization is not None
            else f"the personal credits of {owner.email}"
        )
        until = f"until {lot.expires_at:%Y-%m-%d %H:%M} UTC" if lot.expires_at else "no expiry"
        self.stdout.write(f"Granted {format_amount(lot.amount)} credits to {target}, {until}.")
