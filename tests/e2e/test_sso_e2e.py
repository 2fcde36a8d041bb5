"""Single sign-on (R43) in Chromium: the email-first sign-in page and the Settings section, at
1280 and 390 px (screenshots in artifacts/screenshots/)."""

import pytest

from organizations import services
from tests.factories import make_org_admin

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def studio(settings):
    settings.PORTAL_SSO_ALLOW_PRIVATE_ISSUERS = True
    admin = make_org_admin(email="boss@studio-e.example")
    organization = admin.administered_organization
    services.identity_provider_save(
        actor=admin,
        organization=organization,
        issuer="http://127.0.0.1:9/realms/studio",
        client_id="portal",
        client_secret="kept-secret",
    )
    services.email_domain_confirm(actor=None, organization=organization, domain="studio-e.example")
    return organization


@pytest.mark.parametrize("width", ["wide", "narrow"])
def test_the_sign_in_page_asks_for_the_email_first(
    live_server, studio, page, narrow_page, screenshot, password, width
):
    view = page if width == "wide" else narrow_page
    view.goto(f"{live_server.url}/accounts/login/")
    password_field = view.get_by_label("Password")
    assert not password_field.is_visible()
    screenshot(view, f"sso-sign-in-email-{width}")

    view.get_by_label("Email").fill("pat@studio-e.example")
    view.get_by_text("Your organization signs you in on its own sign-in page.").wait_for()
    assert view.get_by_role("button", name="Continue").is_visible()
    assert not password_field.is_visible()
    screenshot(view, f"sso-sign-in-provider-{width}")

    view.get_by_label("Email").fill("someone@elsewhere.example")
    password_field.wait_for(state="visible")
    assert view.get_by_role("button", name="Sign in").is_visible()
    assert not view.get_by_role("button", name="Use my password instead").is_visible()
    screenshot(view, f"sso-sign-in-password-{width}")

    # The administrator may still use a password, through "Use my password instead".
    view.get_by_label("Email").fill("boss@studio-e.example")
    view.get_by_role("button", name="Use my password instead").click()
    password_field.fill(password)
    view.get_by_role("button", name="Sign in").click()
    view.wait_for_url(f"{live_server.url}/organization/")


def test_the_settings_section_at_both_widths(
    live_server, studio, page, narrow_page, screenshot, password
):
    for view, width in ((page, "wide"), (narrow_page, "narrow")):
        view.goto(f"{live_server.url}/accounts/login/")
        view.get_by_label("Email").fill("boss@studio-e.example")
        view.get_by_role("button", name="Use my password instead").click()
        view.get_by_label("Password").fill(password)
        view.get_by_role("button", name="Sign in").click()
        view.wait_for_url(f"{live_server.url}/organization/")
        view.goto(f"{live_server.url}/organization/settings/#sign-on")
        section = view.locator("#sign-on")
        assert "studio-e.example" in section.inner_text()
        assert "kept-secret" not in view.content()
        section.scroll_into_view_if_needed()
        screenshot(view, f"sso-settings-{width}")
