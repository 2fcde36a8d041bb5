"""Members and invitations (R5, R6, R8, R9): add, invite, accept, remove."""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from organizations import hooks
from organizations.models import (
    Account,
    Invitation,
    InvitationState,
    Membership,
    Organization,
    Role,
    invitation_link,
    normalize_email,
)
from organizations.services.accounts import EmailTaken, account_create, membership_create
from portal import errors
from portal.audit import audit_record
from portal.emails import email_send


class InvitationUnusable(errors.InvalidRequest):
    """An invitation link that is expired, used, cancelled or unknown (R6)."""

    code = "invitation_unusable"
    default_message = "This invitation link can no longer be used."

    def __init__(self, message=None, *, reason: str = "unknown", **kwargs):
        self.reason = reason
        super().__init__(message, **kwargs)


class InvitationWrongAccount(errors.Forbidden):
    """Accepting an invitation while signed in as another account (R6: bound to the email)."""

    default_message = "This invitation is for another email address."


@dataclass(frozen=True)
class MemberAddResult:
    email: str
    status: str  # "member" or "invited"
    membership: Membership | None = None
    invitation: Invitation | None = None


def invitation_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _new_invitation_token() -> tuple[str, str]:
    token = secrets.token_urlsafe(32)
    return token, invitation_token_hash(token)


def _invitation_expiry(now):
    return now + timedelta(days=settings.INVITATION_DAYS)


def _valid_email(email: str) -> str:
    email = normalize_email(email)
    try:
        validate_email(email)
    except ValidationError as exc:
        raise errors.InvalidRequest(
            "Enter a valid email address.",
            field="email",
            fields={"email": "not a valid email address"},
        ) from exc
    if len(email) > 254:
        raise errors.InvalidRequest(
            "An email address has at most 254 characters.",
            field="email",
            fields={"email": "too long"},
        )
    return email


def _membership_refusal(*, organization: Organization, account: Account):
    """The R5 rule a new membership of `account` in `organization` would break, if any."""
    if organization.administrator_id == account.pk:
        return errors.AlreadyMember(
            "That is your own email: you administer this organization already.",
            field="email",
            fields={"email": "you are the administrator"},
        )
    if Membership.objects.filter(organization=organization, account=account).exists():
        return errors.AlreadyMember(
            f"{account.email} is already a member of this organization.",
            field="email",
            fields={"email": "already a member"},
        )
    if (
        Membership.objects.filter(account=account, role=Role.MEMBER)
        .exclude(organization=organization)
        .exists()
    ):
        return errors.MemberOfOtherOrganization(
            f"{account.email} is already a user in another organization; an account can be a "
            "user in only one organization besides its own.",
            field="email",
            fields={"email": "member of another organization"},
        )
    return None


def _join(*, actor, organization: Organization, account: Account, via: str) -> Membership:
    """Create the membership (R5 checked, races translated), audit it. Caller is atomic."""
    refusal = _membership_refusal(organization=organization, account=account)
    if refusal:
        raise refusal
    try:
        with transaction.atomic():
            membership = membership_create(
                organization=organization, account=account, role=Role.MEMBER
            )
    except IntegrityError as exc:
        # A concurrent add won the partial unique index (R5): say which rule, never a 500.
        refusal = _membership_refusal(organization=organization, account=account)
        raise refusal or errors.MemberOfOtherOrganization(field="email") from exc
    audit_record(
        actor=actor,
        action="member.added",
        organization=organization,
        target=account.email,
        details={"via": via},
    )
    return membership


