"""Demo catalog, seats and licenses for `seed_demo` (idempotent: runs once per database)."""

from decimal import Decimal

from licensing import services
from licensing.models import License, LicenseKind, Product

# (code, name, price per seat-year, beta programme open)
DEMO_PRODUCTS = [
    ("render-studio", "Render Studio", Decimal("480.00"), False),
    ("modeler-pro", "Modeler Pro", Decimal("360.00"), True),
    ("compositor", "Compositor", Decimal("240.00"), False),
    ("asset-library", "Asset Library", Decimal("120.00"), True),
]


def seed(*, accounts, organization, **_):
    products = {}
    for code, name, price, beta in DEMO_PRODUCTS:
        product, _created = Product.objects.get_or_create(
            code=code, defaults={"name": name, "price": price, "beta_available": beta}
        )
        products[code] = product

    if not License.objects.filter(organization=organization).exists():
        admin = accounts["admin@example.com"]
        for code, quantity in (("render-studio", 5), ("modeler-pro", 3)):
            services.seats_purchase(
                actor=admin,
                organization=organization,
                product=products[code],
                quantity=quantity,
                term_days=365,
            )
        # Two compositor seats that run out within the month: "expiring soon" on the page.
        services.licenses_grant(
            actor=None, product=products["compositor"], organization=organization, seats=2, days=20
        )
        for email, code in (
            ("alice@example.com", "render-studio"),
            ("bob@example.com", "render-studio"),
            ("alice@example.com", "modeler-pro"),
        ):
            services.seat_assign_any(
                actor=admin, organization=organization, product=products[code], email=email
            )

    freelancer = accounts["freelancer@example.com"]
    if not License.objects.filter(account=freelancer).exists():
        services.licenses_grant(actor=None, product=products["modeler-pro"], account=freelancer)
        services.license_apply(
            account=freelancer, product=products["render-studio"], kind=LicenseKind.TRIAL
        )
