"""API skeleton: bearer tokens (hashed, scoped, revocable), error format, GET /org."""

import json

import pytest

from portal.models import ApiToken
from portal.services import api_token_create, api_token_revoke
from tests.factories import add_member

pytestmark = pytest.mark.django_db


def bearer(secret):
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


def assert_error(response, status, code):
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]


@pytest.fixture
def org_token(organization):
    return api_token_create(
        actor=None, name="org", scopes=["org:admin"], organization=organization
    )[1]


@pytest.fixture
def service_token():
    return api_token_create(actor=None, name="farm", scopes=["credits:consume", "credits:read"])[1]


def test_org_answers_name_number_members_and_pool(client, organization, org_token):
    add_member(organization)
    response = client.get("/api/v1/org", **bearer(org_token))
    assert response.status_code == 200
    assert response.json() == {
        "name": organization.name,
        "customer_number": organization.customer_number,
        "members": 2,
        "pool_available": "0.00",
    }


def test_missing_token_is_401_unauthenticated(client):
    assert_error(client.get("/api/v1/org"), 401, "unauthenticated")


@pytest.mark.parametrize("header", ["Bearer nope", "Bearer ", "Basic abc", "Bearer " + "x" * 500])
def test_bad_tokens_are_401(client, header):
    assert_error(client.get("/api/v1/org", HTTP_AUTHORIZATION=header), 401, "unauthenticated")


def test_a_revoked_token_stops_working(client, organization):
    token, secret = api_token_create(
        actor=None, name="t", scopes=["org:admin"], organization=organization
    )
    assert client.get("/api/v1/org", **bearer(secret)).status_code == 200
    api_token_revoke(actor=None, token=token)
    assert_error(client.get("/api/v1/org", **bearer(secret)), 401, "unauthenticated")


def test_tokens_are_stored_only_as_a_hash(organization):
    _token, secret = api_token_create(
        actor=None, name="t", scopes=["org:admin"], organization=organization
    )
    stored = ApiToken.objects.values_list("token_hash", "prefix").get()
    assert secret not in stored[0]
    assert len(stored[0]) == 64 and secret.startswith(stored[1])


def test_a_token_without_the_scope_is_403_forbidden(client, service_token):
    assert_error(client.get("/api/v1/org", **bearer(service_token)), 403, "forbidden")


def test_org_admin_scope_needs_an_organization():
    from portal import errors

    with pytest.raises(errors.InvalidRequest):
        api_token_create(actor=None, name="x", scopes=["org:admin"])
    with pytest.raises(errors.InvalidRequest):
        api_token_create(actor=None, name="x", scopes=["made:up"])


def test_each_org_token_sees_its_own_organization(client, organization, outsider, org_token):
    other = api_token_create(
        actor=None, name="o", scopes=["org:admin"], organization=outsider.administered_organization
    )[1]
    assert client.get("/api/v1/org", **bearer(org_token)).json()["name"] == organization.name
    assert (
        client.get("/api/v1/org", **bearer(other)).json()["name"]
        == outsider.administered_organization.name
    )


@pytest.mark.parametrize(
    "path", ["/api/v1/nope", "/api/v1/", "/api/v2/org", "/api/v1/org/extra/deep"]
)
def test_unknown_routes_answer_404_in_the_error_format(client, path, org_token):
    assert_error(client.get(path, **bearer(org_token)), 404, "not_found")


def test_a_wrong_method_answers_in_the_error_format(client, org_token):
    response = client.delete("/api/v1/org", **bearer(org_token))
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_openapi_description_and_docs_are_served(client):
    schema = client.get("/api/v1/openapi.json")
    assert schema.status_code == 200
    assert "/api/v1/org" in schema.json()["paths"]
    docs = client.get("/api/v1/docs")
    assert docs.status_code == 200
    # Pages load no asset from another host (rules.md "Performance"/Security).
    assert (
        "cdn." not in docs.content.decode()
        and "https://" not in docs.content.decode().split("<body")[0]
    )


def test_last_use_is_recorded(client, organization):
    token, secret = api_token_create(
        actor=None, name="t", scopes=["org:admin"], organization=organization
    )
    client.get("/api/v1/org", **bearer(secret))
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_errors_never_leak_tracebacks(client, org_token, monkeypatch):
    from console import selectors

    def boom(**kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(selectors, "organization_summary", boom)
    response = client.get("/api/v1/org", **bearer(org_token))
    assert response.status_code == 500
    assert "secret internals" not in response.content.decode()
    assert json.loads(response.content)["error"]["code"] == "internal_error"
