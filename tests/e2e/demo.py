"""Demo-like data for the browser tests that look at whole pages (test_csp, test_lighthouse):
an organization like `seed_demo`'s Northwind Studio, made with the tests' factories and the
services, so that every page has something in each of its sections."""

from datetime import timedelta
from decimal import Decimal
from unittest import mock

from django.utils import timezone

from credits import services as credit_services
from credits.models import CreditAccess
from licensing import services as licensing_services
from organizations import services as organization_services
from tests.credits.factories import fund_personal
from tests.factories import AccountFactory, add_member, make_org_admin
from tests.licensing.factories import ProductFactory, make_personal

ADMIN_EMAIL = "admin@northwind.example"


def demo_organization():
    """Like `seed_demo`'s Northwind Studio: seats of three products, some assigned, some
    ending soon; a credit pool with a quota, an unlimited member and consumptions; an
    invitation and a request for credits waiting; the administrator holds a seat and
    personal credits so that My licenses and My credits have something to show."""
    admin = make_org_admin(email=ADMIN_EMAIL, name="Northwind Studio")
    admin.name = "Ada Admin"
    admin.save(update_fields=["name"])
    organization = admin.administered_organization
    people = {
        key: add_member(organization, email=f"{key}@northwind.example", name=name).account
        for key, name in (
            ("alice", "Alice Archer"),
            ("bob", "Bob Baker"),
            ("carol", "Carol Chen"),
            ("dan", "Dan Dorsey"),
        )
    }
    studio = ProductFactory(code="render-studio", name="Render Studio", price=480)
    modeler = ProductFactory(code="modeler-pro", name="Modeler Pro", price=360)
    compositor = ProductFactory(code="compositor", name="Compositor", price=240)
    for product, quantity in ((studio, 5), (modeler, 3)):
        licensing_services.seats_purchase(
            actor=admin,
            organization=organization,
            product=product,
            quantity=quantity,
            term_days=365,
        )
    licensing_services.licenses_grant(
        actor=None, product=compositor, organization=organization, seats=2, days=20
    )
    for email, product in (
        ("alice@northwind.example", studio),
        ("bob@northwind.example", studio),
        ("alice@northwind.example", modeler),
        (admin.email, studio),
    ):
        licensing_services.seat_assign_any(
            actor=admin, organization=organization, product=product, email=email
        )
    make_personal(admin, compositor, days=30)

    start = timezone.now() - timedelta(days=20)
    with mock.patch("django.utils.timezone.now", return_value=start):
        credit_services.pool_credits_purchase(actor=admin, organization=organization, amount="2000")
    for key, mode, limit, period in (
        ("alice", "quota", Decimal("250.00"), "monthly"),
        ("bob", "unlimited", None, None),
    ):
        access = CreditAccess.objects.get(account=people[key], organization=organization)
        credit_services.access_set(
            actor=admin, access=access, mode=mode, limit=limit, period=period
        )
    for n, (key, amount) in enumerate((("alice", "35.00"), ("bob", "80.00"), ("alice", "12.50"))):
        credit_services.credits_consume(
            account=people[key], amount=Decimal(amount), reference=f"csp-render-{n}"
        )
    # A job still rendering: its hold shows on Cloud credits and on Alice's My credits.
    credit_services.hold_open(
        email=people["alice"].email, amount="40.00", reference="csp-render-running"
    )
    credit_services.credit_request_create(
        account=people["alice"], amount="100", message="Final renders of the trailer"
    )
    organization_services.member_add(
        actor=admin, organization=organization, email="invited@northwind.example"
    )
    fund_personal(admin, "40.00")
    AccountFactory(email="outsider@elsewhere.example", name="Otto Outsider")
    return admin, organization, people
