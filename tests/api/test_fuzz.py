"""The JSON API under generated input (rules.md "JSON API", "Bad input").

schemathesis reads /api/v1/openapi.json from the WSGI application and runs every operation
through its examples, coverage and fuzzing phases, valid and invalid requests alike, with
every check it has, so that a client generated from the description can trust it:

- never a 500; every status, content type, body and header as the description says;
- positive data acceptance: a request the description calls valid is not refused as invalid
  (it may still be refused for a reason a schema cannot express: 402 not enough credits, 404
  an unknown email or seat, 409 a conflict, each documented for its operation);
- negative data rejection: a request the description calls invalid is refused (400, or 404
  where the invalid value is in the path and no route takes it);
- authentication is enforced (a successful request is sent again without a token and with a
  wrong one: 401), and a method the path does not document is refused (405, with `Allow`);
- every error in the API's format `{"error": {"code", "message", "fields"?}}` with a code of
  its status, and `fields` on every 400.

The requests carry the token an operation needs (an `org:admin` token for `/org…`, a service
token with `entitlements:read`, `credits:read` and `credits:consume` for the others) and run
against real data: an organization with members under each kind of credit access, seats, a
funded pool, consumptions, and an account with personal credits and a license. Half of the
valid requests name those real objects (emails, seat ids, references) instead of generated
ones, so that the successful paths are exercised too, not only "not found".

The run is derandomized with a fixed seed and a fixed number of examples per operation.
"""

import zlib

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from credits.models import EntryKind, LedgerEntry
from licensing import services as licensing_services
from portal.services import api_token_create
from tests.credits.factories import consume, fund_personal, fund_pool, set_access
from tests.factories import AccountFactory, add_member, make_org_admin
from tests.licensing.factories import ProductFactory, make_personal, make_seats

# Requests the description calls valid: success, or a refusal no schema can express.
VALID_ANSWERS = ["200", "201", "204", "402", "404", "409"]
# Requests it calls invalid: 400; 401 without the token the description requires; 404 when
# the value in the path matches no route (a license id with a `/`, an email with a `/`).
INVALID_ANSWERS = ["400", "401", "404"]
EXAMPLES_PER_OPERATION = 30

CONFIG = SchemathesisConfig.from_dict(
    {
        "seed": 20_250_501,
        "generation": {
            "mode": "all",
            "max-examples": EXAMPLES_PER_OPERATION,
            "deterministic": True,
            # The test sends the real token itself (below); generated `Authorization` headers
            # would be overridden by it, so a request generated "without a token" would be
            # sent with one. The authentication check sends those requests instead.
            "with-security-parameters": False,
        },
        "phases": {
            "examples": {"enabled": True},
            "coverage": {"enabled": True},
            "fuzzing": {"enabled": True},
            "stateful": {"enabled": False},
        },
        "checks": {
            "enabled": True,
            "positive_data_acceptance": {"expected-statuses": VALID_ANSWERS},
            "negative_data_rejection": {"expected-statuses": INVALID_ANSWERS},
        },
    }
)

schema = schemathesis.openapi.from_wsgi(
    "/api/v1/openapi.json", get_wsgi_application(), config=CONFIG
)

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


@schemathesis.check
def error_format(ctx, response, case):
    """Every error answers `{"error": {"code", "message", "fields"?}}` with a code that
    belongs to its status; a 400 names the fields."""
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
def world(db, keep_connection):
    """An organization with members under each kind of credit access, seats (one assigned), a
    funded pool and consumptions; an account with personal credits and a license; the two
    kinds of token; and the real values valid requests may name."""
    admin = make_org_admin(email="fuzz-admin@studio.example")
    organization = admin.administered_organization
    members = [add_member(organization, email=f"fuzz{n}@studio.example").account for n in range(4)]
    fund_pool(organization, "100000.00")
    set_access(members[0], organization, "unlimited")
    set_access(members[1], organization, "quota", "50.00", "monthly")
    set_access(members[2], organization, "quota", "1000.00")
    product = ProductFactory(code="studio", name="Render Studio")
    seats = make_seats(organization, product, 3)
    licensing_services.seat_assign(
        actor=admin, organization=organization, seat_id=seats[0].pk, email=members[0].email
    )
    freelancer = AccountFactory(email="fuzz-freelancer@solo.example")
    fund_personal(freelancer, "500.00")
    make_personal(freelancer, product)
    for n, account in enumerate([members[0], members[1], members[2], freelancer]):
        consume(account, "2.00", reference=f"fuzz-job-{n}")
    org_token = api_token_create(
        actor=admin, name="fuzz", scopes=["org:admin"], organization=organization
    )[1]
    service_token = api_token_create(
        actor=None,
        name="farm",
        scopes=["entitlements:read", "credits:read", "credits:consume"],
    )[1]
    return {
        "org": org_token,
        "service": service_token,
        "emails": [m.email for m in members] + [admin.email, freelancer.email],
        "license_ids": [seat.pk for seat in seats],
        "references": list(
            LedgerEntry.objects.filter(kind=EntryKind.CONSUMPTION).values_list(
                "reference", flat=True
            )
        ),
    }


REAL_VALUES = {"email": "emails", "account": "emails", "license_id": "license_ids"}


def _pick(values, seed: str):
    return values[zlib.crc32(seed.encode()) % len(values)]


def name_real_objects(case, world):
    """In half of the valid requests (chosen from the generated values, so that a run is
    repeatable), name real emails, seats and references instead of generated ones."""
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return
    seed = repr((case.path_parameters, case.body))
    if zlib.crc32(seed.encode()) % 2:
        return
    for parameter, value in list((case.path_parameters or {}).items()):
        key = "references" if parameter == "reference" else REAL_VALUES.get(parameter)
        if key:
            case.path_parameters[parameter] = _pick(world[key], f"{seed}{value}")
    if isinstance(case.body, dict):
        for field in ("email", "account"):
            if isinstance(case.body.get(field), str):
                case.body[field] = _pick(world["emails"], f"{seed}{field}")


@pytest.mark.django_db
@schema.parametrize()
@settings(deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_api_answers_generated_requests_as_documented(case, world):
    token = world["org"] if case.operation.path.startswith("/api/v1/org") else world["service"]
    name_real_objects(case, world)
    case.call_and_validate(headers={"Authorization": f"Bearer {token}"})
