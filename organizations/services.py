"""Writes for accounts, organizations and setup requests (R1–R5, R3).

Every function runs in one transaction, locks what it checks, writes the audit event and
raises a `portal.errors.DomainError` with a stable code.
"""

import csv
import hashlib
import io
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
    AccountKind,
    Invitation,
    InvitationState,
    MemberImport,
    Membership,
    Organization,
    Role,
    SetupRequest,
    SetupRequestState,
    invitation_link,
    normalize_email,
)
from portal import errors
from portal.audit import audit_record
from portal.emails import email_send


class EmailTaken(errors.Conflict):
    code = "email_taken"
    default_message = "An account with this email already exists."


def _is_unique_violation(exc: IntegrityError, constraint: str) -> bool:
    return constraint in str(exc)


def account_create(
    *,
    email: str,
    kind: str = AccountKind.TRIAL,
    password: str | None = None,
    name: str = "",
    is_staff: bool = False,
    actor: Account | None = None,
) -> Account:
    """Create an account (R1); a commercial one gets its organization at once (R2)."""
    email = normalize_email(email)
    if kind not in AccountKind.values:
        raise errors.InvalidRequest(f"Unknown kind {kind!r}.", fields={"kind": "unknown kind"})
    for _attempt in range(5):
        try:
            with transaction.atomic():
                account = Account.objects.create_user(
                    email, password, name=name, kind=kind, is_staff=is_staff
                )
                audit_record(
                    actor=actor or account,
                    action="account.created",
                    target=account.email,
                    details={"kind": kind, "customer_number": account.customer_number},
                )
                if kind == AccountKind.COMMERCIAL:
                    organization_create(actor=actor or account, administrator=account)
                return account
        except IntegrityError as exc:
            if _is_unique_violation(exc, "account_email_ci_unique") or "email" in str(exc):
                raise EmailTaken(field="email") from exc
            if "customer_number" not in str(exc):
                raise
            # A random customer number collided: draw another one.
    raise RuntimeError("Could not draw a free customer number.")


def account_set_kind(*, actor: Account | None, account: Account, kind: str) -> Account:
    """Change an account's kind. Becoming commercial creates its organization (R2).

    An account that stops being commercial keeps its organization: seats and credits that
    members use must not vanish with a change of contract (docs/decisions.md).
    """
    if kind not in AccountKind.values:
        raise errors.InvalidRequest(f"Unknown kind {kind!r}.", fields={"kind": "unknown kind"})
    with transaction.atomic():
        account = Account.objects.select_for_update().get(pk=account.pk)
        old = account.kind
        if old == kind:
            return account
        account.kind = kind
        account.save(update_fields=["kind"])
        audit_record(
            actor=actor,
            action="account.kind_changed",
            target=account.email,
            details={"from": old, "to": kind},
        )
        if (
            kind == AccountKind.COMMERCIAL
            and not Organization.objects.filter(administrator=account).exists()
        ):
            organization_create(actor=actor, administrator=account)
    return account


def organization_create(
    *, actor: Account | None, administrator: Account, name: str = ""
) -> Organization:
    """Create an organization administered by `administrator` (R2, R4, R5).

    It carries the administrator's customer number for good and is named after the account
    unless a name is given. A lost race against another creation for the same account is
    answered with `AlreadyAdministers`, never a database error.
    """
    try:
        with transaction.atomic():
            organization = Organization.objects.create(
                name=(name or administrator.name or administrator.email)[:150],
                customer_number=administrator.customer_number,
                administrator=administrator,
            )
            membership_create(organization=organization, account=administrator, role=Role.ADMIN)
            audit_record(
                actor=actor,
                action="organization.created",
                organization=organization,
                target=organization.name,
                details={"administrator": administrator.email},
            )
    except IntegrityError as exc:
        raise errors.AlreadyAdministers() from exc
    return organization


def membership_create(*, organization: Organization, account: Account, role: str) -> Membership:
    """The one place a membership row is made, with its credit access (R20: disabled).

    Callers hold a transaction; R5 violations surface as IntegrityError to be translated by
    the caller that knows which rule it was checking.
    """
    membership = Membership.objects.create(organization=organization, account=account, role=role)
    hooks.member_added(membership=membership)
    return membership


def organization_settings_update(
    *, actor: Account, organization: Organization, name: str, low_balance_threshold
) -> Organization:
    """Rename (R2: the administrator may rename) and set the low-balance threshold (R30)."""
    name = (name or "").strip()
    if not name:
        raise errors.InvalidRequest("Enter a name.", field="name", fields={"name": "required"})
    with transaction.atomic():
        organization = Organization.objects.select_for_update().get(pk=organization.pk)
        changes = {}
        if organization.name != name[:150]:
            changes["name"] = {"from": organization.name, "to": name[:150]}
            organization.name = name[:150]
        if organization.low_balance_threshold != low_balance_threshold:
            changes["low_balance_threshold"] = {
                "from": str(organization.low_balance_threshold or ""),
                "to": str(low_balance_threshold or ""),
            }
            organization.low_balance_threshold = low_balance_threshold
        if changes:
            organization.save(update_fields=["name", "low_balance_threshold"])
            audit_record(
                actor=actor,
                action="organization.settings_changed",
                organization=organization,
                target=organization.name,
                details=changes,
            )
    return organization


