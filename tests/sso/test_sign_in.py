"""Single sign-on (R43) against a real provider (tests/sso/idp.mjs): the email-first step, the
first sign-in creating the account and membership, the refusals, required sign-on and tenancy."""

import pytest
from django.core import mail

from organizations import services
from organizations.models import Account, Membership
from organizations.second_factor import SSO_SESSION_KEY
from organizations.views.sso import PENDING_KEY
from portal.models import AuditEvent
from tests.factories import AccountFactory, add_member, make_org_admin
from tests.sso.conftest import follow_provider, provider_url

# Against the real provider (a Node process): once per CI run (`slow`).
pytestmark = [pytest.mark.django_db, pytest.mark.slow]


@pytest.fixture
def studio(connect):
    admin = make_org_admin(email="boss@studio-a.example")
    organization = admin.administered_organization
    connect(organization, "studio-a", ["studio-a.example"])
    return organization


def test_first_sign_in_creates_the_account_and_the_membership(client, studio, sso_sign_in):
    response = sso_sign_in("newcomer@studio-a.example")

    assert response.status_code == 302 and response["Location"] == "/"
    account = Account.objects.get(email="newcomer@studio-a.example")
    assert account.kind == "trial" and not account.has_usable_password()
    assert Membership.objects.filter(organization=studio, account=account, role="member").exists()
    assert client.session["_auth_user_id"] == str(account.pk)
    assert client.session[SSO_SESSION_KEY] == studio.pk
    added = AuditEvent.objects.get(organization=studio, action="member.added")
    assert added.details == {"via": "sign_on"} and added.target == account.email
    # The second sign-in finds the same account and membership.
    client.logout()
    assert sso_sign_in("newcomer@studio-a.example").status_code == 302
    assert Membership.objects.filter(account=account).count() == 1


def test_an_email_at_another_domain_gets_the_password_step(client, studio):
    response = client.post("/accounts/login/", {"username": "someone@elsewhere.example"})
    assert response.status_code == 200
    assert b'name="password"' in response.content
    assert client.get("/accounts/sso/discover/?email=x@studio-a.example").json() == {
        "provider": True
    }
    assert client.get("/accounts/sso/discover/?email=x@elsewhere.example").json() == {
        "provider": False
    }


def test_an_unverified_email_is_refused(client, studio, sso_sign_in):
    response = sso_sign_in("unverified@studio-a.example")

    assert response.status_code == 403
    assert "has not verified your email" in response.content.decode()
    assert not Account.objects.filter(email="unverified@studio-a.example").exists()
    assert "_auth_user_id" not in client.session


def test_a_member_the_administrator_removed_is_not_added_back(client, studio, sso_sign_in):
    membership = add_member(studio, email="gone@studio-a.example")
    services.member_remove(actor=studio.administrator, membership=membership)

    response = sso_sign_in("gone@studio-a.example")

    assert response.status_code == 403
    assert "Ask them to add you again" in response.content.decode()
    assert not Membership.objects.filter(account=membership.account).exists()
    assert "_auth_user_id" not in client.session
    # Added again by the administrator, the person signs in.
    services.member_add(
        actor=studio.administrator, organization=studio, email="gone@studio-a.example"
    )
    assert sso_sign_in("gone@studio-a.example").status_code == 302


def test_a_user_of_another_organization_is_refused_with_the_reason(client, studio, sso_sign_in):
    other = make_org_admin().administered_organization
    add_member(other, email="busy@studio-a.example")

    response = sso_sign_in("busy@studio-a.example")

    assert response.status_code == 403
    assert "already a user in another organization" in response.content.decode()
    assert not Membership.objects.filter(
        organization=studio, account__email="busy@studio-a.example"
    )


def test_a_replayed_state_is_refused(client, studio):
    start = client.post("/accounts/login/", {"username": "again@studio-a.example"})
    callback = follow_provider(provider_url(start))
    assert client.get(callback).status_code == 302
    client.logout()

    replay = client.get(callback)

    assert replay.status_code == 400
    assert "expired or was used already" in replay.content.decode()


