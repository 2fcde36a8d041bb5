"""Reads for organizations, always scoped by organization or account."""

from credits.amounts import format_amount
from credits.selectors import pool_available
from organizations.models import Membership, Organization
from portal.models import AuditEvent


def organization_administered_by(account) -> Organization | None:
    if not getattr(account, "is_authenticated", False):
        return None
    return Organization.objects.filter(administrator=account).first()


def organization_summary(*, organization: Organization) -> dict:
    """`GET /api/v1/org`: members count the administrator, not invitations."""
    return {
        "name": organization.name,
        "customer_number": organization.customer_number,
        "members": Membership.objects.filter(organization=organization).count(),
        "pool_available": format_amount(pool_available(organization=organization)),
    }


def audit_events_for_org(*, organization: Organization, action: str = ""):
    events = AuditEvent.objects.filter(organization=organization).select_related("actor")
    if action:
        events = events.filter(action__startswith=action)
    return events.order_by("-created_at", "-id")


def audit_actions_for_org(*, organization: Organization) -> list[str]:
    """The action families (`member`, `seat`, …) present, for the activity filter."""
    actions = (
        AuditEvent.objects.filter(organization=organization)
        .values_list("action", flat=True)
        .distinct()
        .order_by("action")
    )
    return sorted({action.split(".")[0] for action in actions})
