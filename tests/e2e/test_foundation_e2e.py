"""Foundation in a real browser: sign in, navigation, setup request, announcements (R1–R3, R33)."""

import pytest

from portal.models import Announcement
from tests.factories import PASSWORD, AccountFactory, add_member, make_org_admin

pytestmark = pytest.mark.django_db(transaction=True)

PAGES = [
    ("overview", "/organization/"),
    ("activity", "/organization/activity/"),
    ("settings", "/organization/settings/"),
    ("account", "/account/"),
]


def test_administrator_signs_in_and_walks_the_foundation_pages(
    live_server, page, narrow_page, sign_in, screenshot
):
    admin = make_org_admin(email="boss@studio.example", name="Blue Fox Studio")
    add_member(admin.administered_organization)
    sign_in(page, "BOSS@studio.example", PASSWORD)
    assert page.url.endswith("/organization/")
    assert page.get_by_role("heading", name="Blue Fox Studio").is_visible()
    errors = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    for name, path in PAGES:
        page.goto(live_server.url + path)
        screenshot(page, f"foundation-{name}-wide")
    # The strict Content Security Policy blocks nothing the portal itself needs.
    assert not [e for e in errors if "Content Security Policy" in e], errors

    sign_in(narrow_page, "boss@studio.example", PASSWORD)
    for name, path in PAGES:
        narrow_page.goto(live_server.url + path)
        width = narrow_page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390 + 1, f"{path} scrolls sideways on a phone ({width}px)"
        screenshot(narrow_page, f"foundation-{name}-narrow")


def test_token_creation_with_htmx_shows_the_secret_once(live_server, page, sign_in):
    make_org_admin(email="boss@studio.example")
    sign_in(page, "boss@studio.example", PASSWORD)
    page.goto(live_server.url + "/organization/settings/")
    page.get_by_label("Token name").fill("nightly sync")
    page.get_by_role("button", name="Create token").click()
    secret = page.locator("#new-token")
    secret.wait_for()
    assert secret.inner_text().startswith("ssp_")
    assert page.get_by_role("cell", name="nightly sync").is_visible()
    page.reload()
    assert page.locator("#new-token").count() == 0


def test_trial_account_files_a_setup_request(live_server, page, sign_in, screenshot):
    AccountFactory(email="student@school.example", kind="student")
    teacher = AccountFactory(email="teacher@school.example", kind="educator")
    sign_in(page, "student@school.example", PASSWORD)
    page.goto(live_server.url + "/organization/setup/")
    page.get_by_label("Organization name").fill("Render Lab")
    page.get_by_label("Administrator's email").fill("teacher@school.example")
    page.get_by_label("Administrator's customer number").fill("0000000000")
    page.get_by_role("button", name="Send request").click()
    assert page.get_by_text("do not belong to the same account").is_visible()
    page.get_by_label("Administrator's customer number").fill(teacher.customer_number)
    page.get_by_role("button", name="Send request").click()
    assert page.get_by_text("Your request was sent").is_visible()
    assert page.get_by_text("Pending", exact=True).is_visible()
    screenshot(page, "foundation-setup-pending")


def test_announcement_banner_is_dismissed_with_htmx(live_server, page, sign_in):
    AccountFactory(email="user@example.com")
    Announcement.objects.create(title="Update your license server by 1 December")
    sign_in(page, "user@example.com", PASSWORD)
    banner = page.get_by_text("Update your license server by 1 December")
    assert banner.is_visible()
    page.get_by_role("button", name="Dismiss announcement").click()
    banner.wait_for(state="detached")
    page.reload()
    assert page.get_by_text("Update your license server by 1 December").count() == 0


def test_wrong_password_shows_a_clear_message(live_server, page):
    AccountFactory(email="user@example.com")
    page.goto(live_server.url + "/accounts/login/")
    page.get_by_label("Email").fill("user@example.com")
    page.get_by_label("Password").fill("not it")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_text("do not match an account").is_visible()
