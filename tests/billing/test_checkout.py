"""R39, R40: every purchase is reviewed before it is placed, priced in Decimal under the
per-order ceiling, placed once per review page, linked from the ledger and receipted by email
and PDF."""

import re
import shutil
import subprocess
from decimal import ROUND_HALF_UP, Decimal

import pytest
from django.core import mail
from django.core.management import CommandError, call_command
from hypothesis import given
from hypothesis import strategies as st

from billing.models import Order
from billing.pricing import line_total, order_limit_check
from billing.services import LineSpec, order_total
from credits import services as credit_services
from credits.models import LedgerEntry, Lot
from licensing.models import License, Product
from portal import errors
from tests.licensing.factories import ProductFactory

pytestmark = pytest.mark.django_db
D = Decimal


# --- Prices and totals ------------------------------------------------------------------------

cents = st.integers(min_value=0, max_value=10**10).map(lambda c: D(c) / 100)


@given(
    unit=cents, quantity=st.integers(min_value=1, max_value=1000), years=st.sampled_from([1, 2, 3])
)
def test_a_seat_line_is_exact_cents_with_no_float(unit, quantity, years):
    # Whole cents times whole numbers: the exact product in integer cents, nothing to round.
    expected = D(int(unit * 100) * quantity * years) / 100
    assert line_total(unit_price=unit, quantity=quantity, years=years) == expected


@given(
    price=st.integers(min_value=1, max_value=10**6).map(lambda c: D(c) / 10**4),
    credits=st.integers(min_value=1, max_value=10**14).map(lambda c: D(c) / 100),
)
def test_a_credits_line_rounds_half_up_to_cents(price, credits):
    # The exact product is a number of 1/1,000,000ths; half a cent and more rounds up.
    micro = int(price * 10**4) * int(credits * 100)
    whole, rest = divmod(micro, 10**4)
    expected = D(whole + (1 if rest >= 5000 else 0)) / 100
    total = line_total(unit_price=price, quantity=credits)
    assert total == expected and total.as_tuple().exponent == -2


@given(st.lists(st.tuples(cents, st.integers(1, 50)), min_size=1, max_size=5))
def test_an_orders_total_is_the_sum_of_its_line_totals(lines):
    specs = [
        LineSpec(item="seats", description="x", unit_price=u, quantity=q, term_days=365)
        for u, q in lines
    ]
    assert order_total(lines=specs) == sum(
        ((u * q).quantize(D("0.01"), rounding=ROUND_HALF_UP) for u, q in lines), D("0.00")
    )


def test_the_ceiling_accepts_its_own_amount_and_refuses_a_cent_more(settings):
    settings.PORTAL_ORDER_LIMIT = D("5000.00")
    order_limit_check(total=D("5000.00"))
    with pytest.raises(errors.DomainError, match="at most 5,000.00 EUR") as refused:
        order_limit_check(total=D("5000.01"), field="amount")
    assert refused.value.field == "amount" and refused.value.code == "order_limit"


# --- The review page, for every purchase ------------------------------------------------------


def _review(client, url, params):
    response = client.get(url, params)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Review your order" in html and "Place order" in html
    token = re.search(r'name="checkout_token" value="([0-9a-f]{32})"', html).group(1)
    return html, token


@pytest.fixture
def render_studio(db):
    return ProductFactory(code="render-studio", name="Render Studio", price=D("480.00"))


def test_seats_are_reviewed_then_placed_once(admin_client, org_admin, organization, render_studio):
    params = {"product": "render-studio", "quantity": "3", "term": "730"}
    html, token = _review(admin_client, "/organization/licenses/checkout/", params)
    assert "480.00 EUR" in html and "2,880.00 EUR" in html
    assert Order.objects.count() == 0, "reviewing places nothing"
    for _ in range(2):
        response = admin_client.post(
            "/organization/licenses/checkout/", {**params, "checkout_token": token}
        )
        assert response.status_code == 302
    order = Order.objects.get()
    assert order.total == D("2880.00") and order.currency == "EUR"
    assert License.objects.filter(organization=organization).count() == 3
    receipts = [m for m in mail.outbox if m.subject == f"Receipt for your order #{order.pk}"]
    assert len(receipts) == 1 and receipts[0].to == [org_admin.email]
    assert "2,880.00 EUR" in receipts[0].body and f"/orders/{order.pk}/" in receipts[0].body


def test_a_personal_license_is_reviewed_then_placed(member_client, member, render_studio):
    params = {"product": "render-studio", "term": "365"}
    html, token = _review(member_client, "/licenses/checkout/", params)
    assert "480.00 EUR" in html
    member_client.post("/licenses/checkout/", {**params, "checkout_token": token})
    order = Order.objects.get(buyer=member, organization=None)
    assert order.lines.get().product_code == "render-studio"
    assert any(m.to == [member.email] and "Receipt" in m.subject for m in mail.outbox)


def test_pool_credits_are_reviewed_and_the_ledger_links_the_order(
    admin_client, organization, settings
):
    settings.PORTAL_CREDIT_PRICE = D("0.25")
    html, token = _review(admin_client, "/organization/credits/buy/", {"buy-amount": "12345.5"})
    assert "0.25 EUR" in html and "12,345.50" in html and "3,086.38 EUR" in html
    assert not LedgerEntry.objects.filter(kind="purchase").exists()
    for _ in range(2):
        admin_client.post(
            "/organization/credits/buy/", {"buy-amount": "12345.50", "checkout_token": token}
        )
    order = Order.objects.get()
    entry = LedgerEntry.objects.get(kind="purchase")
    assert order.total == D("3086.38") and entry.order == order and entry.note == ""
    assert Lot.objects.filter(wallet__organization=organization).count() == 1
    page = admin_client.get("/organization/credits/").content.decode()
    assert f'href="/orders/{order.pk}/">Order #{order.pk}</a>' in page


