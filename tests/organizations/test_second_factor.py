"""R42: authenticator apps, recovery codes, the second sign-in step, staff and the admin, the
organization's requirement, throttling, sessions, and the emails that confirm changes."""

import base64
import re
import threading
import time
from datetime import timedelta

import pyotp
import pytest
from django.core import mail
from django.db import connection
from django.test import Client
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from organizations import services
from organizations.admin_site import PortalAdminSite
from organizations.models import Account, AccountSession, Passkey
from portal.models import AuditEvent
from tests.factories import PASSWORD, AccountFactory, add_member, verify_session

pytestmark = pytest.mark.django_db

SECURITY = "/account/security/"
VERIFY = "/accounts/verify/"


def totp_for(device: TOTPDevice) -> pyotp.TOTP:
    return pyotp.TOTP(base64.b32encode(bytes.fromhex(device.key)).decode())


def app_for(account) -> TOTPDevice:
    """An authenticator app set up as a person does, through the Security page."""
    client = Client()
    client.force_login(account)
    client.post(f"{SECURITY}app/")
    device = TOTPDevice.objects.get(user=account, confirmed=False)
    response = client.post(f"{SECURITY}app/", {"code": totp_for(device).now()})
    assert response.status_code == 200, response.content
    device.refresh_from_db()
    assert device.confirmed
    return device


def next_code(device: TOTPDevice) -> str:
    """The app's next code: accepted (one step of drift is allowed) although the set-up just
    spent the current one, so no test waits for the clock."""
    return totp_for(device).at(time.time() + 30)


def sign_in(client, account, password=PASSWORD):
    return client.post("/accounts/login/", {"username": account.email, "password": password})


def codes_on(response) -> list[str]:
    return re.findall(r'<li><span class="code">([^<]+)</span></li>', response.content.decode())


# --- Setting up the authenticator app ------------------------------------------------------


def test_setting_up_the_app_shows_qr_and_secret_and_gives_recovery_codes_once(client, member):
    client.force_login(member)
    assert client.post(f"{SECURITY}app/").status_code == 302
    page = client.get(f"{SECURITY}app/").content.decode()
    device = TOTPDevice.objects.get(user=member, confirmed=False)
    secret = base64.b32encode(bytes.fromhex(device.key)).decode()
    # The QR code is drawn on the server (no other host) and the key is readable text.
    assert 'src="data:image/svg+xml;base64,' in page
    assert " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)) in page
    mail.outbox.clear()

    response = client.post(f"{SECURITY}app/", {"code": totp_for(device).now()})

    codes = codes_on(response)
    assert len(codes) == 10 and len(set(codes)) == 10
    assert StaticToken.objects.filter(device__user=member).count() == 10
    device.refresh_from_db()
    assert device.confirmed
    assert [m.subject for m in mail.outbox] == ["An authenticator app was added to your account"]
    assert AuditEvent.objects.filter(action="account.second_factor_added", actor=member).exists()
    # The codes are never shown again.
    assert codes[0] not in client.get(SECURITY).content.decode()


def test_a_wrong_first_code_turns_nothing_on(client, member):
    client.force_login(member)
    client.post(f"{SECURITY}app/")
    response = client.post(f"{SECURITY}app/", {"code": "000000"})
    assert response.status_code == 200
    assert "That code is not right" in response.content.decode()
    assert not TOTPDevice.objects.filter(user=member, confirmed=True).exists()


# --- The second sign-in step ---------------------------------------------------------------


def test_sign_in_asks_for_the_code_after_the_password(member):
    device = app_for(member)
    client = Client()
    assert sign_in(client, member).status_code == 302
    response = client.get("/credits/")
    assert response.status_code == 302
    assert response["Location"] == f"{VERIFY}?next=%2Fcredits%2F"
    # Nothing but the second step and signing out until then.
    assert client.get("/account/").status_code == 302
    assert client.get(f"{SECURITY}").status_code == 302
    assert client.get(VERIFY).status_code == 200

    response = client.post(VERIFY, {"code": next_code(device), "next": "/credits/"})

    assert response.status_code == 302 and response["Location"] == "/credits/"
    assert client.get("/credits/").status_code == 200


def test_a_used_or_old_code_is_refused(member):
    device = app_for(member)  # the set-up spent the code of its moment
    totp = totp_for(device)
    client = Client()
    sign_in(client, member)
    used = client.post(VERIFY, {"code": totp.at(device.last_t * 30)})
    old = client.post(VERIFY, {"code": totp.at(time.time() - 120)})
    for response in (used, old):
        assert response.status_code == 200
        assert "That code is not right, or it was already used" in response.content.decode()
    assert client.get("/credits/").status_code == 302