def member_add(*, actor: Account, organization: Organization, email: str) -> MemberAddResult:
    """R6: add a user by email. An existing account joins at once and is emailed; an unknown
    email gets an invitation (single-use link, bound to the email, valid INVITATION_DAYS).

    R5: an account that administers its own organization can be added; an account that is a
    user in another organization cannot (`member_of_other_organization`). The organization row
    is locked so that adds to one organization run one after the other; concurrent adds of one
    account to two organizations are settled by the partial unique index and translated.
    """
    email = _valid_email(email)
    with transaction.atomic():
        organization = Organization.objects.select_for_update().get(pk=organization.pk)
        account = Account.objects.filter(email=email).first()
        if account is not None:
            membership = _join(actor=actor, organization=organization, account=account, via="add")
            # An invitation sent before the account existed is settled by joining now.
            Invitation.objects.filter(
                organization=organization, email=email, state=InvitationState.PENDING
            ).update(state=InvitationState.CANCELLED)
            email_send(
                to=account.email,
                subject=f"You were added to {organization.name}",
                template="member_added",
                context={"organization": organization, "account": account, "actor": actor},
            )
            return MemberAddResult(email=email, status="member", membership=membership)
        if Invitation.objects.filter(
            organization=organization, email=email, state=InvitationState.PENDING
        ).exists():
            raise errors.AlreadyInvited(
                f"{email} has a pending invitation already; resend it from the list if needed.",
                field="email",
                fields={"email": "already invited"},
            )
        now = timezone.now()
        token, digest = _new_invitation_token()
        try:
            with transaction.atomic():
                invitation = Invitation.objects.create(
                    organization=organization,
                    email=email,
                    token_hash=digest,
                    invited_by=actor if getattr(actor, "pk", None) else None,
                    created_at=now,
                    sent_at=now,
                    expires_at=_invitation_expiry(now),
                )
        except IntegrityError as exc:
            raise errors.AlreadyInvited(field="email", fields={"email": "already invited"}) from exc
        audit_record(
            actor=actor,
            action="invitation.sent",
            organization=organization,
            target=email,
            details={"expires_at": invitation.expires_at.isoformat()},
        )
        _invitation_email(invitation, token, actor)
    return MemberAddResult(email=email, status="invited", invitation=invitation)


def member_provision(
    *, actor, organization: Organization, email: str, name: str = ""
) -> Membership:
    """R44: the organization's directory adds a user. An unknown email gets its account at once,
    without an invitation: the directory vouches for the person, who signs in through the
    organization's sign-on or sets a password with "Forgot password". An existing account joins
    and is emailed, as with R6. R5 applies as for any add; a pending invitation of the email is
    settled by joining. Lock order as in `member_add`: the organization row first."""
    email = _valid_email(email)
    with transaction.atomic():
        organization = Organization.objects.select_for_update().get(pk=organization.pk)
        account = Account.objects.filter(email=email).first()
        created = account is None
        if created:
            try:
                with transaction.atomic():
                    account = account_create(email=email, name=name, actor=actor)
            except EmailTaken:
                # Created meanwhile by a sign-up or another organization's directory.
                account = Account.objects.get(email=email)
                created = False
        membership = _join(actor=actor, organization=organization, account=account, via="directory")
        Invitation.objects.filter(
            organization=organization, email=email, state=InvitationState.PENDING
        ).update(state=InvitationState.CANCELLED)
        if not created:
            email_send(
                to=account.email,
                subject=f"You were added to {organization.name}",
                template="member_added",
                context={"organization": organization, "account": account, "actor": actor},
            )
    return membership


def _invitation_email(invitation: Invitation, token: str, actor) -> None:
    email_send(
        to=invitation.email,
        subject=f"Join {invitation.organization.name} on the Self-Service Portal",
        template="invitation",
        context={
            "invitation": invitation,
            "organization": invitation.organization,
            "link": invitation_link(token),
            "actor": actor,
            "days": settings.INVITATION_DAYS,
        },
    )


def _pending_invitation_locked(invitation: Invitation) -> Invitation:
    invitation = (
        Invitation.objects.select_for_update(of=("self",))
        .select_related("organization")
        .get(pk=invitation.pk)
    )
    if invitation.state != InvitationState.PENDING:
        raise errors.InvalidRequest(f"This invitation was already {invitation.state}.")
    return invitation


