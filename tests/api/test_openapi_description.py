"""The OpenAPI description at /api/v1/openapi.json says exactly what the API takes and answers
(issue "The API description says exactly what the API accepts"): patterns, formats, lengths
and ranges of every input, one shape per credit access mode, and every status each operation
can answer with the error codes of that status. `test_fuzz.py` holds the API to it with
generated requests; these tests pin what it says."""

import re
from urllib.parse import quote

import pytest

from portal.amounts import AMOUNT_PATTERN

pytestmark = pytest.mark.django_db

REFERENCE_PATTERN = "^[A-Za-z0-9._:-]{1,200}$"

# Every operation, with every status it can answer (400: any query string can be refused;
# 401 and 403: every operation needs a token with a scope).
STATUSES = {
    ("get", "/api/v1/org"): {200, 400, 401, 403},
    ("get", "/api/v1/org/members"): {200, 400, 401, 403},
    ("post", "/api/v1/org/members"): {201, 400, 401, 403, 409},
    ("delete", "/api/v1/org/members/{email}"): {204, 400, 401, 403, 404, 409},
    ("put", "/api/v1/org/members/{email}/credit-access"): {200, 400, 401, 403, 404, 409},
    ("get", "/api/v1/org/licenses"): {200, 400, 401, 403},
    ("put", "/api/v1/org/licenses/{license_id}/assignee"): {200, 400, 401, 403, 404, 409},
    ("delete", "/api/v1/org/licenses/{license_id}/assignee"): {204, 400, 401, 403, 404},
    ("get", "/api/v1/accounts/{email}/entitlements"): {200, 400, 401, 403, 404},
    ("get", "/api/v1/accounts/{email}/credits"): {200, 400, 401, 403, 404},
    ("post", "/api/v1/credits/consumptions"): {200, 201, 400, 401, 402, 403, 404, 409},
    ("post", "/api/v1/credits/consumptions/{reference}/refund"): {200, 400, 401, 403, 404, 409},
    ("post", "/api/v1/credits/holds"): {200, 201, 400, 401, 402, 403, 404, 409},
    ("get", "/api/v1/credits/holds/{reference}"): {200, 400, 401, 403, 404},
    ("patch", "/api/v1/credits/holds/{reference}"): {200, 400, 401, 402, 403, 404, 409},
    ("post", "/api/v1/credits/holds/{reference}/capture"): {200, 400, 401, 403, 404, 409},
    ("post", "/api/v1/credits/holds/{reference}/release"): {200, 400, 401, 403, 404, 409},
}
PAYING = ["insufficient_credits", "no_credit_source", "quota_exceeded"]
# The codes of the statuses that have several (portal/errors.py).
CODES = {
    ("post", "/api/v1/credits/consumptions", 402): [
        "insufficient_credits",
        "no_credit_source",
        "quota_exceeded",
    ],
    ("post", "/api/v1/credits/consumptions", 409): ["reference_conflict"],
    ("post", "/api/v1/credits/holds", 402): PAYING,
    ("post", "/api/v1/credits/holds", 409): ["reference_conflict"],
    ("patch", "/api/v1/credits/holds/{reference}", 402): PAYING,
    ("patch", "/api/v1/credits/holds/{reference}", 409): ["hold_not_open"],
    ("post", "/api/v1/credits/holds/{reference}/capture", 409): [
        "capture_exceeds_hold",
        "hold_not_open",
    ],
    ("post", "/api/v1/credits/holds/{reference}/release", 409): ["hold_not_open"],
    ("post", "/api/v1/credits/consumptions/{reference}/refund", 409): [
        "already_refunded",
        "refund_exceeds_consumption",
    ],
    ("post", "/api/v1/org/members", 409): [
        "already_invited",
        "already_member",
        "member_of_other_organization",
    ],
    ("delete", "/api/v1/org/members/{email}", 409): ["cannot_remove_admin"],
    ("put", "/api/v1/org/members/{email}/credit-access", 409): [
        "credit_access_enabled_elsewhere",
        "not_a_member",
        "personal_credits_active",
    ],
    ("put", "/api/v1/org/licenses/{license_id}/assignee", 409): [
        "duplicate_product_seat",
        "not_a_member",
        "seat_unavailable",
    ],
}
SINGLE_CODES = {400: "invalid_request", 401: "unauthenticated", 403: "forbidden", 404: "not_found"}


