"""The API takes exactly what its description says (issue "The API description says exactly
what the API accepts", rules.md "JSON API", "Bad input").

- Patterns match the whole value: a trailing newline (or any other character outside them) in
  an amount, a reference, an email or a number is refused with 400 and `fields`, and nothing
  is charged, refunded or changed (security finding "Trailing newline accepted": `re.match`
  with `$` and lax parsers took "1\\n").
- A request to an unknown API path answers 404 `not_found` whatever its method (security
  finding "POST to an unknown API path answered 403": the CSRF check ran first).
- The list parameters are refused beyond their published bounds.
- The credit access body has one shape per mode: `limit` with `quota` only.
"""

import json
from decimal import Decimal
from urllib.parse import quote

import pytest
from django.core import mail
from django.test import Client

from credits.models import CreditAccess, LedgerEntry, Lot
from licensing.models import License
from organizations.models import Account, Invitation, Membership
from portal.services import api_token_create
from tests.credits.factories import consume, fund_pool, set_access
from tests.factories import add_member
from tests.licensing.factories import ProductFactory, make_seats

pytestmark = pytest.mark.django_db

MEMBER = "worker@x.example"


@pytest.fixture
def org(organization, org_admin):
    """A member drawing from a funded pool with one consumption, a free seat, both tokens."""
    member = add_member(organization, email=MEMBER).account
    fund_pool(organization, "100.00")
    set_access(member, organization, "unlimited")
    consume(member, "5.00", reference="job-1")
    organization.seat = make_seats(organization, ProductFactory(code="studio"), 1)[0]
    org_secret = api_token_create(
        actor=org_admin, name="org", scopes=["org:admin"], organization=organization
    )[1]
    service_secret = api_token_create(
        actor=None, name="farm", scopes=["entitlements:read", "credits:read", "credits:consume"]
    )[1]
    organization.org_auth = {"HTTP_AUTHORIZATION": f"Bearer {org_secret}"}
    organization.service_auth = {"HTTP_AUTHORIZATION": f"Bearer {service_secret}"}
    return organization


def state():
    """Everything a request could change: accounts, members, invitations, the ledger, the
    lots, credit access, seats, emails."""
    return (
        Account.objects.count(),
        sorted(Membership.objects.values_list("pk", "role")),
        sorted(Invitation.objects.values_list("pk", "state")),
        sorted(LedgerEntry.objects.values_list("pk", "kind", "amount")),
        sorted(Lot.objects.values_list("pk", "remaining")),
        sorted(CreditAccess.objects.values_list("pk", "mode", "limit", "period", "used")),
        sorted(License.objects.values_list("pk", "assignee_id")),
        len(mail.outbox),
    )


def send(client, method, path, body, auth):
    data = "" if body is None else json.dumps(body)
    return client.generic(method, path, data=data, content_type="application/json", **auth)


def assert_refused(response, field):
    assert response.status_code == 400, (response.status_code, response.content[:300])
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert field in error["fields"], error["fields"]


# --- Trailing newline ---------------------------------------------------------------------------

ORG, SERVICE = "org_auth", "service_auth"
CONSUMPTION = {"account": MEMBER, "amount": "1", "reference": "nl-test"}
NEWLINE_CASES = {
    "consumption amount": (
        "POST",
        "/api/v1/credits/consumptions",
        {**CONSUMPTION, "amount": "1\n"},
        SERVICE,
        "amount",
    ),
    "consumption amount with decimals": (
        "POST",
        "/api/v1/credits/consumptions",
        {**CONSUMPTION, "amount": "1.50\n"},
        SERVICE,
        "amount",
    ),
    "consumption reference": (
        "POST",
        "/api/v1/credits/consumptions",
        {**CONSUMPTION, "reference": "nl-test\n"},
        SERVICE,
        "reference",
    ),
    "consumption account": (
        "POST",
        "/api/v1/credits/consumptions",
        {**CONSUMPTION, "account": MEMBER + "\n"},
        SERVICE,
        "account",
    ),
    "refund amount": (
        "POST",
        "/api/v1/credits/consumptions/job-1/refund",
        {"amount": "1\n"},
        SERVICE,
        "amount",
    ),
    "refund reference in the path": (
        "POST",
        "/api/v1/credits/consumptions/job-1%0A/refund",
        None,
        SERVICE,
        "reference",
    ),
    "credit access limit": (
        "PUT",
        f"/api/v1/org/members/{MEMBER}/credit-access",
        {"mode": "quota", "limit": "5\n"},
        ORG,
        "limit",
    ),
    "credit access email in the path": (
        "PUT",
        f"/api/v1/org/members/{MEMBER}%0A/credit-access",
        {"mode": "disabled"},
        ORG,
        "email",
    ),
    "member removal email in the path": (
        "DELETE",
        f"/api/v1/org/members/{MEMBER}%0A",
        None,
        ORG,
        "email",
    ),
    "member add email": (
        "POST",
        "/api/v1/org/members",
        {"email": "newcomer@x.example\n"},
        ORG,
        "email",
    ),
    "seat assignee email": (
        "PUT",
        "/api/v1/org/licenses/{seat}/assignee",
        {"email": MEMBER + "\n"},
        ORG,
        "email",
    ),
    "seat id in the path": (
        "DELETE",
        "/api/v1/org/licenses/{seat}%0A/assignee",
        None,
        ORG,
        "license_id",
    ),
    "account credits email in the path": (
        "GET",
        f"/api/v1/accounts/{MEMBER}%0A/credits",
        None,
        SERVICE,
        "email",
    ),
    "account entitlements email in the path": (
        "GET",
        f"/api/v1/accounts/{MEMBER}%0A/entitlements",
        None,
        SERVICE,
        "email",
    ),
    "members page": ("GET", "/api/v1/org/members?page=1%0A", None, ORG, "page"),
    "licenses page": ("GET", "/api/v1/org/licenses?page=1%0A", None, ORG, "page"),
}


