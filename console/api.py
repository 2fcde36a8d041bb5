"""The API's routes: the organization endpoints (scope `org:admin`; the token's organization
only), which show members with their products and credit access, and the routers of licensing
and credits, all on the one API of `portal.api`."""

from typing import Literal
from urllib.parse import urlencode

from ninja import Field, Query, Router, Schema, Status

from console import selectors as console_selectors
from credits.api import QuotaPeriodOut
from credits.api import router as credits_router
from licensing.api import router as licensing_router
from organizations import services
from portal import errors
from portal.amounts import format_amount
from portal.api import (
    QUERY_TEXT_PATTERN,
    AmountOut,
    Email,
    Page,
    api,
    error_answers,
    require_org_token,
)

router = Router(tags=["organization"])


class OrganizationOut(Schema):
    name: str
    customer_number: str
    members: int
    pool_available: AmountOut


@router.get(
    "/org",
    response=OrganizationOut,
    summary="The token's organization",
    openapi_extra=error_answers(
        invalid="The query string is not valid (a NUL byte, too many parameters)."
    ),
)
def org_detail(request):
    organization = require_org_token(request)
    return console_selectors.organization_summary(organization=organization)


# --- Members (R6, R9, R10) ------------------------------------------------------------------

MEMBERS_PER_PAGE = 100


class MemberCreditAccessOut(Schema):
    """Named apart from the credits API's CreditAccessOut: OpenAPI keeps one schema per name."""

    mode: Literal["disabled", "unlimited", "quota"]
    limit: AmountOut | None = Field(description="With `quota` only")
    period: QuotaPeriodOut
    used: AmountOut | None


class MemberOut(Schema):
    email: str
    status: Literal["member", "invited"]
    role: Literal["admin", "member"]
    credit_access: MemberCreditAccessOut | None = Field(description="null for an invitation")
    products: list[str] = Field(description="Codes of the products of the member's seats")


class MembersPage(Schema):
    results: list[MemberOut]
    next: str | None


class MemberAddIn(Schema):
    email: Email


class MemberAddOut(Schema):
    email: str
    status: Literal["member", "invited"]


def _member_out(row: dict) -> dict:
    if row["kind"] == "invited":
        return {
            "email": row["email"],
            "status": "invited",
            "role": "member",
            "credit_access": None,
            "products": [],
        }
    membership, access = row["membership"], row["access"]
    return {
        "email": row["email"],
        "status": "member",
        "role": membership.role,
        "credit_access": {
            "mode": access.mode,
            "limit": format_amount(access.limit),
            "period": access.period,
            "used": format_amount(row["used"]),
        },
        "products": sorted({seat.code for seat in row["seats"]}),
    }


class MemberFilters(Schema):
    q: str = Field(
        "", max_length=100, pattern=QUERY_TEXT_PATTERN, description="Part of an email or name"
    )
    page: Page = 1


@router.get(
    "/org/members",
    response=MembersPage,
    summary="Members and pending invitations",
    openapi_extra=error_answers(),
)
def org_members(request, filters: Query[MemberFilters]):
    """R10: members (administrator included) and pending invitations, sorted by email."""
    q, page = filters.q, filters.page
    organization = require_org_token(request)
    rows = console_selectors.member_rows_for_org(organization=organization, query=q, sort="email")
    start = (page - 1) * MEMBERS_PER_PAGE
    chunk = list(rows[start : start + MEMBERS_PER_PAGE + 1])
    has_next = len(chunk) > MEMBERS_PER_PAGE
    results = [_member_out(r) for r in console_selectors.member_page_load(chunk[:MEMBERS_PER_PAGE])]
    next_url = None
    if has_next:
        params = {"page": page + 1, **({"q": q} if q else {})}
        next_url = request.build_absolute_uri(request.path + "?" + urlencode(params))
    return {"results": results, "next": next_url}


@router.post(
    "/org/members",
    response={201: MemberAddOut},
    summary="Add a user (or invite an email)",
    openapi_extra=error_answers(
        errors.AlreadyMember,
        errors.AlreadyInvited,
        errors.MemberOfOtherOrganization,
    ),
)
def org_member_add(request, payload: MemberAddIn):
    """R6: an existing account joins at once (`member`), an unknown email is invited."""
    organization = require_org_token(request)
    token = request.auth
    result = services.member_add(
        actor=token.created_by, organization=organization, email=payload.email
    )
    return Status(201, {"email": result.email, "status": result.status})


@router.delete(
    "/org/members/{email}",
    response={204: None},
    summary="Remove a user",
    openapi_extra=error_answers(
        errors.NotFound,
        errors.CannotRemoveAdmin,
        not_found="Neither a member nor invited in this organization.",
    ),
)
def org_member_remove(request, email: Email):
    """R9: remove a member (seats unassigned, credit access disabled); for an invited email
    the invitation is cancelled. 404 for anyone not in this organization."""
    organization = require_org_token(request)
    services.member_remove_by_email(
        actor=request.auth.created_by, organization=organization, email=email
    )
    return Status(204, None)


api.add_router("", router)
api.add_router("", licensing_router)
api.add_router("", credits_router)