@pytest.fixture(scope="module")
def description(django_db_blocker):
    from django.test import Client

    with django_db_blocker.unblock():
        response = Client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    return response.json()


def resolve(description, schema):
    while "$ref" in schema:
        schema = description["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def operations(description):
    for path, methods in description["paths"].items():
        for method, operation in methods.items():
            yield method, path, operation


def parameter(operation, name):
    return next(p for p in operation["parameters"] if p["name"] == name)["schema"]


def body_schema(description, operation):
    return resolve(description, operation["requestBody"]["content"]["application/json"]["schema"])


def error_codes(description, response):
    narrowing = response["content"]["application/json"]["schema"]["allOf"]
    assert narrowing[0] == {"$ref": "#/components/schemas/ErrorOut"}
    return narrowing[1]["properties"]["error"]["properties"]["code"]["enum"]


def test_every_operation_documents_every_status_it_can_answer(description):
    documented = {
        (method, path): {int(status) for status in operation["responses"]}
        for method, path, operation in operations(description)
    }
    # 414 from the web server in front, for a URL longer than any valid request.
    assert documented == {key: statuses | {414} for key, statuses in STATUSES.items()}


def test_every_error_answer_names_its_codes(description):
    for method, path, operation in operations(description):
        for status, response in operation["responses"].items():
            status = int(status)
            if status < 400 or status == 414:
                continue
            codes = error_codes(description, response)
            assert codes == CODES.get((method, path, status), [SINGLE_CODES.get(status)]), (
                method,
                path,
                status,
            )
            for code in codes:
                assert f"`{code}`" in response["description"]
        assert "x-portal-errors" not in operation


def test_a_400_answer_always_names_the_fields(description):
    for _method, _path, operation in operations(description):
        if "400" in operation["responses"]:
            schema = operation["responses"]["400"]["content"]["application/json"]["schema"]
            error = schema["allOf"][1]["properties"]["error"]
            assert error["required"] == ["fields"]
            assert error["properties"]["fields"]["minProperties"] == 1


def test_amounts_have_the_published_pattern_and_exclude_zero_where_it_is_refused(description):
    paths = description["paths"]
    consumption = body_schema(description, paths["/api/v1/credits/consumptions"]["post"])
    refund = body_schema(
        description, paths["/api/v1/credits/consumptions/{reference}/refund"]["post"]
    )
    refund_amount = next(s for s in refund["properties"]["amount"]["anyOf"] if "pattern" in s)
    for amount in (consumption["properties"]["amount"], refund_amount):
        assert amount["type"] == "string"
        assert amount["pattern"] == AMOUNT_PATTERN
        assert amount["not"] == {"pattern": "^0+(\\.0+)?$"}
    quota = resolve(description, {"$ref": "#/components/schemas/QuotaAccessIn"})
    assert quota["properties"]["limit"]["pattern"] == AMOUNT_PATTERN
    assert "not" not in quota["properties"]["limit"]  # a quota of zero is allowed


def test_references_have_the_published_pattern(description):
    paths = description["paths"]
    consumption = body_schema(description, paths["/api/v1/credits/consumptions"]["post"])
    refund = paths["/api/v1/credits/consumptions/{reference}/refund"]["post"]
    for reference in (consumption["properties"]["reference"], parameter(refund, "reference")):
        assert reference["pattern"] == REFERENCE_PATTERN
        assert (reference["minLength"], reference["maxLength"]) == (1, 200)


def test_every_email_has_the_email_format_a_pattern_and_a_length(description):
    emails = []
    for _method, path, operation in operations(description):
        if "{email}" in path:
            emails.append(parameter(operation, "email"))
        if "requestBody" in operation:
            schema = body_schema(description, operation)
            for name in ("email", "account"):
                if name in schema.get("properties", {}):
                    emails.append(schema["properties"][name])
    assert len(emails) == 8
    for email in emails:
        assert email["format"] == "email"
        assert email["maxLength"] == 254
        assert email["pattern"].startswith("^") and email["pattern"].endswith("$")


def test_lists_publish_their_bounds(description):
    paths = description["paths"]
    members = paths["/api/v1/org/members"]["get"]
    licenses = paths["/api/v1/org/licenses"]["get"]
    assert parameter(members, "q")["maxLength"] == 100
    assert parameter(licenses, "product")["maxLength"] == 50
    for operation in (members, licenses):
        page = parameter(operation, "page")
        assert (page["type"], page["minimum"], page["maximum"]) == ("integer", 1, 1_000_000)
    for method, path in (
        ("put", "/api/v1/org/licenses/{license_id}/assignee"),
        ("delete", "/api/v1/org/licenses/{license_id}/assignee"),
    ):
        license_id = parameter(paths[path][method], "license_id")
        assert (license_id["minimum"], license_id["maximum"]) == (1, 2**63 - 1)


def test_credit_access_has_one_shape_per_mode(description):
    operation = description["paths"]["/api/v1/org/members/{email}/credit-access"]["put"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert schema["discriminator"]["propertyName"] == "mode"
    shapes = {
        mode: resolve(description, {"$ref": ref})
        for mode, ref in schema["discriminator"]["mapping"].items()
    }
    assert sorted(s["$ref"] for s in schema["oneOf"]) == sorted(
        schema["discriminator"]["mapping"].values()
    )
    assert set(shapes) == {"quota", "unlimited", "disabled"}
    quota = shapes["quota"]
    assert quota["required"] == ["mode", "limit"]
    assert quota["properties"]["period"]["default"] == "none"
    assert {"enum": ["none", "monthly"], "type": "string"} in quota["properties"]["period"]["anyOf"]
    for mode in ("unlimited", "disabled"):
        assert shapes[mode]["required"] == ["mode"]
        assert shapes[mode]["properties"]["limit"]["type"] == "null"
        assert {"const": "none", "type": "string"} in shapes[mode]["properties"]["period"]["anyOf"]


def test_no_valid_request_makes_a_url_too_long(description):
    """Every path and query parameter is bounded, so a request the description calls valid
    cannot reach the request-line limit of the server in front (gunicorn: 4,094 bytes) and be
    answered 414; only a longer, invalid one can (documented as such)."""
    longest = 0
    for _method, path, operation in operations(description):
        length = len(path)
        for p in operation.get("parameters", []):
            schema = p["schema"]
            if schema["type"] == "integer":
                length += len(p["name"]) + 2 + len(str(schema["maximum"]))
            else:
                # Each character percent-encoded as up to four UTF-8 bytes.
                length += len(p["name"]) + 2 + schema["maxLength"] * len(quote("\U0010ffff"))
        longest = max(longest, length)
    assert longest < 4094


def test_the_description_cites_no_rule_numbers(description):
    text = str(description)
    assert not re.search(r"\bR\d+\b", text), re.findall(r".{30}\bR\d+\b.{10}", text)


def test_the_description_is_built_once_per_process(client, monkeypatch):
    from ninja import NinjaAPI

    from console.api import api

    builds = []
    build = NinjaAPI.get_openapi_schema

    def counting(self, **kwargs):
        builds.append(kwargs)
        return build(self, **kwargs)

    monkeypatch.setattr(NinjaAPI, "get_openapi_schema", counting)
    monkeypatch.setattr(api, "_openapi_schemas", {})
    first = client.get("/api/v1/openapi.json")
    second = client.get("/api/v1/openapi.json")
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert len(builds) == 1
