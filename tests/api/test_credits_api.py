"""Credit endpoints of the JSON API (rules.md "JSON API"; R17, R20–R26)."""

import json
from decimal import Decimal

import pytest

from credits.api import ConsumptionOut
from credits.models import LedgerEntry
from portal.api import api
from portal.services import api_token_create
from tests.credits.factories import access_of, consume, fund_personal, fund_pool, set_access
from tests.factories import add_member, make_org_admin

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def service_headers(db):
    _token, secret = api_token_create(
        actor=None, name="render farm", scopes=["credits:read", "credits:consume"]
    )
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


@pytest.fixture
def read_only_headers(db):
    _token, secret = api_token_create(actor=None, name="reader", scopes=["credits:read"])
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


@pytest.fixture
def org_headers(org_admin, organization):
    _token, secret = api_token_create(
        actor=org_admin, name="automation", scopes=["org:admin"], organization=organization
    )
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


def post(client, url, body, headers):
    return client.post(url, body, content_type="application/json", **headers)


def put(client, url, body, headers):
    return client.put(url, body, content_type="application/json", **headers)


def test_account_credits_reports_source_available_and_quota(
    client, service_headers, organization, member
):
    fund_pool(organization, "100.00")
    set_access(member, organization, "quota", "30.5", "monthly")
    consume(member, "10.00")
    response = client.get(f"/api/v1/accounts/{member.email.upper()}/credits", **service_headers)
    assert response.status_code == 200
    assert response.json() == {
        "account": member.email,
        "source": "organization",
        "available": "20.50",
        "quota": {"limit": "30.50", "used": "10.00", "period": "monthly"},
    }


def test_account_without_source_and_unknown_account(client, service_headers, member):
    response = client.get(f"/api/v1/accounts/{member.email}/credits", **service_headers)
    assert response.json() == {
        "account": member.email,
        "source": None,
        "available": "0.00",
        "quota": None,
    }
    response = client.get("/api/v1/accounts/nobody@example.com/credits", **service_headers)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_personal_source_is_reported(client, service_headers, member):
    fund_personal(member, "12.5")
    body = client.get(f"/api/v1/accounts/{member.email}/credits", **service_headers).json()
    assert (body["source"], body["available"], body["quota"]) == ("personal", "12.50", None)


def test_consumption_201_then_replay_200_with_the_same_body(
    client, service_headers, organization, member
):
    fund_pool(organization, "10.00")
    set_access(member, organization, "unlimited")
    body = {"account": member.email, "amount": "2.5", "reference": "job:1_a.b-c"}
    first = post(client, "/api/v1/credits/consumptions", body, service_headers)
    assert first.status_code == 201
    assert first.json() == {
        "reference": "job:1_a.b-c",
        "account": member.email,
        "amount": "2.50",
        "source": "organization",
        "available_after": "7.50",
    }
    again = post(client, "/api/v1/credits/consumptions", body, service_headers)
    assert again.status_code == 200 and again.json() == first.json()
    conflict = post(
        client, "/api/v1/credits/consumptions", {**body, "amount": "3.00"}, service_headers
    )
    assert conflict.status_code == 409
    assert conflict.json()["error"]["code"] == "reference_conflict"
    assert LedgerEntry.objects.filter(kind="consumption").count() == 1


def test_consumption_answers_are_what_the_schema_and_the_renderer_say(
    client, service_headers, organization, member
):
    """The endpoint writes its answer itself (the hot path skips the response model): the
    same bytes, content type and schema as the API's renderer gives every other answer."""
    fund_pool(organization, "10.00")
    set_access(member, organization, "unlimited")
    body = {"account": member.email, "amount": "1", "reference": "job-schema"}
    for status in (201, 200):
        response = post(client, "/api/v1/credits/consumptions", body, service_headers)
        assert response.status_code == status
        assert response["Content-Type"] == api.get_content_type()
        answer = ConsumptionOut.model_validate(response.json()).model_dump()
        assert response.content == json.dumps(answer).encode()


