"""Users of an organization: add (R5, R6), remove (R9), find (R10), pages and their access."""

import re
from datetime import timedelta
from decimal import Decimal
from html import unescape

import pytest
from django.core import mail
from django.utils import timezone

from console import selectors as console_selectors
from credits.models import AccessMode, CreditAccess
from licensing.models import License, Product
from organizations import services
from organizations.models import Invitation, InvitationState, Membership
from portal import errors
from portal.models import AuditEvent
from tests.factories import AccountFactory, add_member

pytestmark = pytest.mark.django_db

USERS = "/organization/users/"


def seat(organization, membership=None, *, code="paint", ends_at=None, cancelled=False):
    starts_at = timezone.now() - timedelta(days=60)
    product = Product.objects.filter(code=code).first() or Product.objects.create(
        code=code, name=code.capitalize() + " Studio"
    )
    return License.objects.create(
        product=product,
        organization=organization,
        assignee=membership,
        assigned_at=timezone.now() if membership else None,
        starts_at=starts_at,
        ends_at=ends_at,
        cancelled_at=timezone.now() if cancelled else None,
    )


# --- Adding (R5, R6) ------------------------------------------------------------------------


def test_existing_account_joins_at_once_with_disabled_access_and_an_email(org_admin, organization):
    """R6: an existing account joins at once and is emailed; R20: access starts disabled."""
    account = AccountFactory(email="ann@example.com")
    result = services.member_add(
        actor=org_admin, organization=organization, email="ANN@example.com"
    )
    assert result.status == "member"
    membership = Membership.objects.get(organization=organization, account=account)
    assert membership.role == "member"
    assert membership.credit_access.mode == AccessMode.DISABLED
    assert [m.to for m in mail.outbox] == [["ann@example.com"]]
    assert AuditEvent.objects.filter(action="member.added", target="ann@example.com").exists()


def test_unknown_email_gets_an_invitation_with_a_link(org_admin, organization):
    """R6: an unknown email is invited; only the token's hash is stored."""
    result = services.member_add(actor=org_admin, organization=organization, email="new@x.example")
    assert result.status == "invited"
    invitation = Invitation.objects.get(organization=organization, email="new@x.example")
    assert invitation.state == InvitationState.PENDING
    assert invitation.expires_at - invitation.created_at == timedelta(days=7)
    body = mail.outbox[0].body
    token = body.split("/invitations/")[1].split("/")[0]
    assert token not in invitation.token_hash
    assert services.invitation_token_hash(token) == invitation.token_hash
    assert not Membership.objects.filter(account__email="new@x.example").exists()
    assert AuditEvent.objects.filter(action="invitation.sent", target="new@x.example").exists()


@pytest.mark.parametrize("email", ["", "not-an-email", "a@", "@b.example", "a b@c.example"])
def test_invalid_email_is_refused_next_to_the_field(org_admin, organization, email):
    with pytest.raises(errors.InvalidRequest) as exc:
        services.member_add(actor=org_admin, organization=organization, email=email)
    assert exc.value.field == "email"
    assert not Invitation.objects.exists()


def test_already_member_is_refused(org_admin, organization, member):
    with pytest.raises(errors.AlreadyMember) as exc:
        services.member_add(actor=org_admin, organization=organization, email=member.email)
    assert exc.value.code == "already_member"


def test_administrators_own_email_is_refused(org_admin, organization):
    with pytest.raises(errors.AlreadyMember) as exc:
        services.member_add(actor=org_admin, organization=organization, email=org_admin.email)
    assert "your own email" in exc.value.message


def test_user_of_another_organization_cannot_be_added(org_admin, organization, outsider):
    """R5: a user in one organization cannot become a user in a second one."""
    elsewhere = add_member(outsider.administered_organization).account
    with pytest.raises(errors.MemberOfOtherOrganization) as exc:
        services.member_add(actor=org_admin, organization=organization, email=elsewhere.email)
    assert exc.value.code == "member_of_other_organization"
    assert not Membership.objects.filter(organization=organization, account=elsewhere).exists()


