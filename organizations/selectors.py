"""Reads for organizations, always scoped by organization or account."""

from django.db import connection

from organizations.models import (
    MemberImport,
    Organization,
)
from portal.models import AuditEvent


def organization_administered_by(account) -> Organization | None:
    if not getattr(account, "is_authenticated", False):
        return None
    return Organization.objects.filter(administrator=account).first()


def audit_events_for_org(*, organization: Organization, action: str = ""):
    events = AuditEvent.objects.filter(organization=organization).select_related("actor")
    if action:
        events = events.filter(action__startswith=action)
    return events.order_by("-created_at", "-id")


def audit_actions_for_org(*, organization: Organization) -> list[str]:
    """The action families (`member`, `seat`, …) present, for the activity filter."""
    # A DISTINCT over the organization's whole feed reads every event (a million rows at
    # scale); this walks the (organization, action, …) index from one action to the next,
    # one index probe per distinct action.
    table = connection.ops.quote_name(AuditEvent._meta.db_table)
    sql = f"""
        WITH RECURSIVE actions(action) AS (
            SELECT MIN(action) FROM {table} WHERE organization_id = %s
            UNION ALL
            SELECT (
                SELECT MIN(e.action) FROM {table} e
                WHERE e.organization_id = %s AND e.action > actions.action
            )
            FROM actions WHERE actions.action IS NOT NULL
        )
        SELECT action FROM actions WHERE action IS NOT NULL
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [organization.pk, organization.pk])
        actions = [row[0] for row in cursor.fetchall()]
    return sorted({action.split(".")[0] for action in actions})


def member_imports_for_org(*, organization):
    return MemberImport.objects.filter(organization=organization).select_related("created_by")