@pytest.mark.parametrize(
    "amount", [2.5, 3, "1e2", "-1", "+1", " 1", "1 ", "1.005", "0", "0.00", "1234567890123", ""]
)
def test_bad_amounts_are_400_with_fields(client, service_headers, organization, member, amount):
    fund_pool(organization, "10.00")
    set_access(member, organization, "unlimited")
    body = {"account": member.email, "amount": amount, "reference": "job-1"}
    response = post(client, "/api/v1/credits/consumptions", body, service_headers)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_request" and "amount" in error["fields"]
    assert not LedgerEntry.objects.filter(kind="consumption").exists()


@pytest.mark.parametrize("reference", ["", "a b", "x" * 201, "ü", "a/b"])
def test_bad_references_are_400(client, service_headers, organization, member, reference):
    fund_pool(organization, "10.00")
    set_access(member, organization, "unlimited")
    body = {"account": member.email, "amount": "1", "reference": reference}
    response = post(client, "/api/v1/credits/consumptions", body, service_headers)
    assert response.status_code == 400
    assert "reference" in response.json()["error"]["fields"]


def test_402_codes(client, service_headers, organization, member):
    fund_pool(organization, "5.00")
    url = "/api/v1/credits/consumptions"
    body = {"account": member.email, "amount": "6.00", "reference": "r-1"}
    assert post(client, url, body, service_headers).json()["error"]["code"] == "no_credit_source"
    set_access(member, organization, "quota", "5.50")
    response = post(client, url, body, service_headers)
    assert response.status_code == 402 and response.json()["error"]["code"] == "quota_exceeded"
    set_access(member, organization, "unlimited")
    response = post(client, url, body, service_headers)
    assert response.status_code == 402
    assert response.json()["error"]["code"] == "insufficient_credits"


def test_refund_full_partial_and_errors(client, service_headers, organization, member):
    fund_pool(organization, "10.00")
    set_access(member, organization, "quota", "8.00")
    consume(member, "4.00", "job-r1")
    consume(member, "2.00", "job-r2")
    url = "/api/v1/credits/consumptions/{}/refund"
    response = post(client, url.format("job-r1"), {"amount": "1.5"}, service_headers)
    assert response.status_code == 200
    assert response.json() == {
        "reference": "job-r1",
        "refunded": "1.50",
        "available_after": "3.50",
    }
    again = post(client, url.format("job-r1"), {}, service_headers)
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_refunded"
    too_much = post(client, url.format("job-r2"), {"amount": "2.01"}, service_headers)
    assert too_much.json()["error"]["code"] == "refund_exceeds_consumption"
    whole = client.post(
        url.format("job-r2"), "", content_type="application/json", **service_headers
    )
    assert whole.status_code == 200 and whole.json()["refunded"] == "2.00"
    missing = post(client, url.format("nope"), {}, service_headers)
    assert missing.status_code == 404
    assert post(client, url.format("job-r2"), {"amount": 1}, service_headers).status_code == 400
    assert access_of(member).used == D("2.50")


def test_scopes_are_enforced(client, read_only_headers, org_headers, member):
    body = {"account": member.email, "amount": "1", "reference": "x"}
    response = post(client, "/api/v1/credits/consumptions", body, read_only_headers)
    assert response.status_code == 403
    response = client.get(f"/api/v1/accounts/{member.email}/credits", **org_headers)
    assert response.status_code == 403
    assert client.get(f"/api/v1/accounts/{member.email}/credits").status_code == 401


