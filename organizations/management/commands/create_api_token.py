from organizations.commands import PortalCommand, organization_by_customer_number
from portal.services import api_token_create


class Command(PortalCommand):
    help = "Create an API token and print it once, alone on the last line."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--scopes", required=True, help="Comma-separated scopes.")
        parser.add_argument(
            "--org", default=None, help="Organization customer number (org:admin, scim)."
        )

    def run(self, *args, name, scopes, org, **options):
        organization = organization_by_customer_number(org) if org is not None else None
        token, secret = api_token_create(
            actor=None, name=name, scopes=scopes.split(","), organization=organization
        )
        owner = f" for {organization.name}" if organization else ""
        self.stdout.write(
            f"Created token {token.name!r}{owner} with scopes {', '.join(token.scopes)}."
        )
        self.stdout.write("Store it now; it is not shown again.")
        self.stdout.write(secret)
