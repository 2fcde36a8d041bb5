"""Writes of the organization's directory (R44): add, change and remove members through SCIM.

Each function runs in one transaction, locks what it checks, audits the change and raises a
`portal.errors.DomainError`; `provisioning.storage` turns those into SCIM errors.
"""

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from organizations import services as organization_services
from organizations.models import Account, Membership, Organization
from portal import errors
from portal.audit import audit_record
from provisioning.models import DirectoryUser


class UserNameTaken(errors.Conflict):
    """Another member of the organization already has this `userName` (R44: 409 uniqueness)."""

    code = "user_name_taken"
    default_message = "Another user of this organization already has this userName."


class UserNameImmutable(errors.InvalidRequest):
    """R44: a directory cannot rename a user's `userName` (400 mutability)."""

    code = "user_name_immutable"
    default_message = "The userName of a user cannot be changed."


def _valid_user_name(user_name: str) -> str:
    """A userName is 1 to 254 characters of text: a NUL or another control character never
    names a person (and PostgreSQL cannot compare a NUL)."""
    user_name = user_name.strip()
    if not 0 < len(user_name) <= 254 or any(ord(ch) < 32 or ord(ch) == 127 for ch in user_name):
        raise errors.InvalidRequest(
            "The userName must be 1 to 254 characters of text.",
            fields={"userName": "1 to 254 characters of text"},
        )
    return user_name


def _user_name_taken(*, organization: Organization, user_name: str, exclude=None) -> bool:
    """A member answers to `user_name` if its record says so, or, without a record, if it is
    its account's email (what /Users shows for members added by hand)."""
    members = Membership.objects.filter(organization=organization).filter(
        Q(directory_user__user_name__iexact=user_name)
        | Q(directory_user__isnull=True, account__email=user_name.strip().lower())
    )
    if exclude is not None:
        members = members.exclude(pk=exclude)
    return members.exists()


def directory_user_create(
    *,
    actor: Account | None,
    organization: Organization,
    user_name: str,
    email: str,
    name: str,
    external_id: str,
    attributes: dict,
) -> DirectoryUser:
    """R44: the directory adds a user: the member is added (`member_provision`: the account
    is created if unknown, without an invitation; R5 applies) and the record kept.

    An email that is already a member here, or a user in another organization (R5), is
    refused (`already_member`, `member_of_other_organization`), as is a `userName` another
    member has (`user_name_taken`)."""
    user_name = _valid_user_name(user_name)
    with transaction.atomic():
        # The organization row is the lock `member_provision` takes too: creates in one
        # organization run one after the other, so the userName check below holds.
        Organization.objects.select_for_update().get(pk=organization.pk)
        if _user_name_taken(organization=organization, user_name=user_name):
            raise UserNameTaken()
        membership = organization_services.member_provision(
            actor=actor, organization=organization, email=email, name=name
        )
        now = timezone.now()
        try:
            with transaction.atomic():
                record = DirectoryUser.objects.create(
                    membership=membership,
                    organization=organization,
                    user_name=user_name,
                    external_id=external_id,
                    attributes=attributes,
                    created_at=now,
                    updated_at=now,
                )
        except IntegrityError as exc:
            raise UserNameTaken() from exc
    return record


def directory_user_replace(
    *,
    actor: Account | None,
    organization: Organization,
    membership_id: int,
    user_name: str,
    external_id: str,
    attributes: dict,
) -> DirectoryUser:
    """R44: the directory replaces its record of a member (PUT, or PATCH once applied). The
    `userName` stays (400 mutability otherwise); the account is not changed (R8). A member
    added by hand gets its record here, when the directory takes it over."""
    user_name = _valid_user_name(user_name)
    with transaction.atomic():
        membership = (
            Membership.objects.select_for_update(of=("self",))
            .select_related("account")
            .filter(organization=organization, pk=membership_id)
            .first()
        )
        if membership is None:
            raise errors.NotFound("No such user in this organization.")
        record = DirectoryUser.objects.filter(membership=membership).first()
        current = record.user_name if record else membership.account.email
        if user_name.lower() != current.lower():
            raise UserNameImmutable()
        if record is None:
            record = DirectoryUser(
                membership=membership, organization=organization, created_at=timezone.now()
            )
        changed = record.attributes != attributes or record.external_id != external_id
        record.user_name = user_name
        record.external_id = external_id
        record.attributes = attributes
        record.updated_at = timezone.now()
        record.save()
        if changed:
            audit_record(
                actor=actor,
                action="member.directory_changed",
                organization=organization,
                target=membership.account.email,
            )
    return record


def directory_user_remove(
    *, actor: Account | None, organization: Organization, membership_id: int
) -> None:
    """R44: delete, or `active: false`, removes the member (R9: seats revoked, credit access
    disabled, in one transaction); its record goes with the membership. The administrator
    cannot be removed (`cannot_remove_admin`)."""
    membership = Membership.objects.filter(organization=organization, pk=membership_id).first()
    if membership is None:
        raise errors.NotFound("No such user in this organization.")
    organization_services.member_remove(actor=actor, membership=membership)
