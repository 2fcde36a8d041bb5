"""Bad input everywhere gets a clear answer and changes nothing (rules.md "Bad input").

API: 400 `invalid_request` with `fields` naming what is wrong. Pages: the message next to the
field (422 for htmx and full forms alike). Never a 500. The limits are in docs/limits.md.
"""

import json

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile

from credits.models import CreditAccess, LedgerEntry
from organizations.models import Account, Invitation, Membership
from portal.models import ApiToken
from portal.services import api_token_create
from tests.credits.factories import fund_pool, set_access
from tests.factories import add_member

pytestmark = pytest.mark.django_db

# Emails and names that look almost right.
ODD_EMAILS = [
    "",
    " ",
    "plain",
    "a@b",
    "nul\x00@x.example",
    "zero\u200bwidth@x.example",
    "rtl\u202e@x.example",
    "emoji😀@x.example",
    "a" * 300 + "@x.example",
    "two@x.example,three@x.example",
    "<b>@x.example",
    "line\nbreak@x.example",
]
ODD_NAMES = ["\x00", "a\x00b", "x" * 10_000, "\u200b", "\u202e\u200f", "\u200b \ufeff"]
ODD_AMOUNTS = ["", "1e3", "-1", "+1", " 1", "1.234", "0", "0.00", "١٢", "1,5", "NaN", "9" * 13]


@pytest.fixture
def org(organization, org_admin):
    """The organization with a member drawing from a funded pool, and both kinds of tokens."""
    member = add_member(organization, email="worker@x.example").account
    fund_pool(organization, "100.00")
    set_access(member, organization, "unlimited")
    org_secret = api_token_create(
        actor=org_admin, name="org", scopes=["org:admin"], organization=organization
    )[1]
    service_secret = api_token_create(
        actor=None, name="farm", scopes=["entitlements:read", "credits:read", "credits:consume"]
    )[1]
    organization.member = member
    organization.org_auth = {"HTTP_AUTHORIZATION": f"Bearer {org_secret}"}
    organization.service_auth = {"HTTP_AUTHORIZATION": f"Bearer {service_secret}"}
    return organization


def state():
    return (
        Account.objects.count(),
        Membership.objects.count(),
        Invitation.objects.count(),
        LedgerEntry.objects.count(),
        sorted(CreditAccess.objects.values_list("pk", "mode", "limit", "period")),
        ApiToken.objects.count(),
        len(mail.outbox),
    )


def assert_400(response, field=None):
    assert response.status_code == 400, (response.status_code, response.content[:300])
    assert response["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert error["message"]
    assert isinstance(error["fields"], dict) and error["fields"]
    if field:
        assert field in error["fields"], error["fields"]
    return error


def send(client, method, path, body, auth, content_type="application/json"):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return client.generic(method, path, data=data, content_type=content_type, **auth)


# --- API ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("email", ODD_EMAILS)
def test_api_member_add_refuses_odd_emails(client, org, email):
    before = state()
    response = send(client, "POST", "/api/v1/org/members", {"email": email}, org.org_auth)
    assert_400(response, "email")
    assert state() == before


@pytest.mark.parametrize("amount", ODD_AMOUNTS + [12.5, 1, None, True, ["1"], {"a": 1}])
def test_api_consumption_refuses_odd_amounts(client, org, amount):
    before = state()
    body = {"account": "worker@x.example", "amount": amount, "reference": "job-1"}
    response = send(client, "POST", "/api/v1/credits/consumptions", body, org.service_auth)
    assert_400(response, "amount")
    assert state() == before


@pytest.mark.parametrize(
    "reference", ["", "x" * 201, "job 1", "job/1", "job\x00", "jöb", "job😀", "\u200b"]
)
def test_api_consumption_refuses_odd_references(client, org, reference):
    before = state()
    body = {"account": "worker@x.example", "amount": "1.00", "reference": reference}
    response = send(client, "POST", "/api/v1/credits/consumptions", body, org.service_auth)
    assert_400(response, "reference")
    assert state() == before


@pytest.mark.parametrize(
    "body",
    [
        {"mode": "maybe"},
        {"mode": "quota"},
        {"mode": "quota", "limit": "10", "period": "weekly"},
        {"mode": "unlimited", "limit": "10"},
        {"mode": "quota", "limit": "-5"},
        {"mode": None},
        {},
    ],
)
def test_api_credit_access_refuses_unknown_and_inconsistent_values(client, org, body):
    before = state()
    path = "/api/v1/org/members/worker@x.example/credit-access"
    response = send(client, "PUT", path, body, org.org_auth)
    assert_400(response)
    assert state() == before


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("{not json", "application/json"),
        ('{"email": "a@x.example"', "application/json"),
        ("email=a@x.example", "application/x-www-form-urlencoded"),
        ('{"email": "a@x.example"}', "text/plain"),
        (b"\xff\xfe\x00\x00", "application/json"),
        ("[]", "application/json"),
        ('"a@x.example"', "application/json"),
        ("null", "application/json"),
        ("", "application/json"),
    ],
)
def test_api_refuses_malformed_bodies_and_wrong_content_types(client, org, body, content_type):
    before = state()
    response = send(client, "POST", "/api/v1/org/members", body, org.org_auth, content_type)
    assert_400(response)
    assert state() == before