def test_another_organizations_provider_cannot_sign_in_this_organizations_people(
    client, studio, connect, sso_sign_in
):
    """Studio B's provider (a real one, here told to assert a Studio A email) signs in nobody
    outside Studio B's confirmed domains, and never into Studio A."""
    studio_b = make_org_admin(email="boss@studio-b.example").administered_organization
    connect(studio_b, "studio-b", ["studio-b.example"])
    victim = add_member(studio, email="alice@studio-a.example").account

    response = sso_sign_in("someone@studio-b.example", login_hint="alice@studio-a.example")

    assert response.status_code == 403
    assert "cannot sign in this email address" in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert not Membership.objects.filter(organization=studio_b, account=victim).exists()


def test_a_callback_without_a_sign_in_under_way_is_refused(client, studio):
    response = client.get("/accounts/sso/callback/?code=abc&state=forged")
    assert response.status_code == 400
    session = client.session
    session[PENDING_KEY] = {"state": "s", "nonce": "n", "verifier": "v", "organization": studio.pk}
    session.save()
    assert client.get("/accounts/sso/callback/?code=abc&state=other").status_code == 400


class TestRequiredSignOn:
    @pytest.fixture
    def studio(self, connect):
        admin = make_org_admin(email="boss@studio-r.example")
        organization = admin.administered_organization
        connect(organization, "studio-a", ["studio-r.example"], required=True)
        return organization

    def test_a_password_is_refused_for_the_organizations_emails(self, client, studio, password):
        person = AccountFactory(email="pat@studio-r.example")
        add_member(studio, person)

        response = client.post("/accounts/login/", {"username": person.email, "password": password})

        assert response.status_code == 200
        assert "signs you in through its own sign-in page" in response.content.decode()
        assert "_auth_user_id" not in client.session

    def test_the_administrators_password_still_works(self, client, studio, password):
        response = client.post(
            "/accounts/login/", {"username": "boss@studio-r.example", "password": password}
        )
        assert response.status_code == 302
        assert client.session["_auth_user_id"] == str(studio.administrator_id)

    def test_a_password_reset_sends_nothing_to_the_organizations_emails(self, client, studio):
        add_member(studio, AccountFactory(email="pat@studio-r.example"))
        for email in ("pat@studio-r.example", "boss@studio-r.example"):
            response = client.post("/accounts/password_reset/", {"email": email})
            assert response.status_code == 302
        assert [m.to for m in mail.outbox] == [["boss@studio-r.example"]]

    def test_others_still_sign_in_with_a_password(self, client, studio, password):
        person = AccountFactory(email="free@elsewhere.example")
        client.post("/accounts/login/", {"username": person.email, "password": password})
        assert client.session["_auth_user_id"] == str(person.pk)

    def test_the_provider_still_signs_them_in(self, client, studio, sso_sign_in):
        assert sso_sign_in("pat@studio-r.example").status_code == 302
        assert Membership.objects.filter(organization=studio, account__email="pat@studio-r.example")


def test_test_connection_shows_what_the_real_provider_publishes(client, connect, idp_issuer):
    """Settings' "Test connection" reads the provider's discovery document: its issuer, where
    people sign in and whether it supports PKCE."""
    admin = make_org_admin(email="boss@tested.example")
    connect(admin.administered_organization, "studio-a", ["tested.example"])
    client.force_login(admin)
    page = client.post("/organization/settings/sign-on/test/").content.decode()
    assert "The provider answered." in page
    assert f'<dt>Issuer</dt><dd class="code">{idp_issuer}</dd>' in page
    assert f'<dt>Sign-in page</dt><dd class="code">{idp_issuer}/' in page
    assert "<dt>PKCE</dt><dd>supported</dd>" in page

    unreachable = make_org_admin(email="boss@gone.example")
    services.identity_provider_save(
        actor=unreachable,
        organization=unreachable.administered_organization,
        issuer="http://127.0.0.1:9/gone",
        client_id="portal",
        client_secret="s",
        sign_on_required=False,
    )
    client.force_login(unreachable)
    refused = client.post("/organization/settings/sign-on/test/")
    assert refused.status_code == 200
    assert "message--error" in refused.content.decode()
    assert "The provider answered." not in refused.content.decode()
