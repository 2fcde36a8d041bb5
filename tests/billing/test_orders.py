"""Orders and receipts (R40): the organization's Billing tab, an account's own orders, a
receipt only for those who may see the order."""

import pytest

from credits import services as credit_services
from licensing import services as licensing_services
from tests.factories import add_member
from tests.licensing.factories import ProductFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def org_order(org_admin, organization):
    product = ProductFactory(name="Asset Library", price=120)
    return licensing_services.seats_purchase(
        actor=org_admin, organization=organization, product=product, quantity=3, term_days=365
    )


@pytest.fixture
def personal_order(member):
    credit_services.personal_credits_purchase(actor=member, amount="1500")
    return member.orders.get()


def test_billing_lists_the_organizations_orders_with_money_in_its_currency(
    admin_client, org_order, settings
):
    settings.PORTAL_CURRENCY = "EUR"
    html = admin_client.get("/organization/billing/").content.decode()
    assert f"Order #{org_order.pk}" in html and "360.00 EUR" in html
    assert "Asset Library × 3" in html


def test_a_receipt_shows_lines_total_and_who_bought(admin_client, org_admin, org_order):
    html = admin_client.get(f"/orders/{org_order.pk}/").content.decode()
    assert f"Receipt · Order #{org_order.pk}" in html and org_admin.email in html
    assert "120.00 EUR" in html and "360.00 EUR" in html


def test_personal_orders_are_the_buyers_own(client, member, personal_order, organization):
    client.force_login(member)
    assert f"Order #{personal_order.pk}" in client.get("/account/orders/").content.decode()
    assert "1,500.00 EUR" in client.get(f"/orders/{personal_order.pk}/").content.decode()
    client.force_login(add_member(organization).account)
    assert client.get(f"/orders/{personal_order.pk}/").status_code == 404


def test_an_organizations_order_is_for_its_administrator_only(client, org_order, member, outsider):
    for person in (member, outsider):
        client.force_login(person)
        assert client.get(f"/orders/{org_order.pk}/").status_code == 404
    client.force_login(member)
    assert client.get("/organization/billing/").status_code == 404


def test_the_billing_page_runs_a_fixed_number_of_queries(
    admin_client, org_admin, organization, django_assert_max_num_queries
):
    product = ProductFactory()
    for _ in range(5):
        licensing_services.seats_purchase(
            actor=org_admin, organization=organization, product=product, quantity=1, term_days=365
        )
    with django_assert_max_num_queries(10):
        assert admin_client.get("/organization/billing/").status_code == 200
