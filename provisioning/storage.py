"""The portal's members as the SCIM server's storage (R44).

`scim2-server` parses and validates every request, applies PUT and PATCH to the resource it
reads here, and writes the answers; this storage reads through `provisioning.selectors` and
writes through `provisioning.services`, for one organization only (the token's), and turns the
portal's refusals into SCIM errors with the status and `scimType` R44 names.
"""

import contextlib
from typing import Any

from django.db import transaction
from scim2_models import (
    InvalidFilterException,
    InvalidValueException,
    MutabilityException,
    NotFoundException,
    Resource,
    ResourceType,
    ResponseParameters,
    SCIMException,
    SearchRequest,
    UniquenessException,
)
from scim2_models.path.expressions import AttrPath, CompareOperator, Comparison
from scim2_server.storage import ScimStorage, SearchPage

from organizations.models import Account, Membership, Organization
from portal import errors
from provisioning import selectors, services
from provisioning.schema import PROVIDER, USER_MAX_RESULTS

# What the record keeps besides userName and externalId, as the directory sent it.
KEPT = ("name", "displayName", "emails")
FILTERS = {"username": "user_name", "externalid": "external_id"}


def scim_error(exc: errors.DomainError) -> SCIMException:
    """A portal refusal as the SCIM error R44 names for it."""
    if isinstance(exc, errors.NotFound):
        return NotFoundException(detail="No such user in this organization.")
    if isinstance(exc, errors.CannotRemoveAdmin | services.UserNameImmutable):
        return MutabilityException(detail=exc.message)
    if isinstance(exc, errors.Conflict):
        return UniquenessException(detail=exc.message)
    return InvalidValueException(detail=exc.message)


@contextlib.contextmanager
def portal_errors_as_scim():
    try:
        yield
    except errors.DomainError as exc:
        raise scim_error(exc) from exc


def membership_id(resource_id: str | None) -> int:
    """The membership id a SCIM id stands for; anything else is a user that does not exist."""
    if not resource_id or not resource_id.isascii() or not resource_id.isdigit():
        raise NotFoundException(detail="No such user in this organization.")
    value = int(resource_id)
    if value > 2**63 - 1:
        raise NotFoundException(detail="No such user in this organization.")
    return value


def _version(membership: Membership) -> str:
    record = getattr(membership, "directory_user", None)
    changed = record.updated_at if record else membership.created_at
    return f'W/"{changed.timestamp():.6f}"'


def user_document(membership: Membership, *, active: bool = True) -> dict[str, Any]:
    """The member as a SCIM User: the directory's record when it has one, else what the
    portal knows of a member added by hand (its email as userName and address)."""
    record = getattr(membership, "directory_user", None)
    account = membership.account
    if record is not None:
        document = {key: value for key, value in record.attributes.items() if key in KEPT}
        document["userName"] = record.user_name
        if record.external_id:
            document["externalId"] = record.external_id
        created, modified = record.created_at, record.updated_at
    else:
        document = {
            "userName": account.email,
            "emails": [{"value": account.email, "type": "work", "primary": True}],
        }
        if account.name:
            document["name"] = {"formatted": account.name}
            document["displayName"] = account.name
        created = modified = membership.created_at
    document.update(
        {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "id": str(membership.pk),
            "active": active,
            "meta": {
                "resourceType": "User",
                "created": created.isoformat(),
                "lastModified": modified.isoformat(),
                "version": _version(membership),
            },
        }
    )
    return document


def _kept_attributes(document: dict[str, Any]) -> dict[str, Any]:
    return {key: document[key] for key in KEPT if document.get(key) not in (None, [], {})}


def account_email(document: dict[str, Any]) -> str:
    """The address a new member signs in with: the primary email, else the first."""
    emails = [e for e in document.get("emails") or [] if isinstance(e, dict) and e.get("value")]
    if not emails:
        raise InvalidValueException(detail="A user needs an email address (emails).")
    primary = next((e for e in emails if e.get("primary")), emails[0])
    return str(primary["value"])


def display_name(document: dict[str, Any]) -> str:
    name = document.get("name") or {}
    given = " ".join(part for part in (name.get("givenName"), name.get("familyName")) if part)
    return (name.get("formatted") or given or document.get("displayName") or "")[:150]


