"""The JSON API under generated input (rules.md "JSON API", "Bad input").

schemathesis reads /api/v1/openapi.json from the WSGI application and sends each operation
bounded, derandomized examples (valid and invalid) with working tokens: never a 500, every
answer documented in the schema and shaped as it says, every error in the API's error format
`{"error": {"code", "message", "fields"?}}`.
"""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from portal.services import api_token_create
from tests.factories import add_member
from tests.licensing.factories import ProductFactory, make_seats

schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", get_wsgi_application())

ERROR_CODES = {
    400: {"invalid_request"},
    401: {"unauthenticated"},
    402: {"insufficient_credits", "quota_exceeded", "no_credit_source"},
    403: {"forbidden"},
    404: {"not_found"},
    405: {"method_not_allowed"},
    409: {
        "reference_conflict",
        "already_member",
        "already_invited",
        "not_a_member",
        "member_of_other_organization",
        "personal_credits_active",
        "credit_access_enabled_elsewhere",
        "org_credit_access_enabled",
        "seat_unavailable",
        "duplicate_product_seat",
        "already_refunded",
        "refund_exceeds_consumption",
        "cannot_remove_admin",
    },
}


def error_format(ctx, response, case):
    """Every error answers `{"error": {"code", "message", "fields"?}}` with a documented code
    that belongs to its status; a 400 names the fields."""
    if response.status_code < 400:
        return None
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) <= {"code", "message", "fields"}, error
    assert isinstance(error["message"], str) and error["message"], error
    assert error["code"] in ERROR_CODES.get(response.status_code, set()), (
        response.status_code,
        error,
    )
    if response.status_code == 400:
        assert isinstance(error.get("fields"), dict) and error["fields"], error
    return None


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
    error_format,
]


@pytest.fixture
def keep_connection():
    """The requests go through Django's real WSGI handler, which closes the database
    connection when a request ends; inside the test's transaction (PostgreSQL) that would end
    the test's data too. Django's own test client suspends the same signal handlers."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def tokens(db, keep_connection):
    """An org:admin token of a populated organization and a service token with every scope."""
    from tests.factories import make_org_admin

    admin = make_org_admin(email="fuzz-admin@studio.example")
    organization = admin.administered_organization
    for n in range(3):
        add_member(organization, email=f"fuzz{n}@studio.example")
    make_seats(organization, ProductFactory(code="studio", name="Render Studio"), 2)
    org = api_token_create(actor=None, name="fuzz", scopes=["org:admin"], organization=organization)
    service = api_token_create(
        actor=None,
        name="farm",
        scopes=["entitlements:read", "credits:read", "credits:consume"],
    )
    return {"org": org[1], "service": service[1]}


@pytest.mark.django_db
@schema.parametrize()
@settings(
    max_examples=25,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_answers_generated_requests_as_documented(case, tokens):
    token = tokens["org"] if case.operation.path.startswith("/api/v1/org") else tokens["service"]
    case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)