def test_administrator_of_another_organization_can_be_added_as_user(
    org_admin, organization, outsider
):
    """R5: a freelancer whose own account is an organization can still be a user here."""
    result = services.member_add(actor=org_admin, organization=organization, email=outsider.email)
    assert result.status == "member"
    assert Membership.objects.filter(organization=organization, account=outsider).exists()
    assert Membership.objects.get(account=outsider, role="admin").organization != organization


def test_already_invited_is_refused(org_admin, organization):
    services.member_add(actor=org_admin, organization=organization, email="twice@x.example")
    with pytest.raises(errors.AlreadyInvited) as exc:
        services.member_add(actor=org_admin, organization=organization, email="Twice@x.example")
    assert exc.value.code == "already_invited"
    assert Invitation.objects.count() == 1


def test_personal_holdings_stay_when_joining(org_admin, organization):
    """R8: personal licenses are untouched by joining."""
    account = AccountFactory()
    product = Product.objects.create(code="model", name="Model")
    License.objects.create(product=product, account=account, kind="trial")
    services.member_add(actor=org_admin, organization=organization, email=account.email)
    assert License.objects.filter(account=account, kind="trial").count() == 1


# --- Removing (R9) --------------------------------------------------------------------------


def test_remove_revokes_seats_and_credit_access_then_deletes_membership(org_admin, organization):
    membership = add_member(organization)
    granted = seat(organization, membership)
    CreditAccess.objects.filter(membership=membership).update(mode="unlimited")
    summary = services.member_remove(actor=org_admin, membership=membership)
    assert summary == {"seats": ["paint"], "credit_access": "disabled"}
    granted.refresh_from_db()
    assert granted.assignee is None and granted.organization == organization
    assert not Membership.objects.filter(pk=membership.pk).exists()
    assert AuditEvent.objects.filter(action="member.removed").exists()
    assert AuditEvent.objects.filter(action="seat.revoked").exists()
    assert AuditEvent.objects.filter(action="credit_access.changed").exists()
    assert mail.outbox[-1].to == [membership.account.email]


def test_remove_is_one_transaction(org_admin, organization, monkeypatch):
    """R9: if anything fails, the seats stay assigned and the member stays."""
    membership = add_member(organization)
    granted = seat(organization, membership)

    def boom(**kwargs):
        raise RuntimeError("credit service down")

    monkeypatch.setattr("credits.services.access.member_access_disable", boom)
    with pytest.raises(RuntimeError):
        services.member_remove(actor=org_admin, membership=membership)
    granted.refresh_from_db()
    assert granted.assignee_id == membership.pk
    assert Membership.objects.filter(pk=membership.pk).exists()


def test_administrator_cannot_remove_themself(org_admin, organization):
    admin_membership = Membership.objects.get(organization=organization, role="admin")
    with pytest.raises(errors.CannotRemoveAdmin) as exc:
        services.member_remove(actor=org_admin, membership=admin_membership)
    assert exc.value.code == "cannot_remove_admin"
    assert Membership.objects.filter(pk=admin_membership.pk).exists()


def test_bulk_remove_with_admin_selected_changes_nothing(org_admin, organization):
    admin_membership = Membership.objects.get(organization=organization, role="admin")
    other = add_member(organization)
    with pytest.raises(errors.CannotRemoveAdmin):
        services.members_remove(
            actor=org_admin, organization=organization, memberships=[other, admin_membership]
        )
    assert Membership.objects.filter(pk=other.pk).exists()


def test_removed_user_can_join_another_organization(org_admin, organization, outsider):
    """R5 after R9: leaving frees the one user place."""
    membership = add_member(organization)
    services.member_remove(actor=org_admin, membership=membership)
    result = services.member_add(
        actor=outsider,
        organization=outsider.administered_organization,
        email=membership.account.email,
    )
    assert result.status == "member"


# --- Finding (R10) --------------------------------------------------------------------------


def _emails(organization, **kwargs):
    rows = console_selectors.member_rows_for_org(organization=organization, **kwargs)
    return [r["row_email"] for r in rows]


