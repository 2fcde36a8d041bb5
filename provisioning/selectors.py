"""Reads for the organization's directory (R44): its members as SCIM users, scoped to one
organization. Invitations are not users and are never listed."""

from dataclasses import dataclass

from django.db.models import Q, QuerySet

from organizations.models import Membership, Organization


@dataclass(frozen=True)
class UserPage:
    total: int
    members: list[Membership]


def _members(*, organization: Organization) -> QuerySet[Membership]:
    return Membership.objects.filter(organization=organization).select_related(
        "account", "directory_user"
    )


def directory_member(*, organization: Organization, membership_id: int) -> Membership | None:
    """The member of `organization` with this SCIM id (its membership id), or None: an id of
    another organization is simply not found."""
    return _members(organization=organization).filter(pk=membership_id).first()


def directory_members(
    *,
    organization: Organization,
    user_name: str | None = None,
    external_id: str | None = None,
    offset: int = 0,
    limit: int = 100,
) -> UserPage:
    """One page of the organization's members in the order they joined (membership id), with
    the total; `user_name` (without regard to case) and `external_id` narrow it to the
    member the directory names so. A member without a record answers to its email."""
    members = _members(organization=organization)
    if user_name is not None:
        members = members.filter(
            Q(directory_user__user_name__iexact=user_name)
            | Q(directory_user__isnull=True, account__email=user_name.strip().lower())
        )
    if external_id is not None:
        members = members.filter(directory_user__external_id=external_id)
    total = members.count()
    return UserPage(total=total, members=list(members.order_by("pk")[offset : offset + limit]))
