"""R42 in Chromium: an authenticator app set up and used with codes from pyotp, a passkey added
and used through the DevTools virtual authenticator, and the screens photographed.

WebAuthn refuses an IP address as the relying party, so these pages are opened at `localhost`
(the live server listens there) with the relying party id set to it.
"""

import re
import time

import pyotp
import pytest
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from organizations.models import Passkey
from tests.e2e.conftest import ARTIFACTS
from tests.factories import PASSWORD, AccountFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def base(live_server, settings):
    settings.PORTAL_WEBAUTHN_RP_ID = "localhost"
    return live_server.url.replace("127.0.0.1", "localhost")


def shoot(page, name):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def password_step(page, base, email):
    page.goto(f"{base}/accounts/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()


def virtual_authenticator(page):
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    return cdp


def test_authenticator_app_set_up_then_asked_at_sign_in(base, browser):
    account = AccountFactory(email="totp@studio.example", name="Tess")
    for width, height, suffix in ((1280, 900, ""), (390, 844, "-390")):
        # Each width starts from an account without a factor (and so without recovery codes).
        TOTPDevice.objects.filter(user=account).delete()
        StaticDevice.objects.filter(user=account).delete()
        context = browser.new_context(viewport={"width": width, "height": height})
        page = context.new_page()
        page.set_default_timeout(10_000)
        try:
            password_step(page, base, account.email)
            page.goto(f"{base}/account/security/")
            shoot(page, f"security-1-page{suffix}")
            page.get_by_role("button", name="Set up an authenticator app").click()
            secret = page.locator("#totp-secret").inner_text().replace(" ", "")
            shoot(page, f"security-2-app-setup{suffix}")
            totp = pyotp.TOTP(secret)
            page.get_by_label("Code").fill(totp.now())
            page.get_by_role("button", name="Turn on").click()
            page.get_by_role("heading", name="Your recovery codes").wait_for()
            assert page.locator("#recovery-codes li").count() == 10
            shoot(page, f"security-3-recovery-codes{suffix}")
            page.get_by_role("link", name="I have saved them").click()
            page.get_by_text("On", exact=True).wait_for()

            page.get_by_role("button", name="Sign out", exact=True).click()
            password_step(page, base, account.email)
            page.get_by_role("heading", name="Confirm it is you").wait_for()
            shoot(page, f"security-4-second-step{suffix}")
            page.get_by_label("Code").fill("000000")
            page.get_by_role("button", name="Continue").click()
            page.get_by_text("That code is not right").wait_for()
            # The code after the one the set-up used (one step of drift is accepted).
            page.get_by_label("Code").fill(totp.at(time.time() + 30))
            page.get_by_role("button", name="Continue").click()
            page.get_by_role("heading", name="My licenses").wait_for()
        finally:
            context.close()


def test_passkey_added_then_signs_in_without_a_password(base, browser):
    account = AccountFactory(email="pass@studio.example", name="Pat")
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        virtual_authenticator(page)
        password_step(page, base, account.email)
        page.goto(f"{base}/account/security/")
        page.get_by_label("Passkey name").fill("Work laptop")
        page.get_by_role("button", name="Add a passkey").click()
        page.get_by_text("The passkey “Work laptop” was added.").wait_for()
        assert Passkey.objects.get(user=account).name == "Work laptop"
        # The first factor comes with the recovery codes, shown once.
        page.get_by_role("heading", name="Your recovery codes").wait_for()
        assert page.locator("#recovery-codes li").count() == 10
        page.get_by_role("link", name="I have saved them").click()
        page.get_by_role("cell", name="Work laptop").wait_for()
        shoot(page, "security-5-passkey-added")

        page.get_by_role("button", name="Sign out", exact=True).click()
        page.goto(f"{base}/accounts/login/")
        shoot(page, "security-6-sign-in-with-passkey")
        page.get_by_role("button", name="Sign in with a passkey").click()
        page.get_by_role("heading", name="My licenses").wait_for()
        assert Passkey.objects.get(user=account).last_used_at is not None

        # A session with the password only is asked for the passkey as its second step.
        page.get_by_role("button", name="Sign out", exact=True).click()
        password_step(page, base, account.email)
        page.get_by_role("button", name="Use your passkey").click()
        page.get_by_role("heading", name="My licenses").wait_for()
    finally:
        context.close()


def test_staff_reach_the_admin_only_after_setting_up_a_second_factor(base, browser):
    AccountFactory(email="ops@vendor.example", is_staff=True, is_superuser=True)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        password_step(page, base, "ops@vendor.example")
        page.goto(f"{base}/admin/")
        page.get_by_text("Set up a second factor to use the administration pages.").wait_for()
        assert re.search(r"/account/security/$", page.url)
        shoot(page, "security-7-staff-sent-to-set-up")
        page.get_by_role("button", name="Set up an authenticator app").click()
        secret = page.locator("#totp-secret").inner_text().replace(" ", "")
        page.get_by_label("Code").fill(pyotp.TOTP(secret).now())
        page.get_by_role("button", name="Turn on").click()
        page.get_by_role("link", name="I have saved them").click()
        page.goto(f"{base}/admin/")
        page.get_by_role("heading", name="Support and operations").wait_for()
    finally:
        context.close()