def test_list_is_one_sorted_queryset_of_members_and_invitations(org_admin, organization):
    add_member(organization, email="bea@x.example", name="Zed")
    add_member(organization, email="cal@x.example", name="Amy")
    services.member_add(actor=org_admin, organization=organization, email="dan@x.example")
    by_email = _emails(organization, sort="email")
    assert by_email == sorted(by_email) and "dan@x.example" in by_email
    by_name = _emails(organization, sort="name")
    assert by_name.index("cal@x.example") < by_name.index("dan@x.example")
    assert by_name.index("dan@x.example") < by_name.index("bea@x.example")
    assert _emails(organization, sort="email", desc=True) == list(reversed(by_email))
    status = console_selectors.member_rows_for_org(organization=organization, sort="status")
    assert [r["row_kind"] for r in status][0] == "invited"


def test_search_by_email_name_and_product(org_admin, organization):
    painter = add_member(organization, email="pat@x.example", name="Pat Painter")
    add_member(organization, email="sam@x.example", name="Sam Sculptor")
    seat(organization, painter, code="paint")
    services.member_add(actor=org_admin, organization=organization, email="painter.paula@x.example")
    assert _emails(organization, query="sculptor") == ["sam@x.example"]
    assert _emails(organization, query="sam@") == ["sam@x.example"]
    assert _emails(organization, query="Paint Studio") == ["pat@x.example"]
    assert _emails(organization, query="paint", sort="email") == [
        "painter.paula@x.example",
        "pat@x.example",
    ]


def test_search_ignores_seats_that_are_no_longer_active(organization):
    member = add_member(organization, email="old@x.example")
    seat(organization, member, code="legacy", ends_at=timezone.now() - timedelta(days=1))
    seat(organization, None, code="gone", cancelled=True)
    License.objects.filter(product__code="gone").update(assignee=member)
    assert _emails(organization, query="legacy") == []
    assert _emails(organization, query="gone") == []


def test_list_never_shows_other_organizations(organization, outsider):
    other = outsider.administered_organization
    add_member(other, email="theirs@x.example")
    Invitation.objects.create(
        organization=other,
        email="theirinvite@x.example",
        token_hash="x" * 64,
        expires_at=timezone.now() + timedelta(days=1),
    )
    emails = _emails(organization)
    assert "theirs@x.example" not in emails and "theirinvite@x.example" not in emails
    assert outsider.email not in emails


def test_usage_shown_is_current_month_for_monthly_quota(organization):
    member = add_member(organization)
    access = member.credit_access
    access.mode, access.limit, access.period = "quota", Decimal("50"), "monthly"
    access.used, access.period_start = Decimal("12.50"), console_selectors.month_start()
    access.save()
    assert console_selectors.credit_usage_for([member])[member.pk] == Decimal("12.50")
    access.period_start = console_selectors.month_start() - timedelta(days=40)
    access.save()
    member.refresh_from_db()
    assert console_selectors.credit_usage_for([member])[member.pk] == Decimal("0")


# --- Pages ----------------------------------------------------------------------------------