def test_recovery_codes_sign_in_once_each(member):
    client = Client()
    client.force_login(member)
    client.post(f"{SECURITY}app/")
    device = TOTPDevice.objects.get(user=member)
    codes = codes_on(client.post(f"{SECURITY}app/", {"code": totp_for(device).now()}))

    first = Client()
    sign_in(first, member)
    assert first.post(VERIFY, {"code": codes[0].upper()}).status_code == 302
    assert first.get("/credits/").status_code == 200

    again = Client()
    sign_in(again, member)
    response = again.post(VERIFY, {"code": codes[0]})
    assert response.status_code == 200
    assert StaticToken.objects.filter(device__user=member).count() == 9
    assert AuditEvent.objects.filter(action="account.recovery_code_used").count() == 1


def test_making_new_recovery_codes_replaces_the_old_ones(client, member):
    app_for(member)
    old = set(StaticToken.objects.filter(device__user=member).values_list("token", flat=True))
    client.force_login(member)
    client.post(VERIFY, {"code": old.pop()})
    response = client.post(f"{SECURITY}recovery-codes/")
    new = codes_on(response)
    assert len(new) == 10
    assert set(StaticToken.objects.values_list("token", flat=True)) == set(new)
    assert not old & set(new)


@pytest.mark.django_db(transaction=True)
def test_one_recovery_code_sent_twice_at_once_is_accepted_once():
    account = AccountFactory(email="twice@x.example")
    services.totp_begin(account=account)
    device = TOTPDevice.objects.get(user=account)
    _, codes = services.totp_confirm(account=account, code=totp_for(device).now())
    barrier = threading.Barrier(2)
    results = []

    def use():
        try:
            barrier.wait()
            services.second_factor_check(account=account, code=codes[0])
            results.append("accepted")
        except services.SecondFactorInvalid:
            results.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=use) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["accepted", "refused"]


# --- Throttling ----------------------------------------------------------------------------


def test_wrong_codes_lock_the_account_second_step_whatever_the_session(member, settings):
    settings.SECOND_FACTOR_FAILURE_LIMIT = 5
    device = app_for(member)
    sessions = [Client(), Client()]
    for client in sessions:
        sign_in(client, member)
    for attempt in range(5):
        sessions[attempt % 2].post(VERIFY, {"code": "123456"})

    response = sessions[0].post(VERIFY, {"code": next_code(device)})

    assert "Too many wrong codes. Try again in 15 minutes." in response.content.decode()
    assert sessions[0].get("/credits/").status_code == 302
    assert AuditEvent.objects.filter(action="account.second_factor_locked").count() == 1
    # When the pause is over, the right code works.
    Account.objects.filter(pk=member.pk).update(
        second_factor_locked_until=timezone.now() - timedelta(seconds=1)
    )
    assert sessions[0].post(VERIFY, {"code": next_code(device)}).status_code == 302


# --- Staff and the Django admin -------------------------------------------------------------


