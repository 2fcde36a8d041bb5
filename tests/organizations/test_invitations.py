"""Invitation links (R6): single-use, bound to the invited email, valid 7 days."""

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from organizations import services
from organizations.models import Account, Invitation, InvitationState, Membership
from portal import errors
from portal.models import AuditEvent
from tests.factories import AccountFactory, add_member

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a sturdy pass phrase 42"


def invite(org_admin, organization, email="joiner@x.example") -> str:
    """Invite `email` and return the token from the link in the sent email."""
    services.member_add(actor=org_admin, organization=organization, email=email)
    return link_token(mail.outbox[-1].body)


def link_token(body: str) -> str:
    return re.search(r"/invitations/([^/\s]+)/", body).group(1)


def accept_form(client, token, **overrides):
    data = {"name": "Jo Joiner", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
    return client.post(f"/invitations/{token}/", {**data, **overrides})


def test_link_opens_a_form_with_the_email_fixed(client, org_admin, organization):
    token = invite(org_admin, organization)
    response = client.get(f"/invitations/{token}/")
    html = response.content.decode()
    assert response.status_code == 200
    assert 'value="joiner@x.example" readonly' in html
    assert 'name="email"' not in html  # the email cannot be changed by the form
    assert organization.name in html


def test_completing_creates_the_account_joins_and_signs_in(client, org_admin, organization):
    token = invite(org_admin, organization)
    response = accept_form(client, token)
    assert response.status_code == 302
    account = Account.objects.get(email="joiner@x.example")
    assert account.name == "Jo Joiner" and account.check_password(NEW_PASSWORD)
    membership = Membership.objects.get(account=account)
    assert membership.organization == organization and membership.role == "member"
    assert membership.credit_access.mode == "disabled"
    invitation = Invitation.objects.get()
    assert invitation.state == InvitationState.ACCEPTED
    assert invitation.accepted_account == account
    assert client.get("/account/").status_code == 200  # signed in
    assert AuditEvent.objects.filter(action="invitation.accepted").exists()
    assert mail.outbox[-1].to == [org_admin.email]
    assert "joiner@x.example" in mail.outbox[-1].subject


def test_form_errors_change_nothing(client, org_admin, organization):
    token = invite(org_admin, organization)
    response = accept_form(client, token, password2="something else entirely")
    assert response.status_code == 422
    assert "differ" in response.content.decode()
    response = accept_form(client, token, password1="123", password2="123")
    assert response.status_code == 422
    assert not Account.objects.filter(email="joiner@x.example").exists()
    assert Invitation.objects.get().state == InvitationState.PENDING


def test_link_is_single_use(client, org_admin, organization):
    token = invite(org_admin, organization)
    accept_form(client, token)
    client.logout()
    response = client.get(f"/invitations/{token}/")
    assert response.status_code == 410
    assert "already used" in response.content.decode()
    response = accept_form(client, token, name="Someone Else")
    assert response.status_code == 410
    assert Account.objects.filter(email="joiner@x.example").count() == 1


def test_expired_link_says_so(client, org_admin, organization):
    token = invite(org_admin, organization)
    Invitation.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = client.get(f"/invitations/{token}/")
    assert response.status_code == 410
    assert "expired" in response.content.decode()
    assert accept_form(client, token).status_code == 410
    assert not Account.objects.filter(email="joiner@x.example").exists()


def test_link_valid_just_before_seven_days(client, org_admin, organization):
    token = invite(org_admin, organization)
    invitation = Invitation.objects.get()
    assert invitation.expires_at - invitation.sent_at == timedelta(days=7)
    Invitation.objects.update(expires_at=timezone.now() + timedelta(minutes=1))
    assert client.get(f"/invitations/{token}/").status_code == 200


def test_cancelled_link_says_so(client, org_admin, organization):
    token = invite(org_admin, organization)
    services.invitation_cancel(actor=org_admin, invitation=Invitation.objects.get())
    response = client.get(f"/invitations/{token}/")
    assert response.status_code == 410
    assert "cancelled" in response.content.decode()
    assert accept_form(client, token).status_code == 410


def test_unknown_link_is_404(client):
    response = client.get("/invitations/not-a-real-token/")
    assert response.status_code == 404
    assert "not valid" in response.content.decode()


def test_resend_replaces_the_link_and_the_expiry(client, org_admin, organization):
    old = invite(org_admin, organization)
    Invitation.objects.update(expires_at=timezone.now() + timedelta(hours=1))
    services.invitation_resend(actor=org_admin, invitation=Invitation.objects.get())
    new = link_token(mail.outbox[-1].body)
    assert new != old
    assert client.get(f"/invitations/{old}/").status_code == 404
    invitation = Invitation.objects.get()
    assert invitation.expires_at > timezone.now() + timedelta(days=6)
    assert accept_form(client, new).status_code == 302
    assert AuditEvent.objects.filter(action="invitation.resent").exists()


def test_accepting_signed_in_as_another_account_is_refused(client, org_admin, organization):
    token = invite(org_admin, organization)
    other = AccountFactory(email="other@x.example")
    client.force_login(other)
    response = client.get(f"/invitations/{token}/")
    assert response.status_code == 403
    assert "joiner@x.example" in response.content.decode()
    response = client.post(f"/invitations/{token}/")
    assert response.status_code == 403
    assert not Membership.objects.filter(account=other, organization=organization).exists()
    assert Invitation.objects.get().state == InvitationState.PENDING


def test_email_that_got_an_account_meanwhile_signs_in_then_joins(client, org_admin, organization):
    """docs/members.md: the link asks that account to sign in, then joins it as itself."""
    token = invite(org_admin, organization)
    account = AccountFactory(email="joiner@x.example")
    response = client.get(f"/invitations/{token}/")
    assert response.status_code == 200
    assert "Sign in to accept" in response.content.decode()
    assert "/accounts/login/?next=" in response.content.decode()
    # A form post without signing in cannot take over the existing account.
    accept_form(client, token)
    account.refresh_from_db()
    assert not account.check_password(NEW_PASSWORD)
    assert not Membership.objects.filter(account=account, organization=organization).exists()
    client.force_login(account)
    assert client.post(f"/invitations/{token}/").status_code == 302
    assert Membership.objects.filter(account=account, organization=organization).exists()
    assert Invitation.objects.get().state == InvitationState.ACCEPTED


def test_accepting_when_meanwhile_user_elsewhere_is_refused(
    client, org_admin, organization, outsider
):
    """R5 holds at acceptance time too."""
    token = invite(org_admin, organization)
    account = AccountFactory(email="joiner@x.example")
    add_member(outsider.administered_organization, account)
    client.force_login(account)
    response = client.post(f"/invitations/{token}/")
    assert response.status_code == 409
    assert "another organization" in response.content.decode()
    assert Invitation.objects.get().state == InvitationState.PENDING


def test_adding_an_email_with_a_pending_invitation_that_now_has_an_account_joins_it(
    org_admin, organization
):
    invite(org_admin, organization)
    AccountFactory(email="joiner@x.example")
    result = services.member_add(
        actor=org_admin, organization=organization, email="joiner@x.example"
    )
    assert result.status == "member"
    assert Invitation.objects.get().state == InvitationState.CANCELLED


def test_invitation_of_one_org_does_not_join_another(client, org_admin, organization, outsider):
    token = invite(org_admin, organization)
    accept_form(client, token)
    account = Account.objects.get(email="joiner@x.example")
    assert list(
        Membership.objects.filter(account=account).values_list("organization", flat=True)
    ) == [organization.pk]
    assert outsider.administered_organization.pk != organization.pk


# --- The service enforces the same rules as the page ----------------------------------------


def test_service_refuses_expired_used_and_cancelled_links(org_admin, organization):
    token = invite(org_admin, organization)
    Invitation.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(services.InvitationUnusable) as exc:
        services.invitation_accept(token=token, name="X", password=NEW_PASSWORD)
    assert exc.value.reason == "expired"
    Invitation.objects.update(expires_at=timezone.now() + timedelta(days=1))
    services.invitation_accept(token=token, name="X", password=NEW_PASSWORD)
    with pytest.raises(services.InvitationUnusable) as exc:
        services.invitation_accept(token=token, name="Y", password=NEW_PASSWORD)
    assert exc.value.reason == "used"
    other = invite(org_admin, organization, email="second@x.example")
    services.invitation_cancel(
        actor=org_admin, invitation=Invitation.objects.get(email="second@x.example")
    )
    with pytest.raises(services.InvitationUnusable) as exc:
        services.invitation_accept(token=other, name="Z", password=NEW_PASSWORD)
    assert exc.value.reason == "cancelled"
    assert not Account.objects.filter(email="second@x.example").exists()


def test_service_refuses_another_signed_in_account(org_admin, organization):
    token = invite(org_admin, organization)
    other = AccountFactory(email="other@x.example")
    with pytest.raises(services.InvitationWrongAccount):
        services.invitation_accept(token=token, user=other)
    assert not Membership.objects.filter(account=other, organization=organization).exists()
    assert Invitation.objects.get().state == InvitationState.PENDING


def test_service_will_not_take_over_an_existing_account(org_admin, organization):
    token = invite(org_admin, organization)
    existing = AccountFactory(email="joiner@x.example")
    with pytest.raises(services.EmailTaken):
        services.invitation_accept(token=token, name="Mallory", password=NEW_PASSWORD)
    existing.refresh_from_db()
    assert not existing.check_password(NEW_PASSWORD) and existing.name != "Mallory"


def test_resend_and_cancel_only_pending_invitations(org_admin, organization):
    invite(org_admin, organization)
    invitation = Invitation.objects.get()
    services.invitation_cancel(actor=org_admin, invitation=invitation)
    with pytest.raises(errors.InvalidRequest):
        services.invitation_resend(actor=org_admin, invitation=invitation)
    with pytest.raises(errors.InvalidRequest):
        services.invitation_cancel(actor=org_admin, invitation=invitation)
    assert AuditEvent.objects.filter(action="invitation.cancelled").count() == 1
