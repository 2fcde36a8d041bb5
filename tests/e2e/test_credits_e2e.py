"""Cloud credits in a real browser (R19–R23, R31): the administrator buys credits and gives a
member a quota; the member's page shows what they can spend; a consumption through the API
shows up on both pages."""

import json
import urllib.request

import pytest
from playwright.sync_api import expect

from credits.models import CreditAccess, Lot
from portal.services import api_token_create
from tests.factories import PASSWORD, add_member, make_org_admin

pytestmark = pytest.mark.django_db(transaction=True)


def api_post(base, path, body, token):
    request = urllib.request.Request(
        base + path,
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, json.loads(response.read())


def test_buy_give_quota_consume_and_see_it_on_both_pages(
    live_server, page, narrow_page, sign_in, screenshot
):
    admin = make_org_admin(email="boss@render.example", name="Lime Render Studio")
    organization = admin.administered_organization
    add_member(organization, email="mia@render.example", name="Mia Modeller")
    add_member(organization, email="noa@render.example", name="Noa Nodes")
    errors = []
    for browser_page in (page, narrow_page):
        browser_page.on(
            "console", lambda msg: errors.append(msg.text) if msg.type == "error" else None
        )

    # The administrator buys 500 credits for the pool.
    sign_in(page, "boss@render.example", PASSWORD)
    page.goto(live_server.url + "/organization/credits/")
    page.get_by_label("Credits to buy").fill("500")
    page.get_by_role("button", name="Review order").click()
    page.get_by_role("button", name="Place order · 500.00 EUR").click()
    page.wait_for_load_state("networkidle")
    assert page.get_by_text("The pool received 500.00 credits").is_visible()
    assert Lot.objects.get(wallet__organization=organization).remaining == 500

    # …and gives Mia a monthly quota of 120, inline (htmx swaps the row).
    access = CreditAccess.objects.get(account__email="mia@render.example")
    row = page.locator(f"#access-{access.pk}")
    # Limit and period show only for a quota (plain CSS: no script under the CSP).
    expect(row.get_by_label("Limit")).to_be_hidden()
    row.get_by_label("Access").select_option("quota")
    expect(row.get_by_label("Limit")).to_be_visible()
    row.get_by_label("Limit").fill("120")
    row.get_by_label("Period").select_option("monthly")
    row.get_by_role("button", name="Save").click()
    # Waiting by locator: the portal's CSP forbids the eval a string predicate would need.
    expect(page.locator("#messages")).to_contain_text("Credit access of mia@render.example")
    assert "120.00" in row.locator("td[data-label='Can spend now']").inner_text()
    access.refresh_from_db()
    assert (access.mode, str(access.limit), access.period) == ("quota", "120.00", "monthly")

    # Mia sees what she can spend: min(quota left, pool) = 120.
    sign_in(narrow_page, "mia@render.example", PASSWORD)
    narrow_page.goto(live_server.url + "/credits/")
    assert narrow_page.locator("#spendable").inner_text() == "120.00"
    assert narrow_page.get_by_text("Lime Render Studio").first.is_visible()

    # The render farm consumes 25.50 for Mia through the API.
    _token, secret = api_token_create(
        actor=None, name="farm", scopes=["credits:read", "credits:consume"]
    )
    status, body = api_post(
        live_server.url,
        "/api/v1/credits/consumptions",
        {"account": "mia@render.example", "amount": "25.5", "reference": "shot-042:beauty"},
        secret,
    )
    assert status == 201 and body["available_after"] == "94.50"

    narrow_page.reload()
    assert narrow_page.locator("#spendable").inner_text() == "94.50"
    assert narrow_page.get_by_text("shot-042:beauty").is_visible()
    screenshot(narrow_page, "credits-my-credits-narrow")

    page.goto(live_server.url + "/organization/credits/")
    assert page.get_by_text("shot-042:beauty").is_visible()
    assert "474.50" in page.locator(".stat").first.inner_text()
    mia_row = page.locator(f"#access-{access.pk}")
    assert "25.50" in mia_row.locator("td[data-label='Used']").inner_text()
    assert page.locator("svg.chart__svg rect.chart__s0").count() == 1
    screenshot(page, "credits-organization-wide")

    # The administrator's page on a phone.
    narrow_admin = narrow_page.context.browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True
    ).new_page()
    sign_in(narrow_admin, "boss@render.example", PASSWORD)
    narrow_admin.goto(live_server.url + "/organization/credits/")
    assert narrow_admin.get_by_text("shot-042:beauty").is_visible()
    # The chart scrolls sideways on a phone; its scale stays in view beside it.
    expect(narrow_admin.locator("svg.chart__axis")).to_be_visible()
    assert not page.locator("svg.chart__axis").is_visible()
    screenshot(narrow_admin, "credits-organization-narrow")
    narrow_admin.context.close()
    assert errors == []