def test_staff_without_a_second_factor_are_sent_to_set_one_up(client, staff):
    client.force_login_without_second_factor(staff)
    for url in ("/admin/", "/admin/organizations/account/"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"] == SECURITY, url
    page = client.get(SECURITY).content.decode()
    assert "Set up a second factor to use the administration pages." in page
    # Their own portal pages stay open: only the admin needs the factor.
    assert client.get("/account/").status_code == 200


def test_staff_with_a_factor_give_it_before_the_admin(staff):
    device = app_for(staff)
    client = Client()
    sign_in(client, staff)
    response = client.get("/admin/")
    assert response["Location"] == f"{VERIFY}?next=%2Fadmin%2F"
    client.post(VERIFY, {"code": next_code(device)})
    assert client.get("/admin/").status_code == 200


def test_the_admin_site_itself_refuses_an_unverified_session(rf, staff):
    request = rf.get("/admin/")
    request.user = staff
    request.session = Client().session
    site = PortalAdminSite()
    assert not site.has_permission(request)
    request.session["otp_device_id"] = app_for(staff).persistent_id
    assert site.has_permission(request)


# --- The organization's requirement ----------------------------------------------------------


def test_the_requirement_needs_the_administrators_own_factor_first(
    admin_client, org_admin, organization
):
    form = {"name": organization.name, "require_second_factor": "on"}
    response = admin_client.post("/organization/settings/", form)
    assert "Set up a second factor for yourself first" in response.content.decode()
    organization.refresh_from_db()
    assert not organization.require_second_factor

    app_for(org_admin)
    verified = Client()
    verified.force_login(org_admin)
    verify_session(verified, org_admin)
    assert verified.post("/organization/settings/", form).status_code == 302
    organization.refresh_from_db()
    assert organization.require_second_factor
    event = AuditEvent.objects.get(action="organization.settings_changed")
    assert event.details["require_second_factor"] == {"from": False, "to": True}


def test_members_without_a_factor_reach_only_the_set_up_in_open_sessions_too(
    org_admin, organization
):
    member = add_member(organization, email="open@x.example").account
    open_session = Client()
    open_session.force_login(member)
    assert open_session.get("/credits/").status_code == 200

    organization.require_second_factor = True
    organization.save()

    for url in ("/credits/", "/licenses/", "/account/", "/accounts/password_change/"):
        response = open_session.get(url)
        assert response.status_code == 302 and response["Location"] == SECURITY, url
    htmx = open_session.get("/credits/", HTTP_HX_REQUEST="true")
    assert htmx["HX-Redirect"] == SECURITY
    assert open_session.get(SECURITY).status_code == 200

    open_session.post(f"{SECURITY}app/")
    device = TOTPDevice.objects.get(user=member)
    open_session.post(f"{SECURITY}app/", {"code": totp_for(device).now()})
    assert open_session.get("/credits/").status_code == 200


def test_the_last_factor_cannot_go_while_the_organization_requires_one(client, organization):
    member = add_member(organization, email="keep@x.example").account
    device = app_for(member)
    organization.require_second_factor = True
    organization.save()
    client.force_login(member)
    verify_session(client, member)
    response = client.post(f"{SECURITY}totp/{device.pk}/remove/", follow=True)
    assert "add another one before removing this one" in response.content.decode()
    assert TOTPDevice.objects.filter(pk=device.pk).exists()


def test_removing_a_factor_is_emailed_and_audited_and_takes_the_recovery_codes(client, member):
    device = app_for(member)
    client.force_login(member)
    verify_session(client, member)
    mail.outbox.clear()
    response = client.post(f"{SECURITY}totp/{device.pk}/remove/")
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=member).exists()
    assert not StaticToken.objects.filter(device__user=member).exists()
    removed = "An authenticator app was removed from your account"
    assert [m.subject for m in mail.outbox] == [removed]
    assert AuditEvent.objects.filter(action="account.second_factor_removed").exists()
    # Someone else's device: nothing happens.
    other = app_for(AccountFactory(email="else@x.example"))
    client.post(f"{SECURITY}totp/{other.pk}/remove/")
    assert TOTPDevice.objects.filter(pk=other.pk).exists()


# --- Sessions --------------------------------------------------------------------------------


def test_sessions_are_listed_and_the_others_can_be_ended(member):
    laptop, phone = Client(HTTP_USER_AGENT=LAPTOP), Client(HTTP_USER_AGENT=PHONE)
    for client in (laptop, phone):
        sign_in(client, member)
        assert client.get("/credits/").status_code == 200
    page = laptop.get(SECURITY).content.decode()
    assert "Chrome on Windows" in page and "Safari on iPhone" in page
    assert "This browser" in page
    assert AccountSession.objects.filter(account=member).count() == 2

    response = laptop.post(f"{SECURITY}sessions/end-others/", follow=True)

    assert "Signed out of 1 other session." in response.content.decode()
    assert phone.get("/credits/")["Location"].startswith("/accounts/login/")
    assert laptop.get("/credits/").status_code == 200
    assert AuditEvent.objects.filter(action="account.sessions_ended").exists()


LAPTOP = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
PHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
)


def test_a_password_change_is_emailed(client, member):
    client.force_login(member)
    mail.outbox.clear()
    response = client.post(
        "/accounts/password_change/",
        {
            "old_password": PASSWORD,
            "new_password1": "a-new-long-passphrase-42",
            "new_password2": "a-new-long-passphrase-42",
        },
    )
    assert response.status_code == 302
    assert [m.subject for m in mail.outbox] == ["Your password was changed"]
    # The session survives the change and keeps its row under its new key.
    assert client.get(SECURITY).status_code == 200
    assert AccountSession.objects.filter(account=member).count() == 1


# --- Passkeys (the ceremonies run in Chromium: tests/e2e/test_security_e2e.py) ---------------


