from licensing.models import LicenseKind, Product
from licensing.services import licenses_grant
from organizations.commands import PortalCommand, owner_from_options, staff_actor
from portal import errors


class Command(PortalCommand):
    help = (
        "Add seats to an organization (--org CUSTNO) or a personal license to an account "
        "(--account EMAIL). Without --days the licenses are perpetual."
    )

    def add_arguments(self, parser):
        owner = parser.add_mutually_exclusive_group(required=True)
        owner.add_argument("--org", help="The organization's customer number.")
        owner.add_argument("--account", help="The account's email.")
        parser.add_argument("--product", required=True, help="Product code.")
        parser.add_argument("--seats", type=int, default=1)
        parser.add_argument("--days", type=int, default=None, help="Validity in days from now.")
        parser.add_argument(
            "--kind", default=LicenseKind.COMMERCIAL, help=", ".join(LicenseKind.values)
        )

    def run(self, *args, org, account, product, seats, days, kind, **options):
        found = Product.objects.filter(code=product.strip()).first()
        if found is None:
            raise errors.NotFound(f"No product with code {product!r}.")
        organization, owner = owner_from_options(org=org, account=account)
        if kind not in LicenseKind.values:
            raise errors.InvalidRequest(
                f"Unknown kind {kind!r}; choose one of {', '.join(LicenseKind.values)}."
            )
        licenses = licenses_grant(
            actor=staff_actor(),
            product=found,
            organization=organization,
            account=owner,
            seats=seats,
            days=days,
            kind=kind,
        )
        until = licenses[0].ends_at
        validity = f"until {until:%Y-%m-%d %H:%M} UTC" if until else "perpetual"
        if organization is not None:
            self.stdout.write(
                f"Granted {len(licenses)} {kind} seat{'s' if len(licenses) != 1 else ''} of "
                f"{found.code} to {organization.name} ({organization.customer_number}), "
                f"{validity}."
            )
        else:
            self.stdout.write(
                f"Granted a personal {kind} license of {found.code} to {owner.email} "
                f"(license {licenses[0].pk}), {validity}."
            )
