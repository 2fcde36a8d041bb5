"""Organization endpoints (scope `org:admin`; the token's organization only)."""

from ninja import Router, Schema

from organizations import selectors
from portal.api import require_org_token

router = Router(tags=["organization"])


class OrganizationOut(Schema):
    name: str
    customer_number: str
    members: int
    pool_available: str


@router.get("/org", response=OrganizationOut, summary="The token's organization")
def org_detail(request):
    organization = require_org_token(request)
    return selectors.organization_summary(organization=organization)