def test_personal_credits_are_reviewed_and_linked_in_my_history(member_client, member):
    html, token = _review(member_client, "/credits/buy/", {"buy-amount": "1500"})
    assert "1,500.00 EUR" in html
    member_client.post("/credits/buy/", {"buy-amount": "1500", "checkout_token": token})
    order = Order.objects.get(buyer=member)
    page = member_client.get("/credits/").content.decode()
    assert f'href="/orders/{order.pk}/">Order #{order.pk}</a>' in page


def test_orders_above_the_ceiling_are_refused_on_the_form_naming_it(
    admin_client, member, render_studio, settings
):
    settings.PORTAL_ORDER_LIMIT = D("1000.00")
    response = admin_client.get("/organization/credits/buy/", {"buy-amount": "1000.01"})
    html = response.content.decode()
    assert response.status_code == 422 and "Place order" not in html
    assert "at most 1,000.00 EUR" in html and "1,000.01 EUR" in html
    assert admin_client.get("/organization/credits/buy/", {"buy-amount": "1000"}).status_code == 200
    seats = {"product": "render-studio", "quantity": "3", "term": "365"}
    response = admin_client.get("/organization/licenses/checkout/", seats)
    assert response.status_code == 422 and "at most 1,000.00 EUR" in response.content.decode()
    # A review page placed after the ceiling was lowered is refused too, and nothing changes.
    settings.PORTAL_ORDER_LIMIT = D("10000.00")
    _, token = _review(admin_client, "/organization/credits/buy/", {"buy-amount": "5000"})
    settings.PORTAL_ORDER_LIMIT = D("100.00")
    response = admin_client.post(
        "/organization/credits/buy/", {"buy-amount": "5000", "checkout_token": token}
    )
    assert response.status_code == 422 and "at most 100.00 EUR" in response.content.decode()
    assert not Order.objects.exists()
    admin_client.force_login(member)
    response = admin_client.get("/credits/buy/", {"buy-amount": "99999999999"})
    assert response.status_code == 422 and "Place order" not in response.content.decode()


def test_staff_grants_show_their_note_not_an_order(admin_client, organization):
    credit_services.credits_grant(
        actor=None, organization=organization, amount=D("50"), note="Goodwill for the outage"
    )
    page = admin_client.get("/organization/credits/").content.decode()
    assert "Goodwill for the outage" in page and "Order #" not in page


def test_bad_amounts_on_review_are_shown_next_to_the_field(member_client):
    for bad in ["abc", "-5", "0", "1.234", "1e5"]:
        response = member_client.get("/credits/buy/", {"buy-amount": bad})
        assert response.status_code == 422 and "Place order" not in response.content.decode()


# --- Receipt as PDF ------------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="needs poppler-utils (README)")
def test_the_receipt_pdf_is_a_real_pdf_of_the_receipt(
    admin_client, org_admin, organization, tmp_path
):
    product = ProductFactory(name="Modeler Pro", price=D("1360.00"))
    from licensing import services

    order = services.seats_purchase(
        actor=org_admin, organization=organization, product=product, quantity=2, term_days=365
    )
    response = admin_client.get(f"/orders/{order.pk}/receipt.pdf")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert f"receipt-order-{order.pk}.pdf" in response["Content-Disposition"]
    pdf = tmp_path / "receipt.pdf"
    pdf.write_bytes(response.content)
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert f"Order #{order.pk}" in text and "Modeler Pro" in text
    assert "1,360.00 EUR" in text and "2,720.00 EUR" in text
    assert organization.name in text


def test_the_receipt_pdf_is_for_those_who_may_see_the_order(
    client, org_admin, organization, member
):
    from licensing import services

    order = services.seats_purchase(
        actor=org_admin,
        organization=organization,
        product=ProductFactory(),
        quantity=1,
        term_days=365,
    )
    client.force_login(member)
    assert client.get(f"/orders/{order.pk}/receipt.pdf").status_code == 404


# --- Staff -------------------------------------------------------------------------------------


def test_create_product_takes_a_price_and_refuses_a_bad_one(capsys):
    call_command("create_product", "lighting", "Lighting Kit", "--price", "99.50")
    assert Product.objects.get(code="lighting").price == D("99.50")
    assert "99.50 EUR per seat per year" in capsys.readouterr().out
    call_command("create_product", "plain", "Plain")
    assert Product.objects.get(code="plain").price == D("120.00")
    with pytest.raises(CommandError, match="not a price"):
        call_command("create_product", "bad", "Bad", "--price", "-1")
    assert not Product.objects.filter(code="bad").exists()


def test_staff_find_orders_by_number_customer_number_and_email(
    staff_client, org_admin, organization
):
    from licensing import services

    order = services.seats_purchase(
        actor=org_admin,
        organization=organization,
        product=ProductFactory(),
        quantity=1,
        term_days=365,
    )
    for query in [str(order.pk), org_admin.customer_number, org_admin.email, "no-such-thing"]:
        response = staff_client.get("/admin/billing/order/", {"q": query})
        assert response.status_code == 200
        found = f"/admin/billing/order/{order.pk}/change/" in response.content.decode()
        assert found == (query != "no-such-thing"), query