def administrator_transfer(
    *, actor: Account | None, organization: Organization, new_administrator: Account
) -> Organization:
    """Staff hand the administrator role to another member (R4, R32).

    The former administrator stays a member. The customer number of the organization does not
    change (R2).
    """
    with transaction.atomic():
        organization = Organization.objects.select_for_update().get(pk=organization.pk)
        old_admin = organization.administrator
        if new_administrator.pk == old_admin.pk:
            return organization
        new_membership = (
            Membership.objects.select_for_update()
            .filter(organization=organization, account=new_administrator)
            .first()
        )
        if new_membership is None:
            raise errors.NotAMember(
                "Only a member of the organization can become its administrator."
            )
        if Organization.objects.filter(administrator=new_administrator).exists():
            raise errors.AlreadyAdministers()
        if (
            Membership.objects.filter(account=old_admin, role=Role.MEMBER)
            .exclude(organization=organization)
            .exists()
        ):
            raise errors.MemberOfOtherOrganization(
                f"{old_admin.email} is a user in another organization and could not stay a "
                "member here; remove them there first."
            )
        try:
            with transaction.atomic():
                Membership.objects.filter(organization=organization, role=Role.ADMIN).update(
                    role=Role.MEMBER
                )
                new_membership.role = Role.ADMIN
                new_membership.save(update_fields=["role"])
                organization.administrator = new_administrator
                organization.save(update_fields=["administrator"])
        except IntegrityError as exc:
            raise errors.AlreadyAdministers() from exc
        audit_record(
            actor=actor,
            action="organization.administrator_transferred",
            organization=organization,
            target=new_administrator.email,
            details={"from": old_admin.email, "to": new_administrator.email},
        )
    return organization


# --- Setup requests (R3) --------------------------------------------------------------------


def setup_request_create(
    *, requester: Account, organization_name: str, admin_email: str, admin_customer_number: str
) -> SetupRequest:
    """File a setup request. The named account and its customer number must match (R3)."""
    if requester.kind == AccountKind.COMMERCIAL:
        raise errors.InvalidRequest("Commercial accounts already have an organization.")
    admin_email = normalize_email(admin_email)
    admin_customer_number = (admin_customer_number or "").strip()
    admin = Account.objects.filter(email=admin_email).first()
    if admin is None or admin.customer_number != admin_customer_number:
        raise errors.InvalidRequest(
            "The email and customer number do not belong to the same account.",
            field="admin_customer_number",
            fields={"admin_customer_number": "does not match the email"},
        )
    if Organization.objects.filter(administrator=admin).exists():
        raise errors.AlreadyAdministers(
            f"{admin.email} already administers an organization.", field="admin_email"
        )
    try:
        with transaction.atomic():
            request = SetupRequest.objects.create(
                requester=requester,
                organization_name=(organization_name or "").strip()[:150]
                or admin.name
                or admin.email,
                admin_email=admin.email,
                admin_customer_number=admin.customer_number,
                admin_account=admin,
            )
            audit_record(
                actor=requester,
                action="setup_request.created",
                target=request.organization_name,
                details={"administrator": admin.email},
            )
    except IntegrityError as exc:
        raise errors.InvalidRequest("You already have a pending setup request.") from exc
    return request


def setup_request_confirm(*, actor: Account, request: SetupRequest) -> SetupRequest:
    """Staff confirm: the organization is created with the named administrator (R3)."""
    with transaction.atomic():
        request = SetupRequest.objects.select_for_update().get(pk=request.pk)
        if request.state != SetupRequestState.PENDING:
            raise errors.InvalidRequest(f"This request is already {request.state}.")
        organization = organization_create(
            actor=actor, administrator=request.admin_account, name=request.organization_name
        )
        request.state = SetupRequestState.CONFIRMED
        request.decided_at = timezone.now()
        request.decided_by = actor
        request.organization = organization
        request.save(update_fields=["state", "decided_at", "decided_by", "organization"])
        audit_record(
            actor=actor,
            action="setup_request.confirmed",
            organization=organization,
            target=request.organization_name,
            details={"requester": request.requester.email},
        )
        recipients = sorted({request.requester.email, request.admin_account.email})
        email_send(
            to=recipients,
            subject=f"Your organization {organization.name} is ready",
            template="setup_confirmed",
            context={"request": request, "organization": organization},
        )
    return request