@pytest.mark.parametrize("case", sorted(NEWLINE_CASES))
def test_a_trailing_newline_is_refused_and_changes_nothing(client, org, case):
    method, path, body, auth, field = NEWLINE_CASES[case]
    path = path.replace("{seat}", str(org.seat.pk))
    if case == "seat id in the path":
        # A seat that is assigned, so that a revoke accepted by mistake would change it.
        send(
            client,
            "PUT",
            f"/api/v1/org/licenses/{org.seat.pk}/assignee",
            {"email": MEMBER},
            org.org_auth,
        )
    before = state()
    response = send(client, method, path, body, getattr(org, auth))
    assert_refused(response, field)
    assert state() == before


def test_the_same_requests_without_the_newline_are_taken(client, org):
    """The refusals above are about the newline alone."""
    url = "/api/v1/credits/consumptions"
    response = send(client, "POST", url, CONSUMPTION, org.service_auth)
    assert response.status_code == 201, response.content
    assert response.json()["amount"] == "1.00"
    response = send(
        client,
        "POST",
        "/api/v1/credits/consumptions/job-1/refund",
        {"amount": "1"},
        org.service_auth,
    )
    assert response.status_code == 200, response.content
    url = f"/api/v1/org/members/{MEMBER}/credit-access"
    response = send(client, "PUT", url, {"mode": "quota", "limit": "5"}, org.org_auth)
    assert response.json()["limit"] == "5.00"
    assert client.get("/api/v1/org/members?page=1", **org.org_auth).status_code == 200


@pytest.mark.parametrize(
    "amount", ["1\r", "1\n\n", "\n1", "1 ", "1\t", "1\x00", "1\u2028", "１", "1.0\n", "+1", "1_0"]
)
def test_no_other_character_around_an_amount_is_taken(client, org, amount):
    before = state()
    body = {**CONSUMPTION, "amount": amount}
    assert_refused(
        send(client, "POST", "/api/v1/credits/consumptions", body, org.service_auth), "amount"
    )
    assert state() == before


@pytest.mark.parametrize(
    "reference", ["nl-test\r", "nl-test\n\n", "\nnl-test", "nl test", "nl-test\x00"]
)
def test_no_other_character_around_a_reference_is_taken(client, org, reference):
    before = state()
    body = {**CONSUMPTION, "reference": reference}
    response = send(client, "POST", "/api/v1/credits/consumptions", body, org.service_auth)
    assert_refused(response, "reference")
    assert state() == before


@pytest.mark.parametrize(
    "email", [f" {MEMBER}", f"{MEMBER} ", f"{MEMBER}\r", f"\t{MEMBER}", "Worker@X.example\n"]
)
def test_no_space_or_control_character_around_an_email_is_taken(client, org, email):
    """The address is compared without regard to case, but nothing is trimmed from it."""
    before = state()
    # Percent-encoded: a raw tab or newline in a URL would be dropped by the client.
    path = f"/api/v1/org/members/{quote(email, safe='@')}"
    assert_refused(send(client, "DELETE", path, None, org.org_auth), "email")
    body = {**CONSUMPTION, "account": email}
    assert_refused(
        send(client, "POST", "/api/v1/credits/consumptions", body, org.service_auth), "account"
    )
    assert state() == before


def test_an_email_in_another_case_still_names_the_account(client, org):
    response = client.get("/api/v1/accounts/Worker@X.Example/credits", **org.service_auth)
    assert response.status_code == 200
    assert response.json()["account"] == MEMBER


def test_the_parsers_take_the_whole_value_only():
    """The shared checks behind every door (`portal.amounts`, the ledger's reference check,
    the API's email check) use `fullmatch`."""
    from credits.services.ledger import _validate_reference
    from portal import errors
    from portal.amounts import parse_amount
    from portal.api import email_problem

    assert parse_amount("12.5") == Decimal("12.50")
    for text in ("1\n", "12.50\n", "0.5\n"):
        with pytest.raises(errors.InvalidRequest):
            parse_amount(text)
    with pytest.raises(errors.InvalidRequest):
        _validate_reference("job-1\n")
    assert _validate_reference("job-1") == "job-1"
    assert email_problem(MEMBER) is None
    assert email_problem(MEMBER + "\n") == "not a valid email address"


