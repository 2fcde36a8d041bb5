"""Accounts and their organizations (R1, R2, R4, R5): create, change kind, settings, the
administrator role.

Every function runs in one transaction, locks what it checks, writes the audit event and
raises a `portal.errors.DomainError` with a stable code.
"""

from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from organizations import hooks
from organizations.models import (
    Account,
    AccountKind,
    Membership,
    Organization,
    Role,
    normalize_email,
)
from organizations.second_factor import account_flags
from portal import errors
from portal.audit import audit_record
from portal.emails import email_send
from portal.models import AuditEvent
from portal.names import visible_name


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
    name = visible_name(name, required=False)
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
    *,
    actor: Account,
    organization: Organization,
    name: str,
    low_balance_threshold,
    require_second_factor: bool | None = None,
) -> Organization:
    """Rename (R2: the administrator may rename), set the low-balance threshold (R30) and
    whether members need a second factor (R42). `None` leaves the requirement as it is.

    The administrator turns the requirement on only with a second factor of their own, so that
    the first page after saving is not the set-up."""
    name = visible_name(name, required=True)
    with transaction.atomic():
        organization = Organization.objects.select_for_update().get(pk=organization.pk)
        changes = {}
        if organization.name != name:
            changes["name"] = {"from": organization.name, "to": name}
            organization.name = name
        if organization.low_balance_threshold != low_balance_threshold:
            changes["low_balance_threshold"] = {
                "from": str(organization.low_balance_threshold or ""),
                "to": str(low_balance_threshold or ""),
            }
            organization.low_balance_threshold = low_balance_threshold
        if (
            require_second_factor is not None
            and organization.require_second_factor != require_second_factor
        ):
            if require_second_factor and not _has_second_factor(actor):
                raise errors.InvalidRequest(
                    "Set up a second factor for yourself first, on your Security page.",
                    field="require_second_factor",
                )
            changes["require_second_factor"] = {
                "from": organization.require_second_factor,
                "to": require_second_factor,
            }
            organization.require_second_factor = require_second_factor
        if changes:
            organization.save(
                update_fields=["name", "low_balance_threshold", "require_second_factor"]
            )
            audit_record(
                actor=actor,
                action="organization.settings_changed",
                organization=organization,
                target=organization.name,
                details=changes,
            )
    return organization


def _has_second_factor(account: Account) -> bool:
    flags = Account.objects.filter(pk=account.pk).annotate(**account_flags())
    return bool(flags.values_list("has_second_factor", flat=True).first())


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
        for recipient in (new_administrator, old_admin):
            email_send(
                to=recipient.email,
                subject=f"The administrator of {organization.name} changed",
                template="administrator_transferred",
                context={
                    "recipient": recipient,
                    "organization": organization,
                    "old_administrator": old_admin,
                    "new_administrator": new_administrator,
                },
            )
    return organization


def account_profile_update(*, actor: Account, account: Account, name: str) -> Account:
    """An account's own name (R1): visible characters only, audited."""
    name = visible_name(name, required=False)
    with transaction.atomic():
        account = Account.objects.select_for_update().get(pk=account.pk)
        if account.name != name:
            before = account.name
            account.name = name
            account.save(update_fields=["name"])
            audit_record(
                actor=actor,
                action="account.profile_changed",
                target=account.email,
                details={"name": {"from": before, "to": name}},
            )
    return account


PASSWORD_RESETS_PER_HOUR = 3


def password_reset_allowed(*, email: str) -> bool:
    """Whether one more password-reset email may go to `email` now: at most
    PASSWORD_RESETS_PER_HOUR an hour, counted from the audit trail, which records each one
    (so several app servers count together)."""
    email = normalize_email(email)
    since = timezone.now() - timedelta(hours=1)
    sent = AuditEvent.objects.filter(
        action="account.password_reset_requested", target=email, created_at__gte=since
    ).count()
    if sent >= PASSWORD_RESETS_PER_HOUR:
        return False
    audit_record(actor=None, action="account.password_reset_requested", target=email)
    return True


def password_changed_notice(*, account: Account) -> None:
    """A changed password is confirmed by email, so that its owner hears of a change they did
    not make (R42)."""
    with transaction.atomic():
        audit_record(actor=account, action="account.password_changed", target=account.email)
        email_send(
            to=account.email,
            subject="Your password was changed",
            template="password_changed",
            context={"account": account, "when": timezone.now()},
        )
