"""Licensing endpoints: entitlements (service) and organization seats (org:admin)."""

from datetime import datetime
from typing import Annotated, Literal

from django.http import HttpResponse
from django.urls import reverse
from ninja import Field, Path, Query, Router, Schema
from pydantic import BeforeValidator

from licensing import selectors, services
from licensing.models import LicenseKind
from organizations.models import Account, normalize_email
from portal import errors
from portal.api import (
    QUERY_TEXT_PATTERN,
    Email,
    Page,
    digits_only,
    error_answers,
    require_org_token,
    require_scope,
)
from portal.models import Scope

router = Router(tags=["licensing"])

PAGE_SIZE = 100


Kind = Literal[tuple(LicenseKind.values)]
# A license id: a positive 64-bit integer, in digits.
LicenseId = Annotated[int, BeforeValidator(digits_only), Path(ge=1, le=2**63 - 1)]


class SourceOut(Schema):
    source: Literal["personal", "organization"]
    license_id: int
    kind: Kind
    valid_until: datetime | None = Field(description="null: perpetual")


class ProductEntitlementOut(Schema):
    product: str
    name: str
    sources: list[SourceOut]


class EntitlementsOut(Schema):
    account: str
    products: list[ProductEntitlementOut]


@router.get(
    "/accounts/{email}/entitlements",
    response=EntitlementsOut,
    summary="What an account may use now (R14)",
    openapi_extra=error_answers(errors.NotFound, not_found="No account with this email."),
)
def account_entitlements(request, email: Email):
    """The products of the account's active personal licenses and of the active
    organizational seats assigned to it, each with its sources. Scope `entitlements:read`."""
    require_scope(request, Scope.ENTITLEMENTS_READ)
    account = Account.objects.filter(email=normalize_email(email)).first()
    if account is None:
        raise errors.NotFound("No account with this email.")
    return {
        "account": account.email,
        "products": selectors.entitlements_for_account(account=account),
    }


class LicenseOut(Schema):
    id: int
    product: str
    kind: Kind
    valid_until: datetime | None
    active: bool
    assignee: str | None = Field(description="Email of the member; null when unassigned")


class LicensePage(Schema):
    results: list[LicenseOut]
    next: str | None


class LicenseFilters(Schema):
    product: str = Field(
        "", max_length=50, pattern=QUERY_TEXT_PATTERN, description="Product code; empty: all"
    )
    page: Page = 1


@router.get(
    "/org/licenses",
    response=LicensePage,
    summary="The organization's licenses",
    openapi_extra=error_answers(),
)
def org_licenses(request, filters: Query[LicenseFilters]):
    """Every seat of the token's organization (100 a page), with its effective assignee."""
    organization = require_org_token(request)
    start = (filters.page - 1) * PAGE_SIZE
    rows = list(
        selectors.org_licenses_for_api(organization=organization, product_code=filters.product)[
            start : start + PAGE_SIZE + 1
        ]
    )
    next_url = None
    if len(rows) > PAGE_SIZE:
        rows = rows[:PAGE_SIZE]
        query = request.GET.copy()
        query["page"] = str(filters.page + 1)
        next_url = request.build_absolute_uri(f"{reverse('api:org_licenses')}?{query.urlencode()}")
    return {"results": [selectors.license_api_row(seat) for seat in rows], "next": next_url}


class AssigneeIn(Schema):
    email: Email


@router.put(
    "/org/licenses/{license_id}/assignee",
    response=LicenseOut,
    summary="Assign a seat",
    openapi_extra=error_answers(
        errors.NotFound,
        errors.SeatUnavailable,
        errors.DuplicateProductSeat,
        errors.NotAMember,
        not_found="No such seat in this organization.",
    ),
)
def org_license_assign(request, license_id: LicenseId, payload: AssigneeIn):
    """Assign the seat to a member, or move it to them from its current member (R13)."""
    organization = require_org_token(request)
    seat = services.seat_assign(
        actor=request.auth.created_by,
        organization=organization,
        seat_id=license_id,
        email=payload.email,
        allow_reassign=True,
    )
    seat = selectors.org_licenses_for_api(organization=organization).get(pk=seat.pk)
    return selectors.license_api_row(seat)


@router.delete(
    "/org/licenses/{license_id}/assignee",
    response={204: None},
    summary="Revoke a seat",
    openapi_extra=error_answers(errors.NotFound, not_found="No such seat in this organization."),
)
def org_license_revoke(request, license_id: LicenseId):
    """Unassign the seat (R13). A free seat answers 204 as well."""
    organization = require_org_token(request)
    services.seat_revoke(
        actor=request.auth.created_by, organization=organization, seat_id=license_id
    )
    return HttpResponse(status=204)
