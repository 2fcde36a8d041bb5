"""The organization's overview: members, seats and the pool on one page."""

from django.shortcuts import render

from credits.selectors import pool_available
from licensing.selectors import seat_summary_for_org
from organizations import selectors
from organizations.models import Invitation, InvitationState, Membership
from organizations.permissions import org_admin_required


@org_admin_required
def overview(request):
    """Members, seats used/total per product, pool, recent activity (rules.md "Pages")."""
    organization = request.organization
    seats = seat_summary_for_org(organization=organization)
    context = {
        "organization": organization,
        "member_count": Membership.objects.filter(organization=organization).count(),
        "invited_count": Invitation.objects.filter(
            organization=organization, state=InvitationState.PENDING
        ).count(),
        "seats": [row for row in seats if row["total"]],
        "pool_available": pool_available(organization=organization),
        "events": selectors.audit_events_for_org(organization=organization)[:10],
    }
    return render(request, "organizations/overview.html", context)
