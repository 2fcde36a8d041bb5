"""Every purchase in a real browser (R39, R40): choose, review (unit price, total, currency),
place the order; each ends with an order on the buyer's order list and a receipt email."""

import re

import pytest
from django.core import mail
from playwright.sync_api import expect

from billing.models import Order
from tests.factories import PASSWORD, AccountFactory, make_org_admin
from tests.licensing.factories import ProductFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _receipt_for(email: str) -> str:
    receipts = [m for m in mail.outbox if m.to == [email] and m.subject.startswith("Receipt")]
    assert len(receipts) == 1, [m.subject for m in mail.outbox]
    return receipts[0].body


def _place(page, total: str):
    """On the review page: the total is shown, then "Place order" places it."""
    expect(page.get_by_role("heading", name="Review your order")).to_be_visible()
    expect(page.locator(".order-details__total").last).to_have_text(total)
    page.get_by_role("button", name=f"Place order · {total}").click()
    page.wait_for_load_state("networkidle")


def test_the_administrator_buys_seats_and_pool_credits_through_the_review(
    live_server, page, sign_in, screenshot
):
    admin = make_org_admin(email="buyer@render.example", name="Quince Render Farm")
    ProductFactory(code="render-studio", name="Render Studio", price="480.00")
    sign_in(page, admin.email, PASSWORD)

    page.goto(live_server.url + "/organization/licenses/")
    buy = page.locator("#buy")
    buy.get_by_label("Product").select_option(label="Render Studio")
    buy.get_by_label("Seats").fill("12")
    buy.get_by_role("button", name="Review order").click()
    screenshot(page, "buy-seats-review")
    _place(page, "5,760.00 EUR")
    expect(page.locator("#messages")).to_contain_text("12 Render Studio seats added")

    page.goto(live_server.url + "/organization/credits/")
    page.get_by_label("Credits to buy").fill("2500")
    page.get_by_role("button", name="Review order").click()
    screenshot(page, "buy-pool-credits-review")
    _place(page, "2,500.00 EUR")
    expect(page.locator("#messages")).to_contain_text("The pool received 2,500.00 credits")

    page.goto(live_server.url + "/organization/billing/")
    orders = Order.objects.filter(organization=admin.administered_organization)
    assert orders.count() == 2
    for order in orders:
        expect(page.get_by_role("link", name=f"Order #{order.pk}")).to_be_visible()
    screenshot(page, "billing-after-buying")
    body = "\n".join(
        m.body for m in mail.outbox if m.to == [admin.email] and m.subject.startswith("Receipt")
    )
    assert "5,760.00 EUR" in body and "2,500.00 EUR" in body

    # The receipt opens from Billing and offers its PDF.
    page.get_by_role("link", name=f"Order #{orders.first().pk}").click()
    expect(page.get_by_role("link", name="Download PDF")).to_be_visible()


def test_an_account_buys_a_personal_license_and_credits_through_the_review(
    live_server, narrow_page, sign_in, screenshot
):
    page = narrow_page
    account = AccountFactory(email="solo@freelance.example")
    ProductFactory(code="modeler-pro", name="Modeler Pro", price="360.00")
    sign_in(page, account.email, PASSWORD)

    page.goto(live_server.url + "/licenses/checkout/")
    page.get_by_label("Product").select_option(label="Modeler Pro")
    page.get_by_label("Term").select_option(label="2 years")
    page.get_by_role("button", name="Review order").click()
    screenshot(page, "buy-license-review-phone")
    _place(page, "720.00 EUR")
    expect(page.locator("#messages")).to_contain_text("license for 2 years is now yours")
    assert "720.00 EUR" in _receipt_for(account.email)

    mail.outbox.clear()
    page.goto(live_server.url + "/credits/")
    page.get_by_label("Credits to buy").fill("99999999")
    page.get_by_role("button", name="Review order").click()
    # Above the ceiling: refused next to the field, naming it.
    expect(page.get_by_text(re.compile(r"at most 100,000\.00 EUR"))).to_be_visible()
    page.get_by_label("Credits to buy").fill("150")
    page.get_by_role("button", name="Review order").click()
    _place(page, "150.00 EUR")
    expect(page.locator("#messages")).to_contain_text("You bought 150.00 credits")
    assert "150.00 EUR" in _receipt_for(account.email)

    page.goto(live_server.url + "/account/orders/")
    for order in Order.objects.filter(buyer=account):
        expect(page.get_by_role("link", name=f"Order #{order.pk}")).to_be_visible()
    assert Order.objects.filter(buyer=account, organization=None).count() == 2
    screenshot(page, "my-orders-phone")
