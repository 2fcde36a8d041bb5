"""Whole journeys in headless Chromium through the real server, each one test.

Every page visited is watched for console errors: a Content Security Policy violation (or any
other script error) fails the journey, so htmx is shown to work under the strict policy.
Screenshots are saved as artifacts/screenshots/journey-*.png.
"""

import base64
import json
import re

import pyotp
import pytest
from django.core import mail
from django_otp.plugins.otp_totp.models import TOTPDevice

from credits.models import CreditAccess, CreditRequest
from licensing.models import License
from organizations.models import Account, SetupRequest
from portal.services import api_token_create
from tests.e2e.conftest import ARTIFACTS
from tests.factories import PASSWORD, AccountFactory, make_org_admin
from tests.licensing.factories import ProductFactory

pytestmark = pytest.mark.django_db(transaction=True)


class Watched:
    """A browser context whose pages report console errors and page errors."""

    def __init__(self, browser, width=1280, height=900):
        self.context = browser.new_context(viewport={"width": width, "height": height})
        self.page = self.context.new_page()
        self.page.set_default_timeout(10_000)
        self.errors = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on("dialog", lambda dialog: dialog.accept())

    def shot(self, name):
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        # caret="initial": the default hides the caret with an injected inline style, which
        # the CSP would refuse if an htmx swap copied it.
        self.page.screenshot(
            path=str(ARTIFACTS / f"journey-{name}.png"), full_page=True, caret="initial"
        )

    def close(self):
        self.context.close()


