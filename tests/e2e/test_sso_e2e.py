"""Single sign-on (R43) in Chromium: the email-first sign-in page and the Settings section, at
1280 and 390 px (screenshots in artifacts/screenshots/); and the sign-on itself against the
real test provider (tests/sso/idp.mjs, one for the module, with its own sign-in page): first
sign-in, another organization's provider, a wrong audience, a replayed state, an unverified
email, and required sign-on."""

import base64
import hashlib
import json
import secrets
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests

from organizations import services, sso
from organizations.models import Account, Membership
from portal.models import AuditEvent
from tests.factories import add_member, make_org_admin
from tests.sso.conftest import idp_report, idp_start, idp_stop

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module", autouse=True)
def _warm(live_server):
    """The live server's first request loads the whole portal (over 10 s on a busy machine,
    longer than a page's timeout): made here once, outside the timed steps."""
    requests.get(f"{live_server.url}/accounts/login/", timeout=120).raise_for_status()


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


# --- Against the real test provider (tests/sso/idp.mjs), through its own sign-in page --------

CLIENTS = {"studio-a": "secret-of-studio-a", "studio-b": "secret-of-studio-b"}


@pytest.fixture(scope="module")
def idp(live_server):
    """One provider for the module, with its own sign-in page, sending people back to the
    live server's callback."""
    process, issuer, summary = idp_start(
        CLIENTS, f"{live_server.url}/accounts/sso/callback/", form=True
    )
    yield issuer, summary
    idp_stop(process)


@pytest.fixture
def connect(idp, record_property):
    issuer, summary = idp
    idp_report(record_property, summary)

    def _connect(admin_email, client_id, domain, required=False):
        organization = make_org_admin(email=admin_email).administered_organization
        services.identity_provider_save(
            actor=organization.administrator,
            organization=organization,
            issuer=issuer,
            client_id=client_id,
            client_secret=CLIENTS[client_id],
            sign_on_required=required,
        )
        services.email_domain_confirm(actor=None, organization=organization, domain=domain)
        return organization

    return _connect


def _through_the_provider(view, base, email, *, client_id="studio-a", assert_as=None):
    """The email-first step, then the provider's own page (where the person may type another
    email: `assert_as`), then back at the portal."""
    view.goto(f"{base}/accounts/login/")
    view.get_by_label("Email").fill(email)
    view.get_by_role("button", name="Continue").click()
    view.get_by_role("heading", name=f"Test identity provider: {client_id}").wait_for()
    field = view.get_by_label("Email")
    assert field.input_value() == email  # the portal's login_hint
    if assert_as is not None:
        field.fill(assert_as)
    view.get_by_role("button", name="Sign in").click()
    view.wait_for_url(f"{base}/**")
    view.wait_for_load_state()


def _signed_in(view, base) -> bool:
    response = view.request.get(f"{base}/licenses/", max_redirects=0)
    return response.status == 200


def test_first_sign_in_through_the_provider_creates_the_membership(
    live_server, connect, page, screenshot
):
    studio = connect("boss@studio-a.example", "studio-a", "studio-a.example")

    _through_the_provider(page, live_server.url, "newcomer@studio-a.example")

    assert "/accounts/" not in page.url
    account = Account.objects.get(email="newcomer@studio-a.example")
    assert not account.has_usable_password()
    assert Membership.objects.filter(organization=studio, account=account, role="member").exists()
    assert AuditEvent.objects.filter(
        organization=studio, action="member.added", target=account.email, details={"via": "sign_on"}
    ).exists()
    screenshot(page, "sso-first-sign-in")
    # Signing in again finds the same account and membership.
    page.context.clear_cookies()
    _through_the_provider(page, live_server.url, "newcomer@studio-a.example")
    assert "/accounts/" not in page.url
    assert Membership.objects.filter(account=account).count() == 1


def test_another_organizations_provider_cannot_sign_in_this_organizations_people(
    live_server, connect, page, screenshot
):
    """Studio B's provider, where the person types a Studio A email on the provider's own page
    (a provider that is compromised, or lets anyone type any address), signs in nobody."""
    studio_a = connect("boss@studio-a.example", "studio-a", "studio-a.example")
    studio_b = connect("boss@studio-b.example", "studio-b", "studio-b.example")
    alice = add_member(studio_a, email="alice@studio-a.example").account

    _through_the_provider(
        page,
        live_server.url,
        "someone@studio-b.example",
        client_id="studio-b",
        assert_as="alice@studio-a.example",
    )

    page.get_by_role("heading", name="You are not signed in").wait_for()
    assert "cannot sign in this email address here" in page.get_by_role("alert").inner_text()
    screenshot(page, "sso-refused-other-domain")
    assert not _signed_in(page, live_server.url)
    assert not Membership.objects.filter(organization=studio_b, account=alice).exists()
    assert not Account.objects.filter(email="someone@studio-b.example").exists()


def _id_token_for_another_client(issuer, redirect_uri, client_id, email, nonce):
    """An ID token the test provider issues to `client_id` for `email` and `nonce`, through
    its authorization and token endpoints (its sign-in page posted by hand)."""
    metadata = requests.get(f"{issuer}/.well-known/openid-configuration", timeout=5).json()
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    browser = requests.Session()
    response = browser.get(
        metadata["authorization_endpoint"],
        params={
            "client_id": client_id,
            "response_type": "code",
            "scope": "openid email profile",
            "redirect_uri": redirect_uri,
            "state": "another-client",
            "nonce": nonce,
            "code_challenge": challenge.rstrip(b"=").decode(),
            "code_challenge_method": "S256",
        },
        allow_redirects=False,
        timeout=5,
    )
    interaction = urljoin(issuer, response.headers["Location"])
    response = browser.post(interaction, data={"email": email}, allow_redirects=False, timeout=5)
    response = browser.get(
        urljoin(issuer, response.headers["Location"]), allow_redirects=False, timeout=5
    )
    code = parse_qs(urlsplit(response.headers["Location"]).query)["code"][0]
    token = requests.post(
        metadata["token_endpoint"],
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        },
        auth=(client_id, CLIENTS[client_id]),
        timeout=5,
    )
    token.raise_for_status()
    return token.json()["id_token"]


