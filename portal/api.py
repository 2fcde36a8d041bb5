"""The JSON API under /api/v1/ (rules.md "JSON API").

Wiring only: bearer-token authentication, scope checks, the API's error format for every error
(domain errors, validation, bad JSON, unknown routes, unexpected failures), and the routers of
the apps.
"""

import functools
import hashlib
import logging
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import connections, router
from django.http import Http404, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from ninja import NinjaAPI, Schema
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.parser import Parser
from ninja.security import HttpBearer
from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field, StrictStr, WithJsonSchema

from portal import errors
from portal.amounts import AMOUNT_PATTERN, ZERO_AMOUNT_PATTERN, parse_amount
from portal.audit import audit_channel
from portal.models import ApiToken, Scope

logger = logging.getLogger(__name__)

STATUS_CODES = {400: "invalid_request", 401: "unauthenticated", 403: "forbidden", 404: "not_found"}


def error_body(code: str, message: str, fields: dict | None = None) -> dict:
    error = {"code": code, "message": message}
    if fields is not None:
        error["fields"] = fields
    return {"error": error}


def error_response(status: int, code: str, message: str, fields: dict | None = None):
    return JsonResponse(error_body(code, message, fields), status=status)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _organization_model():
    """The organization model, by the token's relation: the API kit sits below the
    organizations app and does not import it."""
    return ApiToken._meta.get_field("organization").related_model


@functools.cache
def _token_query() -> tuple[str, list[str], list[str]]:
    token_fields = [f.attname for f in ApiToken._meta.concrete_fields]
    Organization = _organization_model()
    org_fields = [f.attname for f in Organization._meta.concrete_fields]
    columns = ", ".join(
        [f't."{ApiToken._meta.get_field(a).column}"' for a in token_fields]
        + [f'o."{Organization._meta.get_field(a).column}"' for a in org_fields]
    )
    sql = (
        f'SELECT {columns} FROM "{ApiToken._meta.db_table}" t '
        f'LEFT JOIN "{Organization._meta.db_table}" o ON o."id" = t."organization_id" '
        'WHERE t."token_hash" = %s AND t."revoked_at" IS NULL'
    )
    return sql, token_fields, org_fields


def _active_token(digest: str) -> ApiToken | None:
    """The unrevoked token with this hash, its organization attached.

    Every API request starts here, the consumption's hot path included, so it is one
    statement on a plain cursor with the rows turned into models directly: the ORM's query
    building and raw-query machinery cost more CPU than the consumption's own Python (rules.md
    "Performance"). The organization's columns come from the same row.
    """
    db = router.db_for_read(ApiToken)
    sql, token_fields, org_fields = _token_query()
    with connections[db].cursor() as cursor:
        cursor.execute(sql, [digest])
        row = cursor.fetchone()
    if row is None:
        return None
    values = list(row[: len(token_fields)])
    scopes = token_fields.index("scopes")
    values[scopes] = ApiToken._meta.get_field("scopes").from_db_value(
        values[scopes], None, connections[db]
    )
    api_token = ApiToken.from_db(db, token_fields, values)
    if api_token.organization_id is not None:
        api_token.organization = _organization_model().from_db(
            db, org_fields, row[len(token_fields) :]
        )
    return api_token


@dataclass(frozen=True)
class PendingToken:
    """A bearer token not looked up yet: on PostgreSQL the consumption checks it inside its
    own statement (rules.md "Performance": one round trip on the hot path instead of two). It is
    only a digest until then; anything else that needs the token resolves it first
    (`resolve_token`), and so does an error answered before the statement ran."""

    digest: str
    scope: str