def sign_in(page, base, email, password=PASSWORD):
    page.goto(f"{base}/accounts/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state("load")


def test_trial_account_sets_up_an_organization_that_staff_confirm_in_the_admin(
    live_server, browser
):
    """R3: the request is filed on the portal, confirmed by staff through the Django admin's
    own pages, and the Organization tab appears for the new administrator."""
    base = live_server.url
    trial = AccountFactory(email="maya@lab.example", name="Maya", kind="trial")
    staff_account = AccountFactory(email="staff@vendor.example", is_staff=True, is_superuser=True)
    # Staff sign in to the admin with their authenticator app (R42).
    app = TOTPDevice.objects.create(user=staff_account, name="Authenticator app")
    maya = Watched(browser)
    staff = Watched(browser)
    try:
        sign_in(maya.page, base, trial.email)
        assert maya.page.get_by_role("link", name="Organization").count() == 0
        maya.page.goto(f"{base}/organization/setup/")
        maya.page.get_by_label("Organization name").fill("Render Lab")
        maya.page.get_by_label("Administrator's email").fill(trial.email)
        maya.page.get_by_label("Administrator's customer number").fill(trial.customer_number)
        maya.page.get_by_role("button", name="Send request").click()
        maya.page.get_by_text("Your request was sent").wait_for()
        assert maya.page.get_by_text("Pending", exact=True).is_visible()
        maya.shot("setup-1-requested")

        # Staff: admin sign-in, the setup requests list, the "confirm" action.
        staff.page.goto(f"{base}/admin/")
        staff.page.locator("#id_username").fill("staff@vendor.example")
        staff.page.locator("#id_password").fill(PASSWORD)
        staff.page.locator("input[type=submit]").click()
        staff.page.get_by_role("heading", name="Confirm it is you").wait_for()
        secret = base64.b32encode(bytes.fromhex(app.key)).decode()
        staff.page.get_by_label("Code").fill(pyotp.TOTP(secret).now())
        staff.page.get_by_role("button", name="Continue").click()
        staff.page.get_by_role("link", name="Setup requests").first.click()
        row = staff.page.locator("#result_list tbody tr", has_text="Render Lab")
        row.locator("input[name=_selected_action]").check()
        staff.page.locator("select[name=action]").select_option(
            label="Confirm selected setup requests"
        )
        staff.page.locator("button[name=index]").click()
        staff.page.get_by_text("Confirmed: Render Lab.").wait_for()
        staff.shot("setup-2-confirmed-by-staff")

        assert SetupRequest.objects.get().state == "confirmed"
        assert any("Render Lab" in m.body for m in mail.outbox if trial.email in m.to)

        # Maya now administers Render Lab.
        maya.page.reload()
        maya.page.get_by_role("link", name="Organization").click()
        maya.page.get_by_role("heading", name=re.compile("Render Lab")).first.wait_for()
        maya.shot("setup-3-organization")
        assert maya.errors == []
    finally:
        maya.close()
        staff.close()


def test_new_administrator_equips_an_invited_user_who_consumes_and_asks_for_more(
    live_server, browser
):
    """R6, R15, R13, R19, R20, R31, R29 and the consumption API (R23) in one go."""
    base = live_server.url
    admin = make_org_admin(email="boss@studio.example", name="Blue Fox Studio")
    organization = admin.administered_organization
    ProductFactory(code="studio", name="Render Studio", price=480)
    boss = Watched(browser)
    newbie = Watched(browser, width=390, height=844)
    try:
        # The administrator invites an unknown email.
        sign_in(boss.page, base, admin.email)
        boss.page.goto(f"{base}/organization/users/")
        boss.page.get_by_label("Email").first.fill("newbie@studio.example")
        boss.page.get_by_role("button", name="Add user").click()
        boss.page.get_by_text("newbie@studio.example").first.wait_for()
        link = re.search(r"https?://\S+/invitations/\S+/", mail.outbox[-1].body).group(0)
        link = base + link[link.index("/invitations/") :]

        # The invited user completes the account from the link.
        newbie.page.goto(link)
        newbie.page.get_by_label("Your name").fill("Nia Newbie")
        newbie.page.locator("#id_password1").fill("a-long-new-passphrase-42")
        newbie.page.locator("#id_password2").fill("a-long-new-passphrase-42")
        newbie.page.get_by_role("button", name="Create account and join").click()
        newbie.page.wait_for_load_state("load")
        nia = Account.objects.get(email="newbie@studio.example")
        assert nia.memberships.filter(organization=organization).exists()
        newbie.shot("equip-1-account-completed")

        # Seats: buy two through the simulated checkout, give one to Nia.
        boss.page.goto(f"{base}/organization/licenses/")
        buy = boss.page.locator("#buy")
        buy.get_by_label("Product").select_option(label="Render Studio")
        buy.get_by_label("Seats").fill("2")
        buy.get_by_role("button", name="Review order").click()
        boss.page.get_by_role("button", name="Place order").click()
        boss.page.get_by_text("Order #").wait_for()
        boss.page.goto(f"{base}/organization/licenses/")
        boss.page.get_by_label("Give a free seat to").fill("newbie@studio.example")
        boss.page.get_by_role("button", name="Assign a free seat").click()
        boss.page.locator("#seat-table", has_text="Nia Newbie").wait_for()
        assert License.objects.filter(assignee__account=nia).count() == 1
        boss.shot("equip-2-seat-assigned")

        # Credits: buy 500 for the pool, give Nia a monthly quota of 100.
        boss.page.goto(f"{base}/organization/credits/")
        boss.page.get_by_label("Credits to buy").fill("500")
        boss.page.get_by_role("button", name="Review order").click()
        boss.page.get_by_role("button", name="Place order").click()
        boss.page.get_by_text("500.00").first.wait_for()
        row = boss.page.locator("tr", has_text="newbie@studio.example")
        row.get_by_label("Access").select_option(label="Quota")
        row.get_by_label("Limit").fill("100")
        row.get_by_label("Period").select_option(value="monthly")
        row.get_by_role("button", name="Save").click()
        boss.page.locator("#messages", has_text="newbie@studio.example").wait_for()
        access = CreditAccess.objects.get(account=nia, organization=organization)
        assert (access.mode, str(access.limit), access.period) == ("quota", "100.00", "monthly")

        # Nia sees both on her own pages.
        newbie.page.goto(f"{base}/licenses/")
        newbie.page.get_by_text("Render Studio").first.wait_for()
        assert newbie.page.get_by_text("Blue Fox Studio").first.is_visible()
        newbie.shot("equip-3-my-licenses")
        newbie.page.goto(f"{base}/credits/")
        assert newbie.page.locator("#spendable").inner_text() == "100.00"
        newbie.shot("equip-4-my-credits")

        # The render farm consumes 30 credits for Nia through the API.
        secret = api_token_create(actor=None, name="farm", scopes=["credits:consume"])[1]
        answer = boss.page.request.post(
            f"{base}/api/v1/credits/consumptions",
            headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"},
            data=json.dumps(
                {"account": "newbie@studio.example", "amount": "30", "reference": "job-1"}
            ),
        )
        assert answer.status == 201, answer.text()
        assert answer.json()["available_after"] == "70.00"

        # It appears in the usage chart and in Nia's figures.
        boss.page.goto(f"{base}/organization/credits/")
        chart = boss.page.locator("figure.chart")
        chart.wait_for()
        assert "Nia Newbie" in chart.inner_text() or "newbie@studio.example" in chart.inner_text()
        assert boss.page.locator("#chart-desc").text_content().startswith("30")
        boss.shot("equip-5-usage-chart")
        newbie.page.reload()
        assert newbie.page.locator("#spendable").inner_text() == "70.00"

        # Nia asks for more; the administrator is emailed and sees the request.
        mail.outbox.clear()
        newbie.page.get_by_label("Credits needed").fill("50")
        newbie.page.get_by_label("Message to your administrator").fill("Festival trailer")
        newbie.page.get_by_role("button", name="Send request").click()
        newbie.page.locator("#messages .message").first.wait_for()
        newbie.shot("equip-6-asked-for-more")
        assert CreditRequest.objects.filter(account=nia).count() == 1
        assert any(admin.email in m.to for m in mail.outbox)
        boss.page.reload()
        requests = boss.page.locator("#requests")
        requests.get_by_text("Festival trailer").wait_for()
        assert "50.00" in requests.inner_text()
        boss.shot("equip-7-request-seen")

        assert boss.errors == [] and newbie.errors == []
    finally:
        boss.close()
        newbie.close()