def test_put_credit_access_sets_quota_and_refuses_bad_combinations(
    client, org_headers, organization, member
):
    url = f"/api/v1/org/members/{member.email}/credit-access"
    response = put(client, url, {"mode": "quota", "limit": "25.5"}, org_headers)
    assert response.status_code == 200
    assert response.json() == {
        "email": member.email,
        "mode": "quota",
        "limit": "25.50",
        "period": "none",
        "used": "0.00",
    }
    for body in (
        {"mode": "quota"},
        {"mode": "unlimited", "limit": "5"},
        {"mode": "disabled", "limit": "5"},
        {"mode": "quota", "limit": 5},
        {"mode": "quota", "limit": "5", "period": "weekly"},
        {"mode": "sometimes"},
        {"mode": "quota", "limit": "1.234"},
    ):
        response = put(client, url, body, org_headers)
        assert response.status_code == 400, body
        assert response.json()["error"]["fields"]
    response = put(client, url, {"mode": "quota", "limit": "9", "period": "monthly"}, org_headers)
    assert response.json()["period"] == "monthly"
    response = put(client, url, {"mode": "unlimited"}, org_headers)
    assert response.json() == {
        "email": member.email,
        "mode": "unlimited",
        "limit": None,
        "period": "none",
        "used": "0.00",
    }


def test_put_credit_access_r21_conflicts(client, org_headers, organization, member):
    fund_personal(member, "3.00")
    url = f"/api/v1/org/members/{member.email}/credit-access"
    response = put(client, url, {"mode": "unlimited"}, org_headers)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "personal_credits_active"
    assert "3.00" in response.json()["error"]["message"]

    other = make_org_admin().administered_organization
    elsewhere = add_member(other).account
    add_member(organization, elsewhere) if False else None
    set_access(elsewhere, other, "unlimited")
    own_admin = other.administrator
    # The other organization's administrator is also a user here (R5) with access there.
    from organizations.models import Role
    from organizations.services import membership_create

    membership_create(organization=organization, account=own_admin, role=Role.MEMBER)
    set_access(own_admin, other, "unlimited")
    url = f"/api/v1/org/members/{own_admin.email}/credit-access"
    response = put(client, url, {"mode": "quota", "limit": "1"}, org_headers)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "credit_access_enabled_elsewhere"


def test_put_credit_access_is_limited_to_the_tokens_organization(client, org_headers, outsider):
    stranger = add_member(outsider.administered_organization).account
    for email in (stranger.email, outsider.email, "nobody@example.com"):
        url = f"/api/v1/org/members/{email}/credit-access"
        response = put(client, url, {"mode": "unlimited"}, org_headers)
        assert response.status_code == 404
    assert access_of(stranger).mode == "disabled"


def test_put_credit_access_needs_an_org_token(client, service_headers, member):
    url = f"/api/v1/org/members/{member.email}/credit-access"
    assert put(client, url, {"mode": "unlimited"}, service_headers).status_code == 403


def test_a_refund_body_must_be_json_declared_as_such(client, service_headers, organization, member):
    """Like every other body in the API, a refund body sent as text or a form is refused and
    nothing is refunded."""
    fund_pool(organization, "10.00")
    set_access(member, organization, "unlimited", None)
    consume(member, "4.00", "job-text")
    url = "/api/v1/credits/consumptions/job-text/refund"
    for content_type in ("text/plain", "application/x-www-form-urlencoded"):
        response = client.post(
            url, '{"amount": "1.00"}', content_type=content_type, **service_headers
        )
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "invalid_request"
        assert "body" in response.json()["error"]["fields"]
    assert access_of(member).used == D("4.00")


