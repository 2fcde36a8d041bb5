"""Foundation pages: access at the boundary, navigation, account, activity (R1, R31–R34)."""

from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone

from organizations.models import Account
from portal import selectors
from portal.audit import audit_record
from portal.models import AnnouncementDismissal, AuditEvent
from tests.factories import AnnouncementFactory, AuditEventFactory

pytestmark = pytest.mark.django_db

ORG_PAGES = ["/organization/", "/organization/activity/", "/organization/settings/"]
ORG_POSTS = ["/organization/settings/", "/organization/settings/tokens/"]


@pytest.mark.parametrize("url", ORG_PAGES)
def test_anonymous_visitors_are_sent_to_sign_in(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


@pytest.mark.parametrize("url", ORG_PAGES)
@pytest.mark.parametrize("who", ["member", "staff"])
def test_people_who_do_not_administer_get_404(client, request, url, who):
    """rules.md "Security": members and staff (without an organization) get 404, never data."""
    request.getfixturevalue("organization")
    client.force_login(request.getfixturevalue(who))
    assert client.get(url).status_code == 404


@pytest.mark.parametrize("url", ORG_POSTS)
def test_members_cannot_post_to_organization_actions(member_client, url):
    assert member_client.post(url, {"name": "Hijack"}).status_code == 404


def test_an_administrator_sees_only_their_own_organization(client, organization, outsider):
    """Tenancy: there is no organization id in the URL; each administrator sees their own."""
    audit_record(
        actor=None, action="secret.thing", organization=organization, target="zz-secret-target"
    )
    client.force_login(outsider)
    for url in ORG_PAGES:
        body = client.get(url).content.decode()
        assert organization.name not in body
        assert "zz-secret-target" not in body


def test_the_token_revoke_of_another_organization_is_404(client, organization, outsider):
    from portal.services import api_token_create

    token, _ = api_token_create(
        actor=None, name="theirs", scopes=["org:admin"], organization=organization
    )
    client.force_login(outsider)
    assert client.post(f"/organization/settings/tokens/{token.pk}/revoke/").status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


def test_home_sends_each_person_to_their_start_page(client, org_admin, member):
    client.force_login(org_admin)
    assert client.get("/")["Location"] == "/organization/"
    client.force_login(member)
    assert client.get("/")["Location"] == "/licenses/"


def test_navigation_shows_organization_only_to_its_administrator(client, org_admin, member, staff):
    client.force_login(org_admin)
    page = client.get("/account/").content.decode()
    assert 'href="/organization/"' in page and 'href="/admin/"' not in page
    client.force_login(member)
    page = client.get("/account/").content.decode()
    assert 'href="/organization/"' not in page
    client.force_login(staff)
    assert 'href="/admin/"' in client.get("/account/").content.decode()


def test_account_page_shows_customer_number_and_kind(member_client, member):
    page = member_client.get("/account/").content.decode()
    assert member.customer_number in page
    assert member.get_kind_display() in page


def test_profile_change_is_saved_and_audited(member_client, member):
    response = member_client.post("/account/", {"name": "New Name"})
    assert response.status_code == 302
    member.refresh_from_db()
    assert member.name == "New Name"
    assert AuditEvent.objects.filter(action="account.profile_changed", target=member.email).exists()


def test_overview_shows_members_pool_and_recent_activity(admin_client, organization, member):
    page = admin_client.get("/organization/").content.decode()
    assert organization.name in page
    assert f"created the organization {organization.name}." in page
    assert ">2<" in page  # administrator and member


def test_overview_runs_a_bounded_number_of_queries(
    admin_client, organization, django_assert_max_num_queries
):
    for i in range(30):
        audit_record(actor=None, action="bulk.event", organization=organization, target=str(i))
    with django_assert_max_num_queries(14):
        assert admin_client.get("/organization/").status_code == 200


def test_activity_is_paginated_filtered_and_bounded(
    admin_client, organization, django_assert_max_num_queries
):
    for i in range(60):
        AuditEventFactory(
            organization=organization, action="invitation.resent", target=f"s{i}@x.example"
        )
    AuditEventFactory(organization=organization, action="member.added", target="newbie@x.example")
    with django_assert_max_num_queries(14):
        page = admin_client.get("/organization/activity/").content.decode()
    assert "Page 1 of 3" in page
    filtered = admin_client.get("/organization/activity/?kind=members").content.decode()
    assert "newbie@x.example" in filtered
    only_seats = admin_client.get("/organization/activity/?kind=seats").content.decode()
    assert "No activity matches these filters." in only_seats


def test_activity_fragment_for_htmx_is_only_the_list(admin_client, organization):
    response = admin_client.get("/organization/activity/?kind=settings", HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert "<html" not in body
    assert 'id="event-list"' in body and "created the organization" in body


def test_settings_rename_and_threshold_with_field_errors(admin_client, organization):
    bad = admin_client.post(
        "/organization/settings/", {"name": "Acme", "low_balance_threshold": "1.234"}
    )
    assert "at most two decimals" in bad.content.decode()
    organization.refresh_from_db()
    assert organization.name != "Acme"
    ok = admin_client.post(
        "/organization/settings/", {"name": "Acme", "low_balance_threshold": "25.5"}
    )
    assert ok.status_code == 302
    organization.refresh_from_db()
    assert organization.name == "Acme" and str(organization.low_balance_threshold) == "25.50"
    assert AuditEvent.objects.filter(action="organization.settings_changed").exists()


def test_token_is_shown_once_and_stored_hashed(admin_client, organization):
    response = admin_client.post("/organization/settings/tokens/", {"token-name": "provisioning"})
    body = response.content.decode()
    token = organization.api_tokens.get()
    start = body.index("ssp_")
    secret = body[start : body.index("<", start)].strip()
    assert token.token_hash != secret and secret not in str(token.__dict__)
    assert token.scopes == ["org:admin"]
    again = admin_client.get("/organization/settings/").content.decode()
    assert secret not in again and token.prefix in again


def test_token_form_without_name_says_so(admin_client, organization):
    response = admin_client.post(
        "/organization/settings/tokens/", {"token-name": ""}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 422
    assert "This field is required." in response.content.decode()
    assert not organization.api_tokens.exists()


# --- Announcements (R33) ----------------------------------------------------------------------


def test_current_announcements_show_and_others_do_not(member_client):
    now = timezone.now()
    AnnouncementFactory(title="Update your license server")
    AnnouncementFactory(
        title="Old news", starts_at=now - timedelta(days=9), ends_at=now - timedelta(days=1)
    )
    AnnouncementFactory(title="Not yet", starts_at=now + timedelta(days=1))
    page = member_client.get("/account/").content.decode()
    assert "Update your license server" in page
    assert "Old news" not in page and "Not yet" not in page


def test_a_dismissed_announcement_disappears_for_that_user_only(client, member, org_admin):
    announcement = AnnouncementFactory(title="Maintenance on Sunday")
    client.force_login(member)
    response = client.post(f"/announcements/{announcement.pk}/dismiss/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and b"Maintenance on Sunday" not in response.content
    assert AnnouncementDismissal.objects.filter(account=member).count() == 1
    assert "Maintenance on Sunday" not in client.get("/account/").content.decode()
    client.force_login(org_admin)
    assert "Maintenance on Sunday" in client.get("/account/").content.decode()


def test_announcements_are_kept_a_moment_and_a_change_here_is_seen_at_once(
    member, member_client, django_assert_num_queries
):
    """Every page shows them, so each process keeps them a moment (portal.selectors): with
    none current a page asks nothing; one saved or ended in the process shows at once; one
    starting within the moment shows when it starts."""
    member_client.get("/account/")
    with django_assert_num_queries(0):
        assert selectors.announcements_for(member) == []
    announcement = AnnouncementFactory(title="License server upgrade tonight")
    assert "License server upgrade tonight" in member_client.get("/account/").content.decode()
    announcement.ends_at = timezone.now()
    announcement.save()
    assert "License server upgrade tonight" not in member_client.get("/account/").content.decode()
    start = timezone.now() + timedelta(seconds=10)
    AnnouncementFactory(title="Starts in a moment", starts_at=start)
    assert selectors.announcements_for(member) == []
    with mock.patch("portal.selectors.timezone.now", return_value=start + timedelta(seconds=1)):
        shown = selectors.announcements_for(member)
    assert [a.title for a in shown] == ["Starts in a moment"]


def test_announcement_text_is_escaped(member_client):
    AnnouncementFactory(title="<script>alert(1)</script>", text="<b>bold</b>")
    page = member_client.get("/account/").content.decode()
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;" in page


# --- Messages, headers, sign-in -----------------------------------------------------------------


def test_messages_reach_htmx_swaps_out_of_band(admin_client, organization):
    from portal.services import api_token_create

    token, _ = api_token_create(
        actor=None, name="old", scopes=["org:admin"], organization=organization
    )
    response = admin_client.post(
        f"/organization/settings/tokens/{token.pk}/revoke/", HTTP_HX_REQUEST="true"
    )
    body = response.content.decode()
    assert 'id="messages"' in body and 'hx-swap-oob="true"' in body
    assert "was revoked" in body


def test_pages_carry_a_strict_content_security_policy(member_client):
    response = member_client.get("/account/")
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert "<script>" not in response.content.decode()


def test_sign_in_is_throttled_after_repeated_wrong_passwords(client, member, password):
    """Login throttling: after five wrong passwords even the right one is refused for a while,
    with a clear message."""
    for _ in range(5):
        client.post("/accounts/login/", {"username": member.email, "password": "wrong"})
    response = client.post("/accounts/login/", {"username": member.email, "password": password})
    assert response.status_code == 429
    assert "Too many sign-in attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_throttling_counts_an_email_however_it_is_spelled(client, member, password):
    """Security finding: each spelling had its own counter, and the right password in capitals
    signed in while the account was locked."""
    email = member.email
    spellings = [email, email.upper(), email.capitalize(), f" {email} ", email.swapcase()]
    for spelling in spellings:
        client.post("/accounts/login/", {"username": spelling, "password": "wrong"})
    response = client.post("/accounts/login/", {"username": email.upper(), "password": password})
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


def test_wrong_password_says_so_without_revealing_which_part(client, member):
    response = client.post("/accounts/login/", {"username": member.email, "password": "nope"})
    assert "do not match an account" in response.content.decode()


def test_password_reset_emails_are_limited_per_address(client, member):
    """Security finding: twenty reset emails to one account in seconds."""
    from django.core import mail

    for spelling in [member.email, member.email.upper()] * 10:
        response = client.post("/accounts/password_reset/", {"email": spelling})
        assert response.status_code == 302  # the same answer every time
    assert len(mail.outbox) == 3


def test_password_reset_sends_a_working_link(client, member):
    from django.core import mail

    client.post("/accounts/password_reset/", {"email": member.email})
    assert len(mail.outbox) == 1
    link = next(line for line in mail.outbox[0].body.splitlines() if "/accounts/reset/" in line)
    path = link.split("testserver", 1)[1].strip()
    form_page = client.get(path, follow=True)
    assert "Choose a new password" in form_page.content.decode()
    client.post(
        form_page.redirect_chain[-1][0],
        {"new_password1": "a fresh Pass 2026!", "new_password2": "a fresh Pass 2026!"},
    )
    assert Account.objects.get(pk=member.pk).check_password("a fresh Pass 2026!")


def test_password_change_requires_the_old_password(member_client, member, password):
    response = member_client.post(
        "/accounts/password_change/",
        {
            "old_password": "wrong",
            "new_password1": "another Pass 2026!",
            "new_password2": "another Pass 2026!",
        },
    )
    assert "Your old password was entered incorrectly" in response.content.decode()
    member_client.post(
        "/accounts/password_change/",
        {
            "old_password": password,
            "new_password1": "another Pass 2026!",
            "new_password2": "another Pass 2026!",
        },
    )
    assert Account.objects.get(pk=member.pk).check_password("another Pass 2026!")


def test_activity_reads_as_sentences_without_raw_data(admin_client, organization, member):
    audit_record(
        actor=None,
        action="credit_access.changed",
        organization=organization,
        target=member.email,
        details={
            "from": {"mode": "disabled", "limit": "", "period": "none"},
            "to": {"mode": "quota", "limit": "100.00", "period": "monthly"},
        },
    )
    page = admin_client.get("/organization/activity/").content.decode()
    assert "credit access of" in page and "from Disabled to Quota 100.00 a month" in page
    for raw in ("{&#x27;mode", "credit_access.changed", "limit:"):
        assert raw not in page


def test_a_get_of_a_post_only_address_answers_the_portals_page(admin_client):
    response = admin_client.get("/credits/trial/")
    assert response.status_code == 405 and "POST" in response["Allow"]
    assert "has no page of its own" in response.content.decode()


def test_sign_out_asks_first_then_confirms(client, member):
    client.force_login(member)
    asked = client.get("/accounts/logout/").content.decode()
    assert "Sign out?" in asked and member.email in asked
    done = client.post("/accounts/logout/").content.decode()
    assert "You are signed out" in done
    assert client.get("/credits/").status_code == 302  # signed out indeed


def test_the_favicon_is_served_at_the_usual_address(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 301 and response["Location"].endswith(".svg")


def test_an_htmx_swap_replaces_earlier_messages_even_with_none_new(admin_client, organization):
    response = admin_client.get("/organization/activity/", HTTP_HX_REQUEST="true")
    assert '<div id="messages"' in response.content.decode()
    assert 'hx-swap-oob="true"' in response.content.decode()


@pytest.mark.parametrize(
    "target", ["//evil.test/phish", "https://evil.test", "http://evil.test/x", "\\\\evil.test"]
)
def test_dismissing_never_redirects_to_another_site(client, member, target):
    """Security finding: `next` was followed to any address."""
    announcement = AnnouncementFactory()
    client.force_login(member)
    response = client.post(f"/announcements/{announcement.pk}/dismiss/", {"next": target})
    assert response.status_code == 302 and response["Location"] == "/"


def test_dismissing_goes_back_to_a_page_of_the_portal(client, member):
    announcement = AnnouncementFactory()
    client.force_login(member)
    response = client.post(f"/announcements/{announcement.pk}/dismiss/", {"next": "/credits/"})
    assert response["Location"] == "/credits/"


def test_a_part_reloading_itself_after_an_action_leaves_its_message(admin_client, organization):
    """The seat count, the seat summary and the members table reload themselves after an
    action (X-Refresh): their answers come after the action's message and keep it."""
    response = admin_client.get(
        "/organization/activity/", HTTP_HX_REQUEST="true", HTTP_X_REFRESH="true"
    )
    assert response.status_code == 200
    assert 'id="messages"' not in response.content.decode()