def setup_request_reject(*, actor: Account, request: SetupRequest, reason: str) -> SetupRequest:
    reason = (reason or "").strip()
    if not reason:
        raise errors.InvalidRequest("Give a reason for the rejection.", field="reason")
    with transaction.atomic():
        request = SetupRequest.objects.select_for_update().get(pk=request.pk)
        if request.state != SetupRequestState.PENDING:
            raise errors.InvalidRequest(f"This request is already {request.state}.")
        request.state = SetupRequestState.REJECTED
        request.rejection_reason = reason
        request.decided_at = timezone.now()
        request.decided_by = actor
        request.save(update_fields=["state", "rejection_reason", "decided_at", "decided_by"])
        audit_record(
            actor=actor,
            action="setup_request.rejected",
            target=request.organization_name,
            details={"requester": request.requester.email, "reason": reason},
        )
        email_send(
            to=request.requester.email,
            subject="Your organization setup request was not confirmed",
            template="setup_rejected",
            context={"request": request},
        )
    return request


# --- Members and invitations (R5–R9) --------------------------------------------------------


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
            account = account_create(
                email=invitation.email, password=password, name=(name or "").strip()[:150]
            )
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


# --- Bulk add by CSV (R7) -------------------------------------------------------------------

CSV_MAX_BYTES = 1024 * 1024
CSV_MAX_ROWS = 1000


class CsvInvalid(errors.InvalidRequest):
    """A malformed CSV file: refused as a whole, nothing changes (R7)."""

    def __init__(self, message: str, *, problems: list[str] | None = None):
        self.problems = problems or []
        super().__init__(message, field="file", fields={"file": message})


def member_csv_parse(data: bytes) -> list[dict]:
    """Validate a whole CSV file before anything is applied (R7).

    UTF-8 with or without BOM, at most 1 MiB and 1,000 data rows, one email per row; a first
    row without "@" is a header. Blank lines are ignored. Returns one dict per data row
    (`line`, `email`, and `duplicate_of` for an email seen on an earlier line).
    """
    if len(data) > CSV_MAX_BYTES:
        raise CsvInvalid("The file is larger than 1 MiB. Split it into smaller files.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CsvInvalid(
            "The file is not UTF-8 text. Save it as “CSV UTF-8” and upload it again."
        ) from exc
    if "\x00" in text:
        raise CsvInvalid("The file is not a CSV text file.")
    try:
        lines = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise CsvInvalid(f"The file could not be read as CSV: {exc}.") from exc
    rows = []
    problems = []
    header_seen = False
    seen: dict[str, int] = {}
    for number, cells in enumerate(lines, start=1):
        values = [cell.strip() for cell in cells if cell.strip()]
        if not values:
            continue
        if not rows and not header_seen and not problems and "@" not in values[0]:
            header_seen = True
            if len(values) > 1:
                problems.append(f"Line {number}: the header has {len(values)} columns; use one.")
            continue
        if len(values) > 1:
            problems.append(f"Line {number}: {len(values)} values; put one email per row.")
            continue
        email = normalize_email(values[0])
        try:
            validate_email(email)
            if len(email) > 254:
                raise ValidationError("too long")
        except ValidationError:
            problems.append(f"Line {number}: “{values[0][:80]}” is not an email address.")
            continue
        row = {"line": number, "email": email}
        if email in seen:
            row["duplicate_of"] = seen[email]
        else:
            seen[email] = number
        rows.append(row)
    if not rows and not problems:
        raise CsvInvalid(
            "The file has no email addresses." + (" It has only a header." if header_seen else "")
        )
    if len(rows) + len(problems) > CSV_MAX_ROWS:
        raise CsvInvalid(
            f"The file has {len(rows) + len(problems):,} rows; at most {CSV_MAX_ROWS:,} are "
            "allowed at once."
        )
    if problems:
        raise CsvInvalid(_problems_message(problems), problems=problems)
    return rows


def _problems_message(problems: list[str]) -> str:
    shown = " ".join(problems[:5])
    more = f" And {len(problems) - 5} more problems." if len(problems) > 5 else ""
    return f"The file was not applied; nothing changed. {shown}{more}"


def member_import(
    *, actor: Account, organization: Organization, data: bytes, filename: str = ""
) -> MemberImport:
    """R7: validate the whole file, then add row by row and keep the per-row report.

    Each row is its own transaction (one failure does not undo the others); a duplicate row is
    reported as failed and its first occurrence applied.
    """
    rows = member_csv_parse(data)
    report = []
    counts = {"added": 0, "invited": 0, "failed": 0}
    for row in rows:
        entry = {"line": row["line"], "email": row["email"]}
        if "duplicate_of" in row:
            entry.update(
                status="failed",
                code="duplicate",
                message=f"Duplicate of line {row['duplicate_of']}.",
            )
        else:
            try:
                result = member_add(actor=actor, organization=organization, email=row["email"])
            except errors.DomainError as exc:
                entry.update(status="failed", code=exc.code, message=exc.message)
            else:
                entry["status"] = "added" if result.status == "member" else "invited"
        counts[entry["status"]] += 1
        report.append(entry)
    with transaction.atomic():
        member_import_row = MemberImport.objects.create(
            organization=organization,
            created_by=actor,
            filename=(filename or "")[:255],
            rows=report,
            **counts,
        )
        audit_record(
            actor=actor,
            action="member.imported",
            organization=organization,
            target=member_import_row.filename or "CSV file",
            details={**counts, "import_id": member_import_row.pk},
        )
    return member_import_row