def test_api_refuses_an_oversized_body_in_the_error_format(client, org):
    before = state()
    big = json.dumps({"email": "a@x.example", "pad": "x" * (3 * 1024 * 1024)})
    response = send(client, "POST", "/api/v1/org/members", big, org.org_auth)
    assert response.status_code in (400, 413)
    assert response.json()["error"]["code"] == "invalid_request"
    assert state() == before


@pytest.mark.parametrize(
    "query", ["page=0", "page=-1", "page=abc", "page=99999999999", "q=" + "x" * 101]
)
def test_api_member_list_refuses_odd_query_parameters(client, org, query):
    response = client.get(f"/api/v1/org/members?{query}", **org.org_auth)
    assert_400(response)


@pytest.mark.parametrize("query", ["q=%00", "q=%E2%80%AE", "q=%F0%9F%98%80", "q=%27%22%3B--"])
def test_api_member_search_takes_any_unicode_without_failing(client, org, query):
    response = client.get(f"/api/v1/org/members?{query}", **org.org_auth)
    assert response.status_code in (200, 400)


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/accounts/nul%00@x.example/credits",
        "/api/v1/accounts/%E2%80%AE@x.example/entitlements",
        "/api/v1/accounts/" + "a" * 5000 + "@x.example/credits",
        "/api/v1/credits/consumptions/%00/refund",
        "/api/v1/credits/consumptions/" + "x" * 5000 + "/refund",
    ],
)
def test_api_odd_path_values_are_answered_never_with_a_500(client, org, path):
    before = state()
    method = "POST" if path.endswith("/refund") else "GET"
    response = send(client, method, path, {}, org.service_auth)
    assert response.status_code in (400, 404), (response.status_code, response.content[:200])
    assert response.json()["error"]["code"] in ("invalid_request", "not_found")
    assert state() == before


@pytest.mark.parametrize("license_id", ["abc", "-1", "0", "99999999999999999999", "1.5"])
def test_api_odd_license_ids_are_400_or_404(client, org, license_id):
    body = {"email": "worker@x.example"}
    response = send(
        client, "PUT", f"/api/v1/org/licenses/{license_id}/assignee", body, org.org_auth
    )
    assert response.status_code in (400, 404)
    assert response.json()["error"]["code"] in ("invalid_request", "not_found")


# --- Pages --------------------------------------------------------------------------------------


@pytest.mark.parametrize("email", ODD_EMAILS)
@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_add_user_page_refuses_odd_emails_next_to_the_field(admin_client, org, email, htmx):
    before = state()
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    response = admin_client.post("/organization/users/add/", {"email": email}, **headers)
    assert response.status_code == 422
    assert 'aria-invalid="true"' in response.content.decode()
    assert state() == before


@pytest.mark.parametrize("name", ODD_NAMES)
def test_profile_refuses_odd_names_next_to_the_field(member_client, member, name):
    """The name is optional (empty is fine); an invisible or broken one is not."""
    response = member_client.post("/account/", {"name": name})
    member.refresh_from_db()
    assert member.name != name
    assert 'aria-invalid="true"' in response.content.decode()