def invitation_resend(*, actor: Account, invitation: Invitation) -> Invitation:
    """R6: a new link (the old one stops working) with a new expiry, emailed again."""
    with transaction.atomic():
        invitation = _pending_invitation_locked(invitation)
        now = timezone.now()
        token, digest = _new_invitation_token()
        invitation.token_hash = digest
        invitation.sent_at = now
        invitation.expires_at = _invitation_expiry(now)
        invitation.save(update_fields=["token_hash", "sent_at", "expires_at"])
        audit_record(
            actor=actor,
            action="invitation.resent",
            organization=invitation.organization,
            target=invitation.email,
            details={"expires_at": invitation.expires_at.isoformat()},
        )
        _invitation_email(invitation, token, actor)
    return invitation


def invitation_cancel(*, actor: Account, invitation: Invitation) -> Invitation:
    """R6: the administrator withdraws an invitation; its link stops working."""
    with transaction.atomic():
        invitation = _pending_invitation_locked(invitation)
        invitation.state = InvitationState.CANCELLED
        invitation.save(update_fields=["state"])
        audit_record(
            actor=actor,
            action="invitation.cancelled",
            organization=invitation.organization,
            target=invitation.email,
        )
    return invitation


def invitations_resend(*, actor: Account, organization: Organization, invitation_ids) -> int:
    """R6 for several pending invitations at once, in one transaction; invitations answered
    or cancelled meanwhile are passed over. Returns how many were sent again."""
    return _for_each_pending(invitation_resend, actor, organization, invitation_ids)


def invitations_cancel(*, actor: Account, organization: Organization, invitation_ids) -> int:
    """R6 for several pending invitations at once, in one transaction."""
    return _for_each_pending(invitation_cancel, actor, organization, invitation_ids)


def _for_each_pending(service, actor, organization: Organization, invitation_ids) -> int:
    """Apply one invitation service to the organization's pending invitations among
    `invitation_ids`, in id order, all in one transaction; returns how many."""
    with transaction.atomic():
        invitations = list(
            Invitation.objects.filter(
                organization=organization,
                pk__in=list(invitation_ids),
                state=InvitationState.PENDING,
            ).order_by("pk")
        )
        for invitation in invitations:
            service(actor=actor, invitation=invitation)
    return len(invitations)


def invitation_by_token(token: str) -> Invitation | None:
    if not token or len(token) > 200:
        return None
    return (
        Invitation.objects.select_related("organization")
        .filter(token_hash=invitation_token_hash(token))
        .first()
    )


def invitation_check_usable(invitation: Invitation | None) -> Invitation:
    """Why a link cannot be used, in words a person understands (R6)."""
    if invitation is None:
        raise InvitationUnusable(
            "This invitation link is not valid. It may have been replaced by a newer one; "
            "use the link in the most recent email or ask the administrator to resend it.",
            reason="unknown",
        )
    if invitation.state == InvitationState.ACCEPTED:
        raise InvitationUnusable(
            "This invitation was already used. Sign in with the account it created.",
            reason="used",
        )
    if invitation.state == InvitationState.CANCELLED:
        raise InvitationUnusable(
            "This invitation was cancelled by the organization's administrator.",
            reason="cancelled",
        )
    if invitation.is_expired:
        raise InvitationUnusable(
            "This invitation has expired. Ask the administrator to send a new one.",
            reason="expired",
        )
    return invitation


