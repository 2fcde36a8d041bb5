"""Reads for organizations, always scoped by organization or account."""

from organizations.models import MemberImport, Organization


def organization_administered_by(account) -> Organization | None:
    if not getattr(account, "is_authenticated", False):
        return None
    return Organization.objects.filter(administrator=account).first()


def member_imports_for_org(*, organization):
    return MemberImport.objects.filter(organization=organization).select_related("created_by")