class MembersStorage(ScimStorage):
    """The members of one organization, changed by `actor` (who made the token, if anyone)."""

    def __init__(self, *, organization: Organization, actor: Account | None):
        self.organization = organization
        self.actor = actor

    def operation(self):
        # One SCIM operation, one transaction: a refusal changes nothing.
        return transaction.atomic()

    def _resource(self, resource_type: ResourceType, membership: Membership, **kw):
        model = PROVIDER.model_for(resource_type)
        return model.model_validate(user_document(membership, **kw))

    def _member(self, resource_id: str | None) -> Membership:
        membership = selectors.directory_member(
            organization=self.organization, membership_id=membership_id(resource_id)
        )
        if membership is None:
            raise NotFoundException(detail="No such user in this organization.")
        return membership

    def get(
        self,
        resource_type: ResourceType,
        resource_id: str,
        *,
        response_parameters: ResponseParameters[Any] | None = None,
    ) -> Resource[Any]:
        return self._resource(resource_type, self._member(resource_id))

    def search(
        self,
        resource_types: list[ResourceType],
        search_request: SearchRequest[Any],
        *,
        position: Any = None,
    ) -> SearchPage:
        narrowing = self._narrowing(search_request)
        start = max(search_request.start_index or 1, 1)
        count = search_request.count if search_request.count is not None else USER_MAX_RESULTS
        count = max(min(count, USER_MAX_RESULTS), 0)
        page = selectors.directory_members(
            organization=self.organization, offset=start - 1, limit=count, **narrowing
        )
        resource_type = resource_types[0]
        return SearchPage(
            total=page.total,
            resources=[self._resource(resource_type, m) for m in page.members],
        )

    @staticmethod
    def _narrowing(search_request: SearchRequest[Any]) -> dict[str, str]:
        """R44 asks for `userName eq "…"`; `externalId eq "…"` comes with it (Entra ID can
        match on it). Any other filter is refused rather than answered wrong."""
        if search_request.filter is None:
            return {}
        node = search_request.filter.ast
        if (
            isinstance(node, Comparison)
            and node.op == CompareOperator.eq
            and isinstance(node.attr_path, AttrPath)
            and node.attr_path.sub_attr is None
            and node.attr_path.attr.lower() in FILTERS
            and isinstance(node.value, str)
        ):
            if "\x00" in node.value:
                return {FILTERS[node.attr_path.attr.lower()]: ""}
            return {FILTERS[node.attr_path.attr.lower()]: node.value}
        raise InvalidFilterException(
            detail='Only the filters userName eq "…" and externalId eq "…" are supported.'
        )

    def create(self, resource_type: ResourceType, resource: Resource[Any]) -> Resource[Any]:
        document = resource.model_dump()
        with portal_errors_as_scim():
            record = services.directory_user_create(
                actor=self.actor,
                organization=self.organization,
                user_name=str(document.get("userName") or ""),
                email=account_email(document),
                name=display_name(document),
                external_id=str(document.get("externalId") or "")[:254],
                attributes=_kept_attributes(document),
            )
        return self._resource(resource_type, self._member(str(record.pk)))

    def update(
        self,
        resource_type: ResourceType,
        resource: Resource[Any],
        *,
        expected_version: str | None = None,
    ) -> Resource[Any]:
        document = resource.model_dump()
        with portal_errors_as_scim():
            services.directory_user_replace(
                actor=self.actor,
                organization=self.organization,
                membership_id=membership_id(resource.id),
                user_name=str(document.get("userName") or ""),
                external_id=str(document.get("externalId") or "")[:254],
                attributes=_kept_attributes(document),
            )
        return self._resource(resource_type, self._member(resource.id))

    def delete(
        self,
        resource_type: ResourceType,
        resource_id: str,
        *,
        expected_version: str | None = None,
    ) -> None:
        with portal_errors_as_scim():
            services.directory_user_remove(
                actor=self.actor,
                organization=self.organization,
                membership_id=membership_id(resource_id),
            )

    def deactivate(self, resource_type: ResourceType, resource_id: str) -> dict[str, Any]:
        """`active: false`: the member is removed (R9); the answer is the user as it was, now
        inactive."""
        with transaction.atomic():
            document = user_document(self._member(resource_id), active=False)
            self.delete(resource_type, resource_id)
        return document
