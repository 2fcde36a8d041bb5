from licensing.services import product_create
from organizations.commands import PortalCommand, staff_actor


class Command(PortalCommand):
    help = "Add a product to the catalog (R11): a stable CODE and a NAME."

    def add_arguments(self, parser):
        parser.add_argument("code", help="Stable code: letters, digits, - and _.")
        parser.add_argument("name")

    def run(self, *args, code, name, **options):
        product = product_create(actor=staff_actor(), code=code, name=name)
        self.stdout.write(f"Created product {product.code} ({product.name}).")