class TokenAuth(HttpBearer):
    """`Authorization: Bearer <token>`; the token is looked up by its SHA-256.

    `checked_in_statement`: the scope an operation's own database statement checks along with
    the token (the consumption); on PostgreSQL the lookup is then left to that statement."""

    def __init__(self, *, checked_in_statement: Scope | None = None):
        super().__init__()
        self.checked_in_statement = checked_in_statement

    def authenticate(self, request, token):
        if not token or len(token) > 200 or "\x00" in token:
            return None
        digest = token_hash(token)
        if self.checked_in_statement:
            return PendingToken(digest, self.checked_in_statement)
        return _token_in_use(digest)


def _token_in_use(digest: str) -> ApiToken | None:
    api_token = _active_token(digest)
    if api_token is None:
        return None
    now = timezone.now()
    # Write "last used" at most once a minute: not a write on every hot-path request.
    if api_token.last_used_at is None or now - api_token.last_used_at > timedelta(minutes=1):
        ApiToken.objects.filter(pk=api_token.pk).update(last_used_at=now)
    return api_token


def resolve_token(request, *, check_scope: bool = True) -> ApiToken:
    """`request.auth` as a token; a pending one is looked up now: 401 when it is unknown or
    revoked, 403 without the scope its operation needs (unless `check_scope` is off)."""
    auth = request.auth
    if isinstance(auth, PendingToken):
        token = _token_in_use(auth.digest)
        if token is None:
            raise errors.Unauthenticated()
        request.auth = token
        if check_scope and auth.scope not in token.scopes:
            raise errors.Forbidden(f"This token lacks the scope {auth.scope}.")
    return request.auth


def token_for_statement(request, scope: Scope) -> PendingToken | None:
    """In an operation whose statement checks the token (`TokenAuth(checked_in_statement=…)`):
    the pending token to hand to it, or None once it was looked up already. The
    view calls it first, so from here on an error answer checks the scope too (403 before
    the view's own 400s), as `require_scope` at the top of any other view does."""
    request.token_scope_due = True
    if isinstance(request.auth, PendingToken):
        return request.auth
    require_scope(request, scope)
    return None


def require_scope(request, scope: Scope) -> ApiToken:
    token = resolve_token(request)
    if scope not in token.scopes:
        raise errors.Forbidden(f"This token lacks the scope {scope}.")
    return token


def require_org_token(request):
    """The organization of an `org:admin` token; every org endpoint sees only this one."""
    token = require_scope(request, Scope.ORG_ADMIN)
    if token.organization_id is None:
        raise errors.Forbidden("This token is not bound to an organization.")
    return token.organization


class ErrorDetail(Schema):
    model_config = ConfigDict(extra="forbid")

    code: str
    message: str = Field(min_length=1)
    fields: dict[str, str] = Field(
        default_factory=dict,
        description="Each wrong field (or `body`) and what is wrong with it; always with 400.",
    )


class ErrorOut(Schema):
    """The API's error format, declared once for every error answer in the OpenAPI schema."""

    model_config = ConfigDict(extra="forbid")

    error: ErrorDetail


# --- What an operation can answer ---------------------------------------------------------------

ERRORS_KEY = "x-portal-errors"
ERROR_DESCRIPTIONS = {
    400: "The request is not valid; `fields` names each wrong field (or `body`).",
    401: "No valid bearer token.",
    402: "Not enough credits.",
    403: "The token lacks the scope this operation needs.",
    404: "Not found for this token.",
    409: "The change conflicts with the current state.",
}
# Every operation needs a token (401) with a scope (403), and any request can be refused for
# its query string (a NUL byte, too many parameters: 400), whatever the operation reads.
ALWAYS = (errors.InvalidRequest, errors.Unauthenticated, errors.Forbidden)


def error_answers(*refusals: type[errors.DomainError], **descriptions: str) -> dict:
    """`openapi_extra` of an operation: the errors it can answer besides 400, 401 and 403, as
    the domain errors of `portal/errors.py` (their status and code). `descriptions` replaces
    the generic description of a status: `not_found="No account with this email."`."""
    by_name = {"invalid": 400, "insufficient": 402, "not_found": 404, "conflict": 409}
    return {
        ERRORS_KEY: {
            "codes": sorted({(cls.status, cls.code) for cls in (*ALWAYS, *refusals)}),
            "descriptions": {by_name[key]: text for key, text in descriptions.items()},
        }
    }