@pytest.mark.parametrize("name", [*ODD_NAMES, " \t "])
def test_organization_name_refuses_odd_values(admin_client, organization, name):
    original = organization.name
    response = admin_client.post("/organization/settings/", {"name": name})
    organization.refresh_from_db()
    assert organization.name == original
    assert 'aria-invalid="true"' in response.content.decode()


# Zero is a valid threshold, and the form trims spaces around the amount.
@pytest.mark.parametrize("threshold", [a for a in ODD_AMOUNTS if a not in ("", " 1", "0", "0.00")])
def test_low_balance_threshold_refuses_odd_amounts(admin_client, organization, threshold):
    response = admin_client.post(
        "/organization/settings/", {"name": organization.name, "low_balance_threshold": threshold}
    )
    organization.refresh_from_db()
    assert organization.low_balance_threshold is None
    assert 'aria-invalid="true"' in response.content.decode()


@pytest.mark.parametrize("name", ["\x00", "x" * 101, "\u200b", " "])
def test_token_name_refuses_odd_values(admin_client, organization, name):
    before = ApiToken.objects.count()
    response = admin_client.post("/organization/settings/tokens/", {"name": name})
    assert response.status_code == 422
    assert ApiToken.objects.count() == before


@pytest.mark.parametrize(
    ("content", "filename", "content_type", "says"),
    [
        (b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, "picture.png", "image/png", "not UTF-8"),
        (b"email\n" + "caf\u00e9@x.example\n".encode("latin-1"), "latin1.csv", "text/csv", "UTF-8"),
        (b"email\nnul\x00@x.example\n", "nul.csv", "text/csv", "not a CSV"),
        (b"email,name,team\na@x.example\n", "wide.csv", "text/csv", "header has 3 columns"),
        (b"", "empty.csv", "text/csv", "empty"),
        (b"email\n" + b"x" * (1024 * 1024 + 1), "big.csv", "text/csv", "larger than 1 MiB"),
        (
            b"".join(b"u%d@x.example\n" % n for n in range(1001)),
            "rows.csv",
            "text/csv",
            "at most 1,000",
        ),
    ],
    ids=["binary", "latin-1", "nul", "many-columns", "empty", "over-1MiB", "over-1000-rows"],
)
def test_csv_upload_refuses_bad_files_and_changes_nothing(
    admin_client, organization, content, filename, content_type, says
):
    before = state()
    upload = SimpleUploadedFile(filename, content, content_type)
    response = admin_client.post("/organization/users/import/", {"file": upload})
    assert response.status_code == 422, response.status_code
    html = response.content.decode()
    assert 'aria-invalid="true"' in html
    assert says.lower() in html.lower(), html[html.find("field--error") :][:600]
    assert state() == before


@pytest.mark.parametrize("quantity", ["0", "-1", "abc", "1001", "1e3", "99999999999999999999"])
def test_seat_checkout_refuses_odd_quantities(admin_client, organization, quantity):
    from licensing.models import License
    from tests.licensing.factories import ProductFactory

    ProductFactory(code="studio")
    before = License.objects.count()
    response = admin_client.post(
        "/organization/licenses/checkout/",
        {"product": "studio", "quantity": quantity, "term": "12"},
    )
    assert response.status_code == 422
    assert 'aria-invalid="true"' in response.content.decode()
    assert License.objects.count() == before


def test_an_oversized_form_post_is_refused_with_a_page(member_client, member):
    """Over DATA_UPLOAD_MAX_MEMORY_SIZE: Django's 400, the portal's own page, nothing saved."""
    response = member_client.post("/account/", {"name": "x" * (3 * 1024 * 1024)})
    assert response.status_code == 400
    assert "<html" in response.content.decode()
    member.refresh_from_db()
    assert not member.name.startswith("xxx")


def test_too_many_form_fields_are_refused(admin_client, organization):
    data = {f"f{n}": "1" for n in range(2500)}
    response = admin_client.post("/organization/users/remove/", data)
    assert response.status_code == 400