def test_passkeys_are_offered_only_at_the_relying_partys_host(client, member, settings):
    settings.PORTAL_WEBAUTHN_RP_ID = "portal.example"
    client.force_login(member)
    at_ip = client.post("/account/security/passkeys/options/", HTTP_HOST="10.0.0.5")
    assert at_ip.status_code == 400
    options = client.post(
        "/account/security/passkeys/options/", HTTP_HOST="portal.example", secure=True
    ).json()
    assert options["rp"]["id"] == "portal.example"
    assert options["authenticatorSelection"]["residentKey"] == "required"
    assert options["authenticatorSelection"]["userVerification"] == "required"


def test_an_unknown_or_forged_passkey_signs_nobody_in(client, settings):
    settings.PORTAL_WEBAUTHN_RP_ID = "testserver"
    assert client.post("/accounts/passkey/options/").status_code == 200
    forged = {
        "credential": {
            "id": "bm90LWEta2V5",
            "rawId": "bm90LWEta2V5",
            "type": "public-key",
            "response": {"clientDataJSON": "e30", "authenticatorData": "", "signature": ""},
        }
    }
    response = client.post("/accounts/passkey/", forged, content_type="application/json")
    assert response.status_code == 400
    assert "not known here" in response.json()["error"]
    assert client.get("/credits/").status_code == 302
    # A challenge is used once: without asking again there is nothing to answer.
    again = client.post("/accounts/passkey/", forged, content_type="application/json")
    assert "Start signing in with the passkey again." in again.json()["error"]
    assert not Passkey.objects.exists()


def test_support_removes_a_lost_factor_and_signs_the_person_out(client, staff, member):
    app_for(member)
    phone = Client()
    phone.force_login(member)
    mail.outbox.clear()
    client.force_login(staff)
    response = client.post(
        "/admin/organizations/account/",
        {"action": "reset_second_factors", "_selected_action": [member.pk]},
    )
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=member).exists()
    assert not StaticToken.objects.filter(device__user=member).exists()
    assert phone.get("/credits/")["Location"].startswith("/accounts/login/")
    assert [m.subject for m in mail.outbox] == ["The second factors of your account were removed"]
    event = AuditEvent.objects.get(action="account.second_factors_reset")
    assert event.actor == staff and event.target == member.email


def test_the_admin_lists_sessions_without_their_keys(client, staff, member):
    other = Client()
    other.force_login(member)
    key = other.session.session_key
    client.force_login(staff)
    page = client.get("/admin/organizations/accountsession/")
    assert page.status_code == 200
    assert member.email in page.content.decode()
    assert key not in page.content.decode()
    assert client.get(f"/admin/organizations/accountsession/{key}/change/").status_code in (
        302,
        403,
    )


def test_only_those_who_may_change_accounts_remove_second_factors(client, member):
    app_for(member)
    viewer = AccountFactory(email="viewer@vendor.example", is_staff=True)
    from django.contrib.auth.models import Permission

    viewer.user_permissions.add(Permission.objects.get(codename="view_account"))
    client.force_login(viewer)
    client.post(
        "/admin/organizations/account/",
        {"action": "reset_second_factors", "_selected_action": [member.pk]},
    )
    assert TOTPDevice.objects.filter(user=member).exists()


# --- The signed-in account, loaded once per request ------------------------------------------


def test_the_signed_in_account_comes_with_its_flags_and_organization_in_one_query(
    org_admin, organization, member, django_assert_num_queries
):
    """Every page needs the account, its second-factor facts (R42) and the organization it
    administers: one statement (organizations.backends), and the access check asks nothing."""
    from organizations.backends import EmailBackend
    from organizations.permissions import organization_for_admin_or_404
    from organizations.selectors import organization_administered_by

    TOTPDevice.objects.create(user=org_admin, name="Phone", confirmed=True)
    organization.require_second_factor = True
    organization.save()
    with django_assert_num_queries(1):
        admin = EmailBackend().get_user(org_admin.pk)
        assert organization_for_admin_or_404(admin) == organization
        assert (admin.has_second_factor, admin.second_factor_required) == (True, True)
    with django_assert_num_queries(1):
        loaded = EmailBackend().get_user(str(member.pk))
        assert organization_administered_by(loaded) is None
        assert (loaded.has_second_factor, loaded.second_factor_required) == (False, True)
    Passkey.objects.create(user=member, name="Key", credential_id="k", public_key=b"p")
    assert EmailBackend().get_user(member.pk).has_second_factor is True
    member.is_active = False
    member.save()
    assert EmailBackend().get_user(member.pk) is None
    assert EmailBackend().get_user(10**9) is None
    assert EmailBackend().get_user("not a number") is None