def _error_responses(declared: dict) -> dict:
    codes: dict[int, list[str]] = {}
    for status, code in declared["codes"]:
        codes.setdefault(status, []).append(code)
    responses = {}
    for status, status_codes in sorted(codes.items()):
        detail = {"type": "object", "properties": {"code": {"enum": status_codes}}}
        if status == 400:
            detail["required"] = ["fields"]
            detail["properties"]["fields"] = {"type": "object", "minProperties": 1}
        description = declared["descriptions"].get(status, ERROR_DESCRIPTIONS[status])
        listed = ", ".join(f"`{code}`" for code in status_codes)
        schema = {
            "allOf": [
                {"$ref": "#/components/schemas/ErrorOut"},
                {"type": "object", "properties": {"error": detail}},
            ]
        }
        responses[status] = {
            "description": f"{description} Code: {listed}.",
            "content": {"application/json": {"schema": schema}},
        }
    return responses


# Every path and query parameter is bounded, so that no valid request comes near this limit.
URL_TOO_LONG = (
    "The URL is longer than the web server in front takes (gunicorn: a request line of 4,094 "
    "bytes); no valid request is that long. Answered by that server, not in the error format."
)

# Operations that do not say what they answer get those of any operation with an object.
DEFAULT_ERRORS = error_answers(errors.NotFound)[ERRORS_KEY]


# --- Values with a format -----------------------------------------------------------------------

# An email address as the API takes it: a dot-atom local part of at most 64 characters, an
# ASCII host name (labels of at most 63 letters, digits and single hyphens, no punycode) with a
# top-level domain of letters, 254 characters at most: what the `email` format and every
# mail system take. Narrower than the pages (quoted local parts, non-ASCII domains, `%`, which
# clients that pass pre-encoded paths would read as an escape): a service names accounts by
# plain addresses. Applied with `fullmatch` (a trailing newline).
_ATOM = r"[A-Za-z0-9!#$&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:-?[A-Za-z0-9])*"
EMAIL_PATTERN = rf"^{_ATOM}(?:\.{_ATOM})*@(?:{_LABEL}\.)+[A-Za-z]{{2,63}}$"
EMAIL_RE = re.compile(EMAIL_PATTERN)
EMAIL_MAX_LENGTH = 254


def email_problem(value: str) -> str | None:
    """What is wrong with `value` as an email address of the API, or None."""
    if len(value) > EMAIL_MAX_LENGTH:
        return f"at most {EMAIL_MAX_LENGTH} characters"
    if not EMAIL_RE.fullmatch(value):
        return "not a valid email address"
    local, _, domain = value.rpartition("@")
    if len(local) > 64 or any(len(label) > 63 for label in domain.split(".")):
        return "not a valid email address"
    return None


def _check_email(value: str) -> str:
    problem = email_problem(value)
    if problem:
        raise ValueError(problem)
    return value


EMAIL_SCHEMA = {
    "type": "string",
    "format": "email",
    "maxLength": EMAIL_MAX_LENGTH,
    "pattern": EMAIL_PATTERN,
}
# An email address in a body or in the path (percent-encoded there: an address with a `/`
# cannot be given in a path). Compared without regard to case.
Email = Annotated[StrictStr, AfterValidator(_check_email), WithJsonSchema(EMAIL_SCHEMA)]


def _amount_check(*, allow_zero: bool):
    def check(value: str) -> str:
        try:
            parse_amount(value, allow_zero=allow_zero)
        except errors.InvalidRequest as exc:
            raise ValueError(exc.fields["amount"]) from None
        return value

    return check