def _crowd(organization, n):
    for i in range(n):
        membership = add_member(organization, email=f"crowd{i:03}@x.example")
        if i % 2:
            seat(organization, membership, code=f"p{i % 5}")
    for i in range(n // 3):
        Invitation.objects.create(
            organization=organization,
            email=f"inv{i:03}@x.example",
            token_hash=f"{i:064}",
            expires_at=timezone.now() + timedelta(days=3),
        )


def test_users_page_lists_members_invitations_products_and_access(admin_client, organization):
    member = add_member(organization, email="lee@x.example", name="Lee")
    seat(organization, member, code="paint")
    Invitation.objects.create(
        organization=organization,
        email="inv@x.example",
        token_hash="a" * 64,
        expires_at=timezone.now() + timedelta(days=3),
    )
    response = admin_client.get(USERS)
    html = response.content.decode()
    assert response.status_code == 200
    assert "lee@x.example" in html and "inv@x.example" in html and "Invited" in html
    assert "just now" in html
    assert ">Paint Studio<" in html and "Disabled" in html
    assert 'name="q"' in html and 'name="per_page"' in html


def test_users_page_query_count_is_bounded(
    admin_client, organization, django_assert_max_num_queries
):
    """R10, rules.md "Performance": the same bound for 10 rows and for 100."""
    _crowd(organization, 120)
    with django_assert_max_num_queries(11):
        response = admin_client.get(USERS + "?per_page=10")
    assert response.status_code == 200
    with django_assert_max_num_queries(11):
        response = admin_client.get(USERS + "?per_page=100&sort=status&dir=desc")
    assert response.content.decode().count("<tr") == 101
    with django_assert_max_num_queries(11):
        response = admin_client.get(
            USERS + "?per_page=100&q=crowd", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="member-table"
        )
    assert response.content.decode().count("<tr") == 101


def test_htmx_request_gets_only_the_table(admin_client, organization):
    add_member(organization, email="frag@x.example")
    response = admin_client.get(
        USERS + "?q=frag", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="member-table"
    )
    html = response.content.decode()
    assert "<html" not in html and 'id="member-table"' in html and "frag@x.example" in html


def test_pagination_and_page_size(admin_client, organization):
    _crowd(organization, 30)
    whole = _emails(organization, sort="email")
    html = admin_client.get(USERS + "?per_page=10&sort=email").content.decode()
    assert f"1–10 of {len(whole)} rows" in html
    next_url = re.search(r'href="([^"]*after=[^"]*)" [^>]*rel="next"', html).group(1)
    html = admin_client.get(unescape(next_url)).content.decode()
    assert all(email in html for email in whole[10:20])
    assert not any(email in html for email in whole[:10] + whole[20:])
    assert "per_page=10" in html and "« First" in html
    # An unknown page size falls back to the default rather than erroring.
    assert admin_client.get(USERS + "?per_page=5000").status_code == 200


def test_add_form_shows_field_errors(admin_client, organization, member):
    response = admin_client.post(USERS + "add/", {"email": member.email})
    assert response.status_code == 422
    html = response.content.decode()
    assert "already a member" in html and "field--error" in html
    response = admin_client.post(USERS + "add/", {"email": "nope"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 422
    assert "valid email" in response.content.decode()
    assert "<html" not in response.content.decode()


def test_add_form_success_redirects_and_htmx_triggers_reload(admin_client, organization):
    response = admin_client.post(USERS + "add/", {"email": "fresh@x.example"})
    assert response.status_code == 302
    response = admin_client.post(
        USERS + "add/", {"email": "fresh2@x.example"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    assert "membersChanged" in response["HX-Trigger"]
    assert Invitation.objects.filter(email__startswith="fresh").count() == 2


def test_member_detail_shows_seats_access_and_activity(
    admin_client, org_admin, organization, django_assert_max_num_queries
):
    account = AccountFactory(email="det@x.example")
    services.member_add(actor=org_admin, organization=organization, email=account.email)
    membership = Membership.objects.get(account=account, organization=organization)
    seat(organization, membership, code="paint")
    with django_assert_max_num_queries(10):
        response = admin_client.get(f"{USERS}{membership.pk}/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "Paint Studio" in html and "Disabled" in html
    assert "(det@x.example) as a user." in html and "member.added" not in html


def test_single_remove_confirms_what_is_revoked_then_removes(admin_client, organization):
    membership = add_member(organization, email="bye@x.example")
    seat(organization, membership, code="paint")
    CreditAccess.objects.filter(membership=membership).update(mode="unlimited")
    confirm = admin_client.get(f"{USERS}{membership.pk}/remove/")
    html = confirm.content.decode()
    assert "Paint Studio" in html and "Unlimited" in html and "disabled" in html
    response = admin_client.post(f"{USERS}{membership.pk}/remove/")
    assert response.status_code == 302
    assert not Membership.objects.filter(pk=membership.pk).exists()


def test_bulk_remove_confirms_then_removes_selected(admin_client, organization):
    one = add_member(organization)
    two = add_member(organization)
    keep = add_member(organization)
    data = {"selected": [one.pk, two.pk]}
    confirm = admin_client.post(USERS + "remove/", data)
    assert confirm.status_code == 200
    assert one.account.email in confirm.content.decode()
    assert Membership.objects.filter(pk=one.pk).exists()
    response = admin_client.post(USERS + "remove/", {**data, "confirm": "yes"})
    assert response.status_code == 302
    assert set(
        Membership.objects.filter(organization=organization).values_list("pk", flat=True)
    ) == {
        keep.pk,
        Membership.objects.get(organization=organization, role="admin").pk,
    }


def test_bulk_remove_refuses_the_administrator(admin_client, organization):
    admin_membership = Membership.objects.get(organization=organization, role="admin")
    other = add_member(organization)
    data = {"selected": [admin_membership.pk, other.pk], "confirm": "yes"}
    response = admin_client.post(USERS + "remove/", data, follow=True)
    assert "cannot be removed" in response.content.decode()
    assert Membership.objects.filter(pk=other.pk).exists()


def test_bulk_remove_ignores_other_organizations_members(admin_client, outsider):
    theirs = add_member(outsider.administered_organization)
    admin_client.post(USERS + "remove/", {"selected": [theirs.pk], "confirm": "yes"})
    assert Membership.objects.filter(pk=theirs.pk).exists()


def test_invitation_resend_and_cancel_from_the_list(admin_client, org_admin, organization):
    services.member_add(actor=org_admin, organization=organization, email="inv@x.example")
    invitation = Invitation.objects.get()
    old_hash = invitation.token_hash
    response = admin_client.post(
        f"{USERS}invitations/{invitation.pk}/resend/?q=inv",
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="member-table",
    )
    assert response.status_code == 200 and 'id="member-table"' in response.content.decode()
    invitation.refresh_from_db()
    assert invitation.token_hash != old_hash and len(mail.outbox) == 2
    response = admin_client.post(f"{USERS}invitations/{invitation.pk}/cancel/")
    assert response.status_code == 302
    invitation.refresh_from_db()
    assert invitation.state == InvitationState.CANCELLED


def test_ticked_invitations_are_resent_or_cancelled_together(
    admin_client, org_admin, organization, outsider
):
    for email in ("a@x.example", "b@x.example", "c@x.example"):
        services.member_add(actor=org_admin, organization=organization, email=email)
    services.member_add(
        actor=outsider, organization=outsider.administered_organization, email="z@x.example"
    )
    mine = list(Invitation.objects.filter(organization=organization).order_by("email"))
    theirs = Invitation.objects.get(email="z@x.example")
    before = {i.pk: i.token_hash for i in mine}
    response = admin_client.post(
        f"{USERS}invitations/bulk/",
        {"action": "resend", "invitations": [mine[0].pk, mine[1].pk, theirs.pk]},
        follow=True,
    )
    assert "2 invitations sent again." in response.content.decode()
    after = {i.pk: i.token_hash for i in Invitation.objects.filter(organization=organization)}
    assert [before[i.pk] != after[i.pk] for i in mine] == [True, True, False]
    admin_client.post(
        f"{USERS}invitations/bulk/", {"action": "cancel", "invitations": [mine[2].pk, theirs.pk]}
    )
    assert Invitation.objects.get(pk=mine[2].pk).state == InvitationState.CANCELLED
    assert Invitation.objects.get(pk=theirs.pk).state == InvitationState.PENDING


def test_the_list_shows_everyone_members_or_invitations(org_admin, organization):
    add_member(organization, email="member@x.example")
    services.member_add(actor=org_admin, organization=organization, email="invited@x.example")
    assert "invited@x.example" in _emails(organization)
    assert "member@x.example" in _emails(organization)
    assert "invited@x.example" not in _emails(organization, show="members")
    assert _emails(organization, show="invited") == ["invited@x.example"]
    rows = console_selectors.member_rows_for_org(organization=organization, show="invited")
    assert rows.count() == 1


# --- Access: every members URL answers 404 to anyone but the administrator -----------------


def _member_urls(organization, org_admin):
    membership = add_member(organization)
    invitation = services.member_add(
        actor=org_admin, organization=organization, email="iso@x.example"
    ).invitation
    report = services.member_import(
        actor=org_admin, organization=organization, emails=["row@x.example"]
    )
    return [
        ("get", USERS),
        ("get", USERS + "?q=x"),
        ("get", USERS + "add/"),
        ("post", USERS + "add/"),
        ("get", f"{USERS}{membership.pk}/"),
        ("get", f"{USERS}{membership.pk}/remove/"),
        ("post", f"{USERS}{membership.pk}/remove/"),
        ("post", USERS + "remove/"),
        ("post", f"{USERS}invitations/{invitation.pk}/resend/"),
        ("post", f"{USERS}invitations/{invitation.pk}/cancel/"),
        ("post", USERS + "invitations/bulk/"),
        ("get", USERS + "import/"),
        ("post", USERS + "import/"),
        ("get", USERS + "import/template.csv"),
        ("get", f"{USERS}import/{report.pk}/"),
    ]


@pytest.mark.parametrize("who", ["outsider", "member"])
def test_members_urls_answer_404_to_everyone_but_the_administrator(
    client, org_admin, organization, outsider, member, who
):
    urls = _member_urls(organization, org_admin)
    if who == "outsider":
        # Their own Users pages are theirs; this organization's rows must stay out of reach.
        urls = [(method, url) for method, url in urls if any(c.isdigit() for c in url)]
    client.force_login({"outsider": outsider, "member": member}[who])
    for method, url in urls:
        response = getattr(client, method)(url, {"email": "x@y.example", "selected": ["1"]})
        assert response.status_code == 404, (method, url)
    assert Membership.objects.filter(organization=organization).count() == 3
    assert Invitation.objects.get(email="iso@x.example").state == InvitationState.PENDING


def test_members_urls_send_anonymous_visitors_to_sign_in(client, org_admin, organization):
    for method, url in _member_urls(organization, org_admin):
        response = getattr(client, method)(url)
        assert response.status_code == 302, (method, url)
        assert response["Location"].startswith("/accounts/login/")


def test_outsider_admin_cannot_reach_this_organizations_rows_through_their_own_urls(
    client, org_admin, organization, outsider
):
    """Ids of another organization's member, invitation or import answer 404."""
    membership = add_member(organization)
    invitation = services.member_add(
        actor=org_admin, organization=organization, email="mine@x.example"
    ).invitation
    report = services.member_import(
        actor=org_admin, organization=organization, emails=["a@x.example"]
    )
    client.force_login(outsider)
    assert client.get(f"{USERS}{membership.pk}/").status_code == 404
    assert client.post(f"{USERS}{membership.pk}/remove/").status_code == 404
    assert client.post(f"{USERS}invitations/{invitation.pk}/cancel/").status_code == 404
    assert client.get(f"{USERS}import/{report.pk}/").status_code == 404
    assert Membership.objects.filter(pk=membership.pk).exists()


def test_odd_list_parameters_fall_back_instead_of_failing(admin_client, organization):
    for query in ["?page=abc", "?page=99999", "?sort=drop&dir=sideways", "?per_page=-3"]:
        assert admin_client.get(USERS + query).status_code == 200, query
    # A NUL byte is never typed by a person: the portal's "could not be understood" page.
    assert admin_client.get(USERS + "?q=%00x").status_code == 400


def test_invitation_age_and_expiry_are_shown(admin_client, organization):
    now = timezone.now()
    Invitation.objects.create(
        organization=organization,
        email="older@x.example",
        token_hash="b" * 64,
        sent_at=now - timedelta(days=3),
        expires_at=now + timedelta(days=4),
    )
    Invitation.objects.create(
        organization=organization,
        email="stale@x.example",
        token_hash="c" * 64,
        sent_at=now - timedelta(days=8),
        expires_at=now - timedelta(days=1),
    )
    html = admin_client.get(USERS).content.decode()
    assert "3\xa0days ago" in html
    assert "Invitation expired" in html and "sent 1\xa0week" in html


def test_member_activity_shows_only_this_organizations_events(admin_client, organization, outsider):
    membership = add_member(organization, email="both@x.example")
    AuditEvent.objects.create(
        organization=outsider.administered_organization,
        action="invitation.cancelled",
        target="both@x.example",
    )
    AuditEvent.objects.create(
        organization=organization, action="invitation.resent", target="both@x.example"
    )
    html = admin_client.get(f"{USERS}{membership.pk}/").content.decode()
    assert "sent the invitation to both@x.example again" in html
    assert "cancelled the invitation" not in html


# --- Stored sort keys (rules.md "Performance") -----------------------------------------------


def _keys(membership):
    membership.refresh_from_db()
    return membership.sort_name, membership.credit_mode


def test_sort_keys_follow_the_account_and_the_access_whoever_writes_them(organization, org_admin):
    """The triggers keep `sort_name` and `credit_mode`: through the services, a model's
    save and a bare queryset update alike."""
    from credits import services as credit_services

    named = add_member(organization, email="zoe@x.example", name="Zoe Zimmer")
    nameless = add_member(organization, email="Bob@X.example", name="")
    assert _keys(named) == ("zoe zimmer", "disabled")
    assert _keys(nameless) == ("bob@x.example", "disabled")

    account = named.account
    account.name = "Yann"
    account.save()
    assert _keys(named)[0] == "yann"
    type(account).objects.filter(pk=nameless.account_id).update(name="Abel")
    assert _keys(nameless)[0] == "abel"
    type(account).objects.filter(pk=named.account_id).update(name="", email="new@x.example")
    assert _keys(named)[0] == "new@x.example"

    access = CreditAccess.objects.get(membership=named)
    credit_services.access_set(actor=org_admin, access=access, mode="unlimited")
    assert _keys(named)[1] == "unlimited"
    CreditAccess.objects.filter(membership=nameless).update(mode="quota", limit=Decimal("5"))
    assert _keys(nameless)[1] == "quota"


def test_sort_names_are_lower_cased_beyond_ascii(organization):
    assert _keys(add_member(organization, name="Ähnlich Zoe"))[0] == "ähnlich zoe"


def test_sorting_by_credit_access_orders_by_mode_then_name(organization, org_admin):
    from credits import services as credit_services

    for email, name, mode in [
        ("a@x.example", "Carla", "unlimited"),
        ("b@x.example", "Anna", "unlimited"),
        ("c@x.example", "Bert", "disabled"),
    ]:
        membership = add_member(organization, email=email, name=name)
        access = CreditAccess.objects.get(membership=membership)
        credit_services.access_set(actor=org_admin, access=access, mode=mode)
    rows = _emails(organization, sort="credit", desc=True)
    assert rows[:2] == ["a@x.example", "b@x.example"]  # unlimited, names descending
    assert _emails(organization, sort="credit")[-2:] == ["b@x.example", "a@x.example"]


@pytest.mark.parametrize("sort", sorted(console_selectors.MEMBER_SORTS))
@pytest.mark.parametrize("desc", [False, True])
def test_pages_of_the_list_are_slices_of_the_whole_order(org_admin, organization, sort, desc):
    """Each page is cut from the first rows of each side (on PostgreSQL); the pages must
    still add up to the whole list, in order, with nothing twice."""
    for i in range(23):
        add_member(organization, email=f"m{i:02}@x.example", name=f"Name {i % 7}")
    for i in range(9):
        services.member_add(actor=org_admin, organization=organization, email=f"i{i}@x.example")
    rows = console_selectors.member_rows_for_org(organization=organization, sort=sort, desc=desc)
    whole = [(r["row_kind"], r["row_id"]) for r in rows]
    paged = [
        (r["row_kind"], r["row_id"]) for start in range(0, 40, 10) for r in rows[start : start + 10]
    ]
    assert len(whole) == rows.count() == 33
    assert paged == whole


def test_the_phone_sort_list_orders_the_list_and_follows_every_swap(admin_client, organization):
    add_member(organization, email="aaa@x.example", name="Aaron")
    add_member(organization, email="zzz@x.example", name="Zoe")
    html = admin_client.get(USERS, {"order": "-name"}, HTTP_HX_REQUEST="true").content.decode()
    assert html.index("zzz@x.example") < html.index("aaa@x.example")
    assert '<option value="-name" selected>' in html
    assert 'data-select-all="selected invitations"' in html
    # Unknown orders fall back to the list's default.
    assert admin_client.get(USERS, {"order": "-password"}).status_code == 200


def test_every_order_of_the_list_has_its_phone_label():
    """The phone's list must name the current order, or the next search would reset it."""
    from console.views.members import ORDERS

    values = {value for value, _label in ORDERS}
    for sort in console_selectors.MEMBER_SORTS:
        assert {sort, f"-{sort}"} <= values
