from django.conf import settings

from licensing.services import DEFAULT_SEAT_PRICE, product_create
from organizations.commands import PortalCommand, staff_actor
from portal.text import money


class Command(PortalCommand):
    help = "Add a product to the catalog (R11): a stable CODE and a NAME, and its price (R39)."

    def add_arguments(self, parser):
        parser.add_argument("code", help="Stable code: letters, digits, - and _.")
        parser.add_argument("name")
        parser.add_argument(
            "--price",
            default=None,
            help=f"Price per seat per year, e.g. 360 or 99.50 (default {DEFAULT_SEAT_PRICE}).",
        )

    def run(self, *args, code, name, price=None, **options):
        product = product_create(actor=staff_actor(), code=code, name=name, price=price)
        self.stdout.write(
            f"Created product {product.code} ({product.name}) at "
            f"{money(product.price, settings.PORTAL_CURRENCY)} per seat per year."
        )