# --- Unknown API paths --------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE"])
@pytest.mark.parametrize(
    "path",
    ["/api/v1/nope", "/api/v2/org", "/api/v1/org/members/a/b@x.example", "/api/anything"],
)
def test_an_unknown_api_path_is_404_whatever_the_method(org, method, path):
    """Before the fix the CSRF check answered a POST (or any unsafe method) 403 `forbidden`
    before the catch-all view could answer 404. The client enforces CSRF as browsers and
    servers do (Django's test client skips it by default)."""
    client = Client(enforce_csrf_checks=True)
    before = state()
    response = send(client, method, path, {"email": "a@x.example"}, org.org_auth)
    assert response.status_code == 404, (response.status_code, response.content)
    assert response.json()["error"]["code"] == "not_found"
    # Without a token too: an unknown path says nothing about tokens.
    response = send(client, method, path, {"email": "a@x.example"}, {})
    assert response.status_code == 404
    assert state() == before


def test_a_known_api_path_with_a_csrf_enforcing_client_still_works(org):
    """The API authenticates by token, not by cookie: no CSRF check on its own views."""
    client = Client(enforce_csrf_checks=True)
    response = send(client, "POST", "/api/v1/org/members", {"email": "new@x.example"}, org.org_auth)
    assert response.status_code == 201


# --- List parameters ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/v1/org/members", "/api/v1/org/licenses"])
@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("page=0", "page"),
        ("page=-1", "page"),
        ("page=1000001", "page"),
        ("page=%2B1", "page"),
        ("page=%201", "page"),
        ("page=1.0", "page"),
        ("page=1_0", "page"),
        ("page=", "page"),
    ],
)
def test_a_list_refuses_a_page_outside_its_published_bounds(client, org, path, query, field):
    assert_refused(client.get(f"{path}?{query}", **org.org_auth), field)


@pytest.mark.parametrize(
    ("path", "name", "limit"),
    [("/api/v1/org/members", "q", 100), ("/api/v1/org/licenses", "product", 50)],
)
def test_a_list_refuses_text_longer_than_its_published_max_length(client, org, path, name, limit):
    assert client.get(f"{path}?{name}={'x' * limit}", **org.org_auth).status_code == 200
    assert_refused(client.get(f"{path}?{name}={'x' * (limit + 1)}", **org.org_auth), name)


def test_a_list_takes_its_first_and_last_page(client, org):
    for path in ("/api/v1/org/members", "/api/v1/org/licenses"):
        assert client.get(f"{path}?page=1", **org.org_auth).status_code == 200
        response = client.get(f"{path}?page=1000000", **org.org_auth)
        assert response.json() == {"results": [], "next": None}


# --- Credit access: one shape per mode ----------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"mode": "quota"}, "limit"),
        ({"mode": "quota", "limit": None}, "limit"),
        ({"mode": "quota", "limit": ""}, "limit"),
        ({"mode": "quota", "limit": 5}, "limit"),
        ({"mode": "quota", "limit": "5", "period": ""}, "period"),
        ({"mode": "quota", "limit": "5", "period": "weekly"}, "period"),
        ({"mode": "unlimited", "limit": "5"}, "limit"),
        ({"mode": "unlimited", "limit": ""}, "limit"),
        ({"mode": "disabled", "limit": "0"}, "limit"),
        ({"mode": "unlimited", "period": "monthly"}, "period"),
        ({"mode": "disabled", "period": "monthly"}, "period"),
        ({"mode": "sometimes"}, "mode"),
        ({"mode": None}, "mode"),
        ({"limit": "5"}, "mode"),
        ({}, "mode"),
    ],
)
def test_credit_access_body_has_one_shape_per_mode(client, org, body, field):
    before = state()
    response = send(
        client, "PUT", f"/api/v1/org/members/{MEMBER}/credit-access", body, org.org_auth
    )
    assert_refused(response, field)
    assert state() == before


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"mode": "quota", "limit": "0"}, ("quota", "0.00", "none")),
        ({"mode": "quota", "limit": "7.5", "period": None}, ("quota", "7.50", "none")),
        ({"mode": "quota", "limit": "7", "period": "monthly"}, ("quota", "7.00", "monthly")),
        ({"mode": "unlimited"}, ("unlimited", None, "none")),
        ({"mode": "unlimited", "limit": None, "period": "none"}, ("unlimited", None, "none")),
        ({"mode": "disabled", "period": None}, ("disabled", None, "none")),
    ],
)
def test_credit_access_takes_each_documented_shape(client, org, body, expected):
    response = send(
        client, "PUT", f"/api/v1/org/members/{MEMBER}/credit-access", body, org.org_auth
    )
    assert response.status_code == 200, response.content
    answer = response.json()
    assert (answer["mode"], answer["limit"], answer["period"]) == expected
