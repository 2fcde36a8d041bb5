"""CSRF on every state-changing request; HTML and script in people's input shown as text
(rules.md "Security").

The POST endpoints come from the access matrix, so a new action is covered as soon as it has
an entry there.
"""

import re
from decimal import Decimal

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from credits import services as credit_services
from organizations import services as org_services
from organizations.models import Account
from tests.factories import AnnouncementFactory, add_member
from tests.security.test_access_matrix import MATRIX, ORG_ADMIN, PUBLIC, organization_state

# Views and headers, the same on every PostgreSQL version: once per CI run (`slow`).
pytestmark = [pytest.mark.django_db, pytest.mark.slow]

# The API and SCIM take bearer tokens, never cookies: nothing for a forged form to ride on.
POSTS = sorted(
    name
    for name, rule in MATRIX.items()
    if rule.post is not None and not name.startswith("api:") and name != "scim"
)


def poster(rule, name):
    """Who can reach the action at all: the CSRF check must be what stops them."""
    if rule.access == ORG_ADMIN:
        return "admin"
    if name == "organizations:invitation_accept" or rule.access == PUBLIC:
        return "anonymous"
    return "member"


@pytest.mark.parametrize("htmx", [False, True], ids=["form", "htmx"])
@pytest.mark.parametrize("name", POSTS)
def test_a_post_without_the_csrf_token_is_refused(world, name, htmx):
    rule = MATRIX[name]
    url = reverse(name, kwargs=rule.kwargs(world) if rule.kwargs else None)
    client = Client(enforce_csrf_checks=True)
    role = poster(rule, name)
    if role != "anonymous":
        client.force_login(world.account(role))
    client.get("/accounts/login/")  # the CSRF cookie is set; only the token is missing
    data = rule.data(world) if rule.data else {}
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    before = organization_state(world)
    mail.outbox.clear()

    refused = client.post(url, data, **headers)

    assert refused.status_code == 403, refused.status_code
    assert organization_state(world) == before
    assert mail.outbox == []
    # The same request with the token gets past the check: the token was the only thing missing.
    token = client.cookies["csrftoken"].value
    accepted = client.post(url, data, HTTP_X_CSRFTOKEN=token, **headers)
    assert accepted.status_code != 403


def test_the_csrf_token_reaches_htmx_requests_and_forms(client, world):
    """htmx sends the token from <body hx-headers>; every POST form carries the field."""
    client.force_login(world.admin)
    body = client.get("/organization/users/").content.decode()
    assert re.search(r'<body hx-headers=\'\{"X-CSRFToken": "[^"]{20,}"\}\'>', body)
    forms = re.findall(r"<form[^>]*method=\"post\"[^>]*>(.*?)</form>", body, re.S | re.I)
    assert forms
    assert all("csrfmiddlewaretoken" in form for form in forms)


# --- XSS ---------------------------------------------------------------------------------------

PAYLOAD = '<script>alert("x")</script><img src=x onerror=alert(1)>'
# A quoted local part makes a valid email address that still carries markup.
EMAIL_PAYLOAD = '"<script>alert(1)</script>"@right.example'
RAW_MARKERS = ("<script>alert", "<img src=x onerror")


@pytest.fixture
def hostile(world):
    """Every text a person controls carries the payload."""
    world.organization.name = f"Studio {PAYLOAD}"
    world.organization.save(update_fields=["name"])
    Account.objects.filter(pk=world.member.pk).update(name=f"Worker {PAYLOAD}")
    Account.objects.filter(pk=world.admin.pk).update(name=f"Boss {PAYLOAD}")
    add_member(world.organization, email="odd@right.example", name=PAYLOAD)
    AnnouncementFactory(title=f"Title {PAYLOAD}", text=f"Text {PAYLOAD}")
    report = org_services.member_import(
        actor=world.admin,
        organization=world.organization,
        emails=["fine@right.example", EMAIL_PAYLOAD],
    )
    world.hostile_report = report
    # Another member: one open request per member, and world.member has one.
    asker = add_member(world.organization, email="asker@right.example").account
    credit_services.credit_request_create(
        account=asker, amount=Decimal("5.00"), message=f"Please {PAYLOAD}"
    )
    return world


def assert_escaped(html: str, where: str):
    for marker in RAW_MARKERS:
        assert marker not in html, f"{where}: {marker!r} unescaped"


def test_people_names_organization_names_and_announcements_render_escaped(client, hostile):
    w = hostile
    client.force_login(w.admin)
    pages = [
        name
        for name, rule in MATRIX.items()
        if rule.get is not None and rule.access == ORG_ADMIN and not name.startswith("api:")
    ]
    seen_escaped = 0
    for name in pages:
        rule = MATRIX[name]
        url = reverse(name, kwargs=rule.kwargs(w) if rule.kwargs else None)
        for headers in ({}, {"HTTP_HX_REQUEST": "true"}):
            response = client.get(url, **headers)
            if not response["Content-Type"].startswith("text/html"):
                continue  # the CSV exports: text, defused for spreadsheets instead
            html = response.content.decode()
            assert_escaped(html, url)
            seen_escaped += "&lt;script&gt;" in html
    for url in ("/account/", "/licenses/", "/credits/"):
        html = client.get(url).content.decode()
        assert_escaped(html, url)
        seen_escaped += "&lt;script&gt;" in html
    client.force_login(w.member)
    for url in ("/account/", "/licenses/", "/credits/"):
        assert_escaped(client.get(url).content.decode(), url)
    assert seen_escaped > 10  # the payload is there, as text


def test_the_csv_report_shows_hostile_lines_as_text(client, hostile):
    client.force_login(hostile.admin)
    url = reverse("organizations:member_import_report", kwargs={"pk": hostile.hostile_report.pk})
    html = client.get(url).content.decode()
    assert_escaped(html, url)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_a_hostile_csv_upload_is_answered_as_text(client, world):
    client.force_login(world.admin)
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("x.csv", f"email\n{PAYLOAD}\n".encode(), "text/csv")
    response = client.post(reverse("organizations:member_import"), {"file": upload})
    html = response.content.decode()
    assert_escaped(html, "upload")


def test_a_hostile_setup_request_is_shown_as_text_to_the_requester_and_staff(client, world):
    trial = Account.objects.create_user(email="trial@x.example", password="pw-123456789")
    client.force_login(trial)
    response = client.post(
        reverse("organizations:setup"),
        {
            "organization_name": PAYLOAD,
            "admin_email": world.admin.email,
            "admin_customer_number": world.admin.customer_number,
        },
        follow=True,
    )
    assert_escaped(response.content.decode(), "setup")
    client.force_login(world.staff)
    html = client.get("/admin/organizations/setuprequest/").content.decode()
    assert_escaped(html, "admin list")


def test_hostile_text_in_messages_is_escaped(client, world):
    """A refused email echoed back in a message or next to the field stays text."""
    client.force_login(world.admin)
    response = client.post(
        reverse("organizations:member_add"), {"email": PAYLOAD}, HTTP_HX_REQUEST="true"
    )
    assert_escaped(response.content.decode(), "member add")


def test_an_announcement_link_cannot_be_a_script():
    from django.core.exceptions import ValidationError

    announcement = AnnouncementFactory.build(link="javascript:alert(1)")
    with pytest.raises(ValidationError):
        announcement.full_clean()
