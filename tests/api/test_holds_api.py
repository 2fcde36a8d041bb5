"""Hold endpoints of the JSON API (R35-R38): shapes, status codes, replays, bad input."""

from decimal import Decimal

import pytest

from credits.models import Hold, LedgerEntry
from portal.services import api_token_create
from tests.credits.factories import fund_pool, set_access

pytestmark = pytest.mark.django_db
D = Decimal
URL = "/api/v1/credits/holds"


@pytest.fixture
def headers(db):
    _token, secret = api_token_create(actor=None, name="farm", scopes=["credits:consume"])
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


@pytest.fixture
def funded(organization, member):
    fund_pool(organization, "100.00")
    set_access(member, organization, "quota", "60", "none")
    return member


def post(client, url, body, headers):
    return client.post(url, body, content_type="application/json", **headers)


def test_open_read_raise_capture_with_the_documented_shapes(client, headers, funded):
    body = {"account": funded.email, "amount": "40", "reference": "job-1", "expires_in": 3600}
    response = post(client, URL, body, headers)
    assert response.status_code == 201, response.json()
    hold = response.json()
    assert set(hold) == {
        "reference",
        "account",
        "source",
        "amount",
        "status",
        "captured",
        "expires_at",
        "available_after",
    }
    assert (hold["amount"], hold["status"], hold["captured"], hold["source"]) == (
        "40.00",
        "open",
        None,
        "organization",
    )
    assert hold["available_after"] == "20.00"
    again = post(client, URL, {**body, "amount": "40.00", "expires_in": 60}, headers)
    assert again.status_code == 200 and again.json()["amount"] == "40.00"
    assert client.get(f"{URL}/job-1", **headers).json()["status"] == "open"
    raised = client.patch(f"{URL}/job-1", {"amount": "50"}, "application/json", **headers)
    assert raised.status_code == 200 and raised.json()["amount"] == "50.00"
    too_much = client.patch(f"{URL}/job-1", {"amount": "61"}, "application/json", **headers)
    assert too_much.status_code == 402 and too_much.json()["error"]["code"] == "quota_exceeded"
    lower = client.patch(f"{URL}/job-1", {"amount": "10"}, "application/json", **headers)
    assert lower.status_code == 400 and "amount" in lower.json()["error"]["fields"]
    over = post(client, f"{URL}/job-1/capture", {"amount": "50.01"}, headers)
    assert over.status_code == 409 and over.json()["error"]["code"] == "capture_exceeds_hold"
    captured = post(client, f"{URL}/job-1/capture", {"amount": "45.5"}, headers)
    assert captured.status_code == 200
    assert (captured.json()["status"], captured.json()["captured"]) == ("captured", "45.50")
    assert post(client, f"{URL}/job-1/capture", {"amount": "45.50"}, headers).json() == (
        captured.json()
    )
    other = post(client, f"{URL}/job-1/capture", {"amount": "1"}, headers)
    assert other.status_code == 409 and other.json()["error"]["code"] == "hold_not_open"
    release = post(client, f"{URL}/job-1/release", {}, headers)
    assert release.status_code == 409 and release.json()["error"]["code"] == "hold_not_open"
    assert LedgerEntry.objects.get(reference="job-1").amount == D("-45.50")


def test_release_without_a_body_and_capture_of_all_by_default(client, headers, funded):
    post(client, URL, {"account": funded.email, "amount": "10", "reference": "r-1"}, headers)
    # No body at all, as a farm's plain POST sends.
    released = client.generic("POST", f"{URL}/r-1/release", b"", **headers)
    assert released.status_code == 200 and released.json()["status"] == "released"
    assert client.generic("POST", f"{URL}/r-1/release", b"", **headers).json() == released.json()
    post(client, URL, {"account": funded.email, "amount": "10", "reference": "c-1"}, headers)
    captured = client.generic("POST", f"{URL}/c-1/capture", b"", **headers)
    assert captured.json()["captured"] == "10.00"


def test_conflicts_and_refusals_have_their_codes(client, headers, funded):
    post(client, URL, {"account": funded.email, "amount": "10", "reference": "x-1"}, headers)
    conflict = post(
        client, URL, {"account": funded.email, "amount": "11", "reference": "x-1"}, headers
    )
    assert conflict.status_code == 409 and conflict.json()["error"]["code"] == "reference_conflict"
    consume = post(
        client,
        "/api/v1/credits/consumptions",
        {"account": funded.email, "amount": "1", "reference": "x-1"},
        headers,
    )
    assert consume.status_code == 409
    refund = client.generic("POST", "/api/v1/credits/consumptions/x-1/refund", b"", **headers)
    assert refund.status_code == 404
    short = post(
        client, URL, {"account": funded.email, "amount": "51", "reference": "x-2"}, headers
    )
    assert short.status_code == 402 and short.json()["error"]["code"] == "quota_exceeded"
    assert client.get(f"{URL}/nope", **headers).status_code == 404
    assert post(client, f"{URL}/nope/capture", {}, headers).status_code == 404
    assert not Hold.objects.filter(reference="x-2").exists()


@pytest.mark.parametrize(
    "change",
    [
        {"expires_in": 0},
        {"expires_in": 604_801},
        {"expires_in": "60"},
        {"expires_in": 1.5},
        {"expires_in": True},
        {"amount": 5},
        {"amount": "5.001"},
        {"amount": "-5"},
        {"reference": "job 1"},
        {"reference": "job-1\n"},
        {"reference": "x" * 201},
    ],
)
def test_bad_input_is_a_400_with_fields_and_holds_nothing(client, headers, funded, change):
    body = {"account": funded.email, "amount": "5", "reference": "job-1", **change}
    response = post(client, URL, body, headers)
    assert response.status_code == 400, response.json()
    assert response.json()["error"]["fields"]
    assert not Hold.objects.exists()


def test_a_token_without_credits_consume_is_403(client, funded):
    _token, secret = api_token_create(actor=None, name="reader", scopes=["credits:read"])
    reader = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    body = {"account": funded.email, "amount": "5", "reference": "job-1"}
    assert post(client, URL, body, reader).status_code == 403
    assert client.get(f"{URL}/job-1", **reader).status_code == 403
    assert post(client, URL, body, {"HTTP_AUTHORIZATION": "Bearer nope"}).status_code == 401
    assert not Hold.objects.exists()


def test_the_openapi_description_has_the_hold_endpoints_with_their_constraints(client):
    spec = client.get("/api/v1/openapi.json").json()
    for path in [URL, URL + "/{reference}", URL + "/{reference}/capture"]:
        assert path in spec["paths"], path
    schema = spec["components"]["schemas"]["HoldIn"]
    expires = schema["properties"]["expires_in"]
    text = str(expires)
    assert "604800" in text and "'minimum': 1" in text
    assert schema.get("examples")
    codes = str(spec["paths"][URL + "/{reference}/capture"]["post"]["responses"])
    assert "capture_exceeds_hold" in codes and "hold_not_open" in codes