_AMOUNT_SCHEMA = {"type": "string", "pattern": AMOUNT_PATTERN, "maxLength": 15}
# An amount of credits in a body: a JSON string of at most 12 digits and 2 decimals, more than
# zero. Numbers are refused, not rounded.
Amount = Annotated[
    StrictStr,
    AfterValidator(_amount_check(allow_zero=False)),
    WithJsonSchema(
        {
            **_AMOUNT_SCHEMA,
            "not": {"pattern": ZERO_AMOUNT_PATTERN},
            "description": "More than zero, at most 12 digits and 2 decimals, as a string",
            "examples": ["12.50"],
        }
    ),
]
# The same, zero included (a quota's limit).
AmountOrZero = Annotated[
    StrictStr,
    AfterValidator(_amount_check(allow_zero=True)),
    WithJsonSchema(
        {
            **_AMOUNT_SCHEMA,
            "description": "At most 12 digits and 2 decimals, as a string; zero allowed",
            "examples": ["100"],
        }
    ),
]
# An amount in an answer: always two decimals.
AmountOut = Annotated[
    str, WithJsonSchema({"type": "string", "pattern": r"^[0-9]+\.[0-9]{2}$", "examples": ["12.50"]})
]

# Text in a query string: anything but NUL, which `QueryStringGuardMiddleware` refuses (400)
# in any query string before a view runs.
QUERY_TEXT_PATTERN = r"^[^\x00]*$"

_DIGITS = re.compile(r"[0-9]{1,20}")


def digits_only(value):
    """A whole number in a path or a query string is digits only: no sign, space, newline,
    point or underscore, which a lax integer parser would take ("1\n", "+1", "1_0")."""
    if isinstance(value, str) and not _DIGITS.fullmatch(value):
        raise ValueError("must be a whole number written with digits only")
    return value


PAGE_MAX = 1_000_000
# The `page` of a list (100 items a page).
Page = Annotated[
    int,
    # Before the validator: pydantic would otherwise publish `ge`/`le` for minimum/maximum.
    Field(ge=1, le=PAGE_MAX, description="Page number, from 1"),
    BeforeValidator(digits_only),
]


class JsonOnlyParser(Parser):
    """Bodies are JSON, declared as such: a form post or text/plain is refused (400), not
    guessed at."""

    def parse_body(self, request):
        if request.content_type != "application/json":
            raise ValueError("The body must be JSON (Content-Type: application/json).")
        return super().parse_body(request)


RULE = r"R\d+(?:[–/-]R?\d+)*"
RULE_CITATION = re.compile(rf"\s*\((?:{RULE}(?:,\s*)?)+\)|\b{RULE}:\s*")


def without_rule_citations(text: str) -> str:
    """Docstrings cite the rules they implement ("R6: …", "(R13)") for developers; the
    published API description reads without them."""
    text = RULE_CITATION.sub("", text)
    return text[:1].upper() + text[1:]


class PortalAPI(NinjaAPI):
    def get_openapi_operation_id(self, operation):
        return operation.view_func.__name__

    def get_openapi_schema(self, *, path_prefix=None, path_params=None):
        """The description, built once per process: the routes do not change while it runs, and
        building it walks every operation and model (tens of milliseconds). Callers read it,
        never change it."""
        key = (path_prefix, tuple(sorted((path_params or {}).items())))
        cache = self.__dict__.setdefault("_openapi_schemas", {})
        if key not in cache:
            cache[key] = self._build_openapi_schema(
                path_prefix=path_prefix, path_params=path_params
            )
        return cache[key]

    def _build_openapi_schema(self, *, path_prefix=None, path_params=None):
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        error_schema = ErrorOut.model_json_schema(ref_template="#/components/schemas/{model}")
        components = schema["components"].setdefault("schemas", {})
        components.update(error_schema.pop("$defs"))
        components["ErrorOut"] = error_schema
        for methods in schema["paths"].values():
            for operation in methods.values():
                declared = operation.pop(ERRORS_KEY, DEFAULT_ERRORS)
                responses = operation.setdefault("responses", {})
                responses.update(_error_responses(declared))
                responses[414] = {"description": URL_TOO_LONG}
                for key in ("summary", "description"):
                    if key in operation:
                        operation[key] = without_rule_citations(operation[key])
        return schema

    def on_exception(self, request, exc):
        if isinstance(getattr(request, "auth", None), PendingToken):
            # Answered before the statement checked the token: the token's errors come first,
            # in the order of every other operation: 401 before the body is read, 403 (the
            # view's scope check) only once the view has begun (`token_for_statement`).
            try:
                resolve_token(request, check_scope=getattr(request, "token_scope_due", False))
            except errors.DomainError as token_error:
                exc = token_error
        with audit_channel("api"):
            return super().on_exception(request, exc)