def _claims_unchecked(id_token: str) -> dict:
    payload = id_token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_a_token_the_provider_issued_to_another_client_is_refused(
    live_server, connect, idp, page, monkeypatch, caplog
):
    """Wrong audience. oidc-provider only issues an ID token to the client that redeems the
    code, so the real provider cannot be made to answer Studio A's token request with another
    audience. The test therefore swaps, in the answer the portal receives (the live server
    runs in this process), Studio A's real ID token for one the same provider really issued to
    Studio B, for the same person and the portal's own nonce: signature, issuer, nonce and
    expiry are all good, only the audience is wrong. The audience checks on tokens signed here
    (several audiences, authorized party) are in tests/sso/test_tokens.py."""
    connect("boss@studio-a.example", "studio-a", "studio-a.example")
    connect("boss@studio-b.example", "studio-b", "studio-b.example")
    issuer, _summary = idp
    redirect_uri = f"{live_server.url}/accounts/sso/callback/"
    swapped = []

    class AnswerForAnotherClient(sso.OAuth2Session):
        def fetch_token(self, *args, **kwargs):
            token = super().fetch_token(*args, **kwargs)
            claims = _claims_unchecked(token["id_token"])
            try:
                token["id_token"] = _id_token_for_another_client(
                    issuer, redirect_uri, "studio-b", claims["sub"], claims["nonce"]
                )
            except Exception as exc:  # seen by the assertion below, not swallowed by the portal
                swapped.append(exc)
                raise
            swapped.append(_claims_unchecked(token["id_token"]))
            return token

    monkeypatch.setattr(sso, "OAuth2Session", AnswerForAnotherClient)

    _through_the_provider(page, live_server.url, "pat@studio-a.example")

    # The provider's accounts are named by their email (its `sub`).
    assert [(c["aud"], c["sub"], c["iss"]) for c in swapped] == [
        ("studio-b", "pat@studio-a.example", issuer)
    ]
    page.get_by_role("heading", name="You are not signed in").wait_for()
    assert "did not work" in page.get_by_role("alert").inner_text()
    refusals = [r.getMessage() for r in caplog.records if r.name == "organizations.sso"]
    assert refusals and all("'aud'" in message for message in refusals), refusals
    assert not _signed_in(page, live_server.url)
    assert not Account.objects.filter(email="pat@studio-a.example").exists()


def test_a_replayed_state_is_refused(live_server, connect, browser, page):
    """The callback's address (code and state) used again: in the browser that signed in, and
    in another browser (someone who copied it)."""
    connect("boss@studio-a.example", "studio-a", "studio-a.example")
    callbacks = []
    page.on(
        "request",
        lambda request: (
            request.url.startswith(f"{live_server.url}/accounts/sso/callback/")
            and callbacks.append(request.url)
        ),
    )
    _through_the_provider(page, live_server.url, "again@studio-a.example")
    assert "/accounts/" not in page.url and len(callbacks) == 1

    page.context.clear_cookies()
    response = page.goto(callbacks[0])
    assert response.status == 400
    assert "expired or was used already" in page.get_by_role("alert").inner_text()
    assert not _signed_in(page, live_server.url)

    other = browser.new_context()
    try:
        elsewhere = other.new_page()
        response = elsewhere.goto(callbacks[0])
        assert response.status == 400
        assert "expired or was used already" in elsewhere.get_by_role("alert").inner_text()
        assert not _signed_in(elsewhere, live_server.url)
    finally:
        other.close()


def test_an_unverified_email_is_refused(live_server, connect, page):
    connect("boss@studio-a.example", "studio-a", "studio-a.example")

    _through_the_provider(page, live_server.url, "unverified@studio-a.example")

    page.get_by_role("heading", name="You are not signed in").wait_for()
    assert "has not verified your email" in page.get_by_role("alert").inner_text()
    assert not _signed_in(page, live_server.url)
    assert not Account.objects.filter(email="unverified@studio-a.example").exists()


def test_required_sign_on_refuses_a_password_but_not_the_administrators(
    live_server, connect, page, password, screenshot
):
    studio = connect("boss@studio-r.example", "studio-a", "studio-r.example", required=True)
    add_member(studio, email="pat@studio-r.example")

    def with_password(email):
        page.goto(f"{live_server.url}/accounts/login/")
        page.get_by_label("Email").fill(email)
        page.get_by_role("button", name="Use my password instead").click()
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_load_state()

    with_password("pat@studio-r.example")
    assert page.url.startswith(f"{live_server.url}/accounts/login/")
    page.get_by_text("signs you in through its own sign-in page").wait_for()
    screenshot(page, "sso-required-password-refused")
    assert not _signed_in(page, live_server.url)

    with_password("boss@studio-r.example")
    page.wait_for_url(f"{live_server.url}/organization/")
    assert _signed_in(page, live_server.url)

    # The member signs in through the provider instead.
    page.context.clear_cookies()
    _through_the_provider(page, live_server.url, "pat@studio-r.example")
    assert "/accounts/" not in page.url
    assert _signed_in(page, live_server.url)