class TestConsumptionTokenCheckedInTheStatement:
    """The consumption's one statement checks the bearer token and its scope
    (rules.md "Performance"); the answers must be those of every other operation, in the same
    order: 401 for an unknown or revoked token before anything else, 400 for a bad body
    before 403 for a missing scope, and nothing recorded on any refusal."""

    URL = "/api/v1/credits/consumptions"

    @pytest.fixture
    def funded(self, organization, member):
        fund_pool(organization, "10.00")
        set_access(member, organization, "unlimited")
        return member

    def test_unknown_and_revoked_tokens_are_401_and_charge_nothing(self, client, funded):
        from portal.services import api_token_revoke

        body = {"account": funded.email, "amount": "1", "reference": "tok-1"}
        response = post(client, self.URL, body, {"HTTP_AUTHORIZATION": "Bearer nope"})
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthenticated"
        token, secret = api_token_create(actor=None, name="farm", scopes=["credits:consume"])
        api_token_revoke(actor=None, token=token)
        response = post(client, self.URL, body, {"HTTP_AUTHORIZATION": f"Bearer {secret}"})
        assert response.status_code == 401
        assert not LedgerEntry.objects.filter(reference="tok-1").exists()

    def test_bad_body_with_a_bad_token_is_401_and_with_a_scopeless_token_400(
        self, client, read_only_headers
    ):
        bad = {"account": "a@example.com", "amount": 5, "reference": "tok-2"}
        assert post(client, self.URL, bad, {"HTTP_AUTHORIZATION": "Bearer x"}).status_code == 401
        assert post(client, self.URL, bad, read_only_headers).status_code == 400

    @pytest.mark.parametrize(
        ("body", "content_type"),
        [
            ("{not json", "application/json"),
            ('{"account": "a@x.example", "amount": "1", "reference": "r1"}', "text/plain"),
            (b"\xff\xfe\x00\x00", "application/json"),
            (
                '{"account": "a@x.example", "pad": "' + "x" * (3 * 1024 * 1024) + '"}',
                "application/json",
            ),
        ],
        ids=["malformed-json", "text-plain", "bad-utf8", "too-big"],
    )
    def test_an_unreadable_body_with_a_scopeless_token_is_400(
        self, client, read_only_headers, body, content_type
    ):
        """As for every other operation: the body is read before the view checks the scope."""
        response = client.post(self.URL, body, content_type=content_type, **read_only_headers)
        assert response.status_code == 400, response.json()
        assert response.json()["error"]["code"] == "invalid_request"

    def test_a_bad_amount_with_a_scopeless_token_is_400_and_charges_nothing(
        self, client, read_only_headers, funded
    ):
        """The amount's format is part of the body's schema (published in the OpenAPI
        description), checked with the body before the view checks the scope."""
        body = {"account": funded.email, "amount": "-1", "reference": "tok-3"}
        response = post(client, self.URL, body, read_only_headers)
        assert response.status_code == 400
        assert response.json()["error"]["fields"] == {"amount": "must be positive"}
        assert not LedgerEntry.objects.filter(reference="tok-3").exists()

    def test_a_scopeless_token_is_403_and_charges_nothing(self, client, read_only_headers, funded):
        body = {"account": funded.email, "amount": "1", "reference": "tok-4"}
        response = post(client, self.URL, body, read_only_headers)
        assert response.status_code == 403
        assert not LedgerEntry.objects.filter(reference="tok-4").exists()

    def test_a_good_token_consumes_and_is_marked_used(self, client, funded):
        token, secret = api_token_create(actor=None, name="farm", scopes=["credits:consume"])
        assert token.last_used_at is None
        body = {"account": funded.email, "amount": "1", "reference": "tok-5"}
        response = post(client, self.URL, body, {"HTTP_AUTHORIZATION": f"Bearer {secret}"})
        assert response.status_code == 201
        token.refresh_from_db()
        assert token.last_used_at is not None

    def test_on_postgresql_a_consumption_is_one_statement_token_included(self, client, funded):
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        _token, secret = api_token_create(actor=None, name="farm", scopes=["credits:consume"])
        headers = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
        post(client, self.URL, {"account": funded.email, "amount": "1", "reference": "t6"}, headers)
        body = {"account": funded.email, "amount": "1", "reference": "tok-7"}
        with CaptureQueriesContext(connection) as captured:
            assert post(client, self.URL, body, headers).status_code == 201
        # The test's own transaction wraps the statement in a savepoint; nothing else runs.
        statements = [q["sql"] for q in captured if "SAVEPOINT" not in q["sql"]]
        assert len(statements) == 1 and "credits_consume" in statements[0]
