"""`/scim/v2/` (R44): the organization's directory manages its members with an organization
token of scope `scim`. `scim2-server` serves the protocol (routing, validation, PATCH,
discovery, SCIM errors); this module reads the Django request, checks the token, and hands
deactivations (`active: false`) to the removal (R9) before the generic handling sees them.
"""

import json
import logging
from http import HTTPStatus
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt
from scim2_models import (
    ForbiddenException,
    InvalidValueException,
    PayloadTooLargeException,
    SCIMException,
    UnauthorizedException,
)
from scim2_server.handler import ScimHandler
from scim2_server.requests import ScimRequest
from scim2_server.responses import ScimResponse
from scim2_server.routing import Operation
from scim2_server.service import ScimService

from portal.api import TokenAuth
from portal.audit import audit_channel
from portal.models import ApiToken, Scope
from provisioning.schema import PROVIDER
from provisioning.storage import MembersStorage

logger = logging.getLogger(__name__)

SERVICE = ScimService(PROVIDER)
ACTIVE_PATHS = ("active", "urn:ietf:params:scim:schemas:core:2.0:user:active")
BASE_PATH = "/scim/v2"


def _is_false(value: Any) -> bool:
    # Entra ID sends booleans in PATCH values as the strings "True" and "False".
    return value is False or (isinstance(value, str) and value.strip().lower() == "false")


def _sets_active(operation: dict) -> tuple[bool, Any]:
    """Whether one PATCH operation sets `active`, and to what."""
    if str(operation.get("op", "")).lower() not in ("add", "replace"):
        return False, None
    path = operation.get("path")
    value = operation.get("value")
    if isinstance(path, str) and path.strip().lower() in ACTIVE_PATHS:
        return True, value
    if path is None and isinstance(value, dict):
        for key, item in value.items():
            if key.lower() == "active":
                return True, item
    return False, None


def _without_active(operation: dict) -> dict | None:
    """The operation without what it says about `active` (read-only here), or None when that
    was all of it."""
    if operation.get("path") is not None:
        return None
    rest = {k: v for k, v in operation["value"].items() if k.lower() != "active"}
    return {**operation, "value": rest} if rest else None


class DirectoryHandler(ScimHandler):
    """The generic handler, with R44's meaning of `active`: false removes the member."""

    storage: MembersStorage

    def create(self, request: ScimRequest) -> ScimResponse:
        body = _json(request.body)
        if isinstance(body, dict) and any(
            k.lower() == "active" and _is_false(v) for k, v in body.items()
        ):
            raise InvalidValueException(
                detail="An inactive user is not added: add the user once it is active."
            )
        return super().create(request)

    def replace(self, request: ScimRequest) -> ScimResponse:
        body = _json(request.body)
        if isinstance(body, dict) and any(
            k.lower() == "active" and _is_false(v) for k, v in body.items()
        ):
            return self._deactivate(request, Operation.replace)
        return super().replace(request)

    def patch(self, request: ScimRequest) -> ScimResponse:
        body = _json(request.body)
        operations = body.get("Operations") if isinstance(body, dict) else None
        if not isinstance(operations, list) or not all(isinstance(o, dict) for o in operations):
            return super().patch(request)
        kept = []
        for operation in operations:
            sets, value = _sets_active(operation)
            if not sets:
                kept.append(operation)
                continue
            if _is_false(value):
                return self._deactivate(request, Operation.patch)
            # `active: true` is what every kept user is already: nothing to change.
            rest = _without_active(operation)
            if rest is not None:
                kept.append(rest)
        if len(kept) == len(operations):
            return super().patch(request)
        if not kept:
            return self.query(
                ScimRequest(
                    method="GET",
                    base_url=request.base_url,
                    path=request.path,
                    headers=request.headers,
                    subject=request.subject,
                )
            )
        body["Operations"] = kept
        request.body = json.dumps(body).encode()
        return super().patch(request)

    def _deactivate(self, request: ScimRequest, operation: Operation) -> ScimResponse:
        with self.service.provider:
            target = self.service.route(request, operation)
            resource_type = self.service.resource_type_at(target.endpoint)
            document = self.storage.deactivate(resource_type, target.resource_id)
        document["meta"]["location"] = f"{request.base_url}/Users/{document['id']}"
        return ScimResponse(HTTPStatus.OK, document)


def _json(body: bytes) -> Any:
    try:
        return json.loads(body or b"null")
    except (ValueError, UnicodeDecodeError):
        return None


def _token(request) -> ApiToken:
    """The organization token of scope `scim` the request carries: 401 without a valid token,
    403 for a token without the scope or without an organization."""
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    token = None
    if scheme.lower() == "bearer":
        token = TokenAuth().authenticate(request, secret.strip())
    if token is None:
        raise UnauthorizedException(detail="A valid bearer token is required.")
    if Scope.SCIM not in token.scopes or token.organization_id is None:
        raise ForbiddenException(detail="This token lacks the scope scim of an organization.")
    return token


def _scim_request(request, path: str) -> ScimRequest:
    return ScimRequest(
        method=request.method,
        base_url=request.build_absolute_uri(BASE_PATH),
        path="/" + path.removesuffix(".scim"),
        query=request.GET.dict(),
        headers=dict(request.headers),
        body=request.body,
    )


def _serve(request, path: str) -> ScimResponse:
    try:
        scim_request = _scim_request(request, path)
    except RequestDataTooBig:
        raise PayloadTooLargeException(detail="The body is too large.") from None
    with PROVIDER:
        public = SERVICE.match(scim_request).operation is Operation.service_provider_config
    if public:
        # RFC 7643 §5: the configuration is readable without authentication.
        return DirectoryHandler(SERVICE, MembersStorage(organization=None, actor=None)).handle(
            scim_request
        )
    token = _token(request)
    scim_request.subject = token
    storage = MembersStorage(organization=token.organization, actor=token.created_by)
    with audit_channel("scim"):
        return DirectoryHandler(SERVICE, storage).handle(scim_request)


@csrf_exempt
def scim(request, path: str = ""):
    try:
        response = _serve(request, path)
    except SCIMException as exc:
        response = SERVICE.error_response(exc)
    except Exception as exc:  # noqa: BLE001 — answered in the SCIM format, never as a page
        logger.exception("Unexpected SCIM error", exc_info=exc)
        response = SERVICE.error_response(exc)
    answer = HttpResponse(
        b"" if response.body is None else json.dumps(response.body).encode(),
        status=response.status.value,
        content_type="application/scim+json",
    )
    for name, value in response.headers.items():
        if name.lower() != "content-type":
            answer[name] = value
    answer.setdefault("Cache-Control", "no-cache")
    return answer
