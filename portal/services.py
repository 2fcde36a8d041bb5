"""Writes for API tokens and announcements."""

import secrets

from django.db import IntegrityError, transaction
from django.utils import timezone

from portal import errors
from portal.api import token_hash
from portal.audit import audit_record
from portal.models import (
    ORGANIZATION_SCOPES,
    SERVICE_SCOPES,
    Announcement,
    AnnouncementDismissal,
    ApiToken,
    Scope,
)

TOKEN_PREFIX = "ssp_"


def api_token_create(
    *, actor, name: str, scopes: list[str], organization=None
) -> tuple[ApiToken, str]:
    """Create a token and return it with its secret, which is never stored or shown again.

    Organization tokens carry `org:admin` and/or `scim` (R44); service tokens only service
    scopes.
    """
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise errors.InvalidRequest(
            "Give the token a name of 1 to 100 characters.",
            field="name",
            fields={"name": "1–100 characters"},
        )
    scopes = sorted({scope.strip() for scope in scopes if scope.strip()})
    unknown = [scope for scope in scopes if scope not in Scope.values]
    if not scopes or unknown:
        raise errors.InvalidRequest(
            f"Unknown scope: {', '.join(unknown)}." if unknown else "Give at least one scope.",
            field="scopes",
            fields={"scopes": f"choose from {', '.join(Scope.values)}"},
        )
    if organization is not None and not set(scopes) <= ORGANIZATION_SCOPES:
        raise errors.InvalidRequest(
            "An organization token has the scopes org:admin and scim only.",
            field="scopes",
            fields={"scopes": "org:admin or scim for an organization token"},
        )
    if organization is None and not set(scopes) <= SERVICE_SCOPES:
        raise errors.InvalidRequest(
            "org:admin and scim need an organization (--org).",
            field="scopes",
            fields={"scopes": "org:admin and scim need an organization"},
        )
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        token = ApiToken.objects.create(
            name=name,
            prefix=secret[:12],
            token_hash=token_hash(secret),
            scopes=scopes,
            organization=organization,
            created_by=actor,
        )
        audit_record(
            actor=actor,
            action="api_token.created",
            organization=organization,
            target=name,
            details={"scopes": scopes, "prefix": token.prefix},
        )
    return token, secret


def api_token_revoke(*, actor, token: ApiToken) -> ApiToken:
    with transaction.atomic():
        token = ApiToken.objects.select_for_update().get(pk=token.pk)
        if token.revoked_at is None:
            token.revoked_at = timezone.now()
            token.save(update_fields=["revoked_at"])
            audit_record(
                actor=actor,
                action="api_token.revoked",
                organization=token.organization,
                target=token.name,
                details={"prefix": token.prefix},
            )
    return token


def announcement_dismiss(*, account, announcement: Announcement) -> None:
    """R33: a user can dismiss an announcement; dismissing twice is harmless."""
    try:
        with transaction.atomic():
            AnnouncementDismissal.objects.create(announcement=announcement, account=account)
    except IntegrityError:
        pass