api = PortalAPI(
    title="Self-Service Portal API",
    version="1",
    description=(
        "Entitlements and cloud credits for the vendor's services; members, seats and credit "
        "access for organization administrators. Authenticate with `Authorization: Bearer "
        "<token>`."
    ),
    auth=TokenAuth(),
    parser=JsonOnlyParser(),
    urls_namespace="api",
    docs_url="/docs",
    openapi_url="/openapi.json",
)


def _field_errors(validation_errors: list[dict]) -> dict:
    fields: dict[str, str] = {}
    for err in validation_errors:
        loc = [str(part) for part in err.get("loc", []) if part not in ("body", "query", "path")]
        # Pydantic names the payload argument first ("payload"); the client knows only fields.
        if loc and loc[0] in ("payload", "data", "filters"):
            loc = loc[1:]
        message = err.get("msg", "invalid value").removeprefix("Value error, ")
        ctx = err.get("ctx") or {}
        if err.get("type") in ("union_tag_invalid", "union_tag_not_found"):
            # A body with one shape per value of a field (`mode`): that field is wrong.
            loc = [str(ctx.get("discriminator", "")).strip("'")]
            expected = str(ctx.get("expected_tags", "")).replace("'", "")
            message = f"one of {expected}" if expected else "required"
        # A variant of such a body puts its tag first ("quota.limit"); bodies hold no nested
        # objects, so the field is the last part.
        key = loc[-1] if loc else "body"
        fields.setdefault(key, message)
    return fields


@api.exception_handler(errors.DomainError)
def _domain_error(request, exc: errors.DomainError):
    fields = exc.fields if (exc.fields or exc.status == 400) else None
    return error_response(exc.status, exc.code, exc.message, fields)


@api.exception_handler(ValidationError)
def _validation_error(request, exc: ValidationError):
    return error_response(
        400, "invalid_request", "The request is not valid.", _field_errors(exc.errors)
    )


@api.exception_handler(AuthenticationError)
def _unauthenticated(request, exc):
    return error_response(401, "unauthenticated", "A valid bearer token is required.")


@api.exception_handler(HttpError)
def _http_error(request, exc: HttpError):
    code = STATUS_CODES.get(exc.status_code, "invalid_request")
    message = str(exc)
    fields = {"body": message} if exc.status_code == 400 else None
    return error_response(exc.status_code, code, message, fields)


@api.exception_handler(RequestDataTooBig)
def _too_big(request, exc):
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE // (1024 * 1024)
    message = f"The body is larger than {limit} MiB."
    return error_response(400, "invalid_request", message, {"body": message})


@api.exception_handler(Http404)
def _not_found(request, exc):
    return error_response(404, "not_found", "Not found.")


@api.exception_handler(Exception)
def _unexpected(request, exc):
    logger.exception("Unexpected API error", exc_info=exc)
    return error_response(500, "internal_error", "Something went wrong; it has been logged.")


# Exempt from the CSRF check, like the API's own views: the check would otherwise answer a POST
# to an unknown path 403 before this view could answer 404.
@csrf_exempt
def api_not_found(request, *args, **kwargs):
    """Unknown routes under /api/ answer in the API's error format, not with an HTML page."""
    return error_response(404, "not_found", "No such endpoint.")