def invitation_accept(
    *, token: str, user=None, name: str = "", password: str | None = None
) -> Membership:
    """R6: complete the account from an invitation link and join, in one transaction.

    The invitation row is locked so that a link is used once. Without a signed-in user an
    account is created for the invited email (name, password). If an account with that email
    exists by now, it must sign in first and then accepts as itself; a signed-in account with
    another email is refused (the link is bound to the invited email).
    """
    with transaction.atomic():
        invitation = invitation_check_usable(invitation_by_token(token))
        # Lock order as in member_add: the organization, then the invitation.
        organization = Organization.objects.select_for_update().get(pk=invitation.organization_id)
        invitation = invitation_check_usable(
            Invitation.objects.select_for_update(of=("self",))
            .select_related("organization")
            .filter(pk=invitation.pk)
            .first()
        )
        signed_in = getattr(user, "is_authenticated", False)
        if signed_in:
            if normalize_email(user.email) != invitation.email:
                raise InvitationWrongAccount(
                    f"This invitation is for {invitation.email}, but you are signed in as "
                    f"{user.email}. Sign out and open the link again."
                )
            account = Account.objects.get(pk=user.pk)
        else:
            if Account.objects.filter(email=invitation.email).exists():
                raise EmailTaken(
                    f"An account with {invitation.email} exists already: sign in with it to "
                    "accept the invitation."
                )
            account = account_create(email=invitation.email, password=password, name=name)
        membership = _join(
            actor=account, organization=organization, account=account, via="invitation"
        )
        invitation.state = InvitationState.ACCEPTED
        invitation.accepted_at = timezone.now()
        invitation.accepted_account = account
        invitation.save(update_fields=["state", "accepted_at", "accepted_account"])
        audit_record(
            actor=account,
            action="invitation.accepted",
            organization=organization,
            target=invitation.email,
        )
        email_send(
            to=organization.administrator.email,
            subject=f"{account.email} joined {organization.name}",
            template="member_joined",
            context={"organization": organization, "account": account},
        )
    return membership


def member_remove(*, actor: Account, membership: Membership) -> dict:
    """R9: revoke the member's seats and disable their credit access, then delete the
    membership, in one transaction. The administrator cannot remove themself."""
    with transaction.atomic():
        membership = (
            Membership.objects.select_for_update(of=("self",))
            .select_related("account", "organization")
            .get(pk=membership.pk)
        )
        if membership.role == Role.ADMIN:
            raise errors.CannotRemoveAdmin(
                "The administrator cannot be removed from the organization."
            )
        # Seats unassigned, credit access disabled (licensing and credits, in that order).
        summary = {"seats": [], "credit_access": "disabled"}
        for revoked in hooks.member_removing(actor=actor, membership=membership):
            summary.update(revoked)
        organization = membership.organization
        account = membership.account
        membership.delete()
        audit_record(
            actor=actor,
            action="member.removed",
            organization=organization,
            target=account.email,
            details=summary,
        )
        email_send(
            to=account.email,
            subject=f"You were removed from {organization.name}",
            template="member_removed",
            context={"organization": organization, "account": account},
        )
    return summary


def members_remove(*, actor: Account, organization: Organization, memberships) -> int:
    """R9 for several members at once: all or nothing, and never the administrator."""
    memberships = list(memberships)
    if any(m.role == Role.ADMIN for m in memberships):
        raise errors.CannotRemoveAdmin(
            "The administrator cannot be removed; unselect them and try again."
        )
    with transaction.atomic():
        for membership in sorted(memberships, key=lambda m: m.pk):
            if membership.organization_id != organization.pk:
                raise errors.NotFound()
            member_remove(actor=actor, membership=membership)
    return len(memberships)


def member_remove_by_email(*, actor: Account, organization: Organization, email: str) -> str:
    """`DELETE /org/members/{email}`: remove a member, or cancel a pending invitation."""
    email = normalize_email(email)
    if "\x00" in email or len(email) > 254:
        raise errors.NotFound("No member or invitation with this email here.")
    membership = Membership.objects.filter(organization=organization, account__email=email).first()
    if membership is not None:
        member_remove(actor=actor, membership=membership)
        return "member"
    invitation = Invitation.objects.filter(
        organization=organization, email=email, state=InvitationState.PENDING
    ).first()
    if invitation is not None:
        invitation_cancel(actor=actor, invitation=invitation)
        return "invited"
    raise errors.NotFound(f"{email} is neither a member nor invited here.")
