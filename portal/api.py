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

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import connections, router
from django.http import Http404, JsonResponse
from django.utils import timezone
from ninja import NinjaAPI, Schema
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.parser import Parser
from ninja.security import HttpBearer
from pydantic import ConfigDict

from portal import errors
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
    the pending token to hand to it, or None once the ordinary check passed (SQLite). The
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
    message: str
    fields: dict[str, str] | None = None


class ErrorOut(Schema):
    """The API's error format, declared once for every error answer in the OpenAPI schema."""

    model_config = ConfigDict(extra="forbid")

    error: ErrorDetail


# Error answers every operation can give (validation, token, scope, unknown account or object);
# writes can also conflict (409), and only a consumption can lack credits (402).
ERROR_STATUSES = {
    400: "The request is not valid (`invalid_request`, with `fields`).",
    401: "No valid bearer token (`unauthenticated`).",
    403: "The token lacks the scope (`forbidden`).",
    404: "No such account, member or object for this token (`not_found`).",
}
WRITE_ERROR_STATUSES = {409: "The change conflicts with the current state (see the error codes)."}
OPERATION_ERROR_STATUSES = {
    "consumption_create": {
        402: "Not enough credits (`insufficient_credits`, `quota_exceeded`, `no_credit_source`)."
    },
}


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
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        error_schema = ErrorOut.model_json_schema(ref_template="#/components/schemas/{model}")
        components = schema["components"].setdefault("schemas", {})
        components.update(error_schema.pop("$defs"))
        components["ErrorOut"] = error_schema
        ref = {
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}
        }
        for methods in schema["paths"].values():
            for method, operation in methods.items():
                statuses = dict(ERROR_STATUSES)
                if method in ("post", "put", "patch", "delete"):
                    statuses.update(WRITE_ERROR_STATUSES)
                statuses.update(OPERATION_ERROR_STATUSES.get(operation.get("operationId"), {}))
                responses = operation.setdefault("responses", {})
                for status, description in sorted(statuses.items()):
                    responses.setdefault(status, {"description": description, **ref})
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
        if len(loc) > 1 and loc[0] in ("payload", "data", "filters"):
            loc = loc[1:]
        key = ".".join(loc) or "body"
        fields.setdefault(key, err.get("msg", "invalid value").removeprefix("Value error, "))
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


def api_not_found(request, *args, **kwargs):
    """Unknown routes under /api/ answer in the API's error format, not with an HTML page."""
    return error_response(404, "not_found", "No such endpoint.")
