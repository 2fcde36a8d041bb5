"""Single sign-on (R43): the organization's provider, its confirmed domains, and the accounts
and memberships a sign-in through the provider creates.

Tenancy: a provider signs in only people at its own organization's confirmed domains, and
makes them members of that organization only.
"""

from django.db import IntegrityError, transaction
from django.utils import timezone

from organizations import sso
from organizations.models import (
    Account,
    EmailDomain,
    IdentityProvider,
    Invitation,
    InvitationState,
    Membership,
    Organization,
    normalize_email,
)
from organizations.services.accounts import EmailTaken, account_create
from organizations.services.members import _join
from portal import errors
from portal.audit import audit_record
from portal.models import AuditEvent


class RemovedMember(errors.Forbidden):
    code = "removed_member"
    default_message = (
        "Your organization's administrator removed you from the organization. Ask them to add "
        "you again."
    )


class EmailNotVerified(errors.Forbidden):
    code = "email_not_verified"
    default_message = (
        "Your organization's identity provider has not verified your email address, so it "
        "cannot sign you in here. Ask your administrator to verify it there."
    )


class DomainNotConfirmed(errors.Forbidden):
    code = "domain_not_confirmed"
    default_message = (
        "Your organization's identity provider cannot sign in this email address here. Sign in "
        "with your email and password instead."
    )


def identity_provider_save(
    *,
    actor: Account,
    organization: Organization,
    issuer: str,
    client_id: str,
    client_secret: str = "",
    sign_on_required: bool = False,
) -> IdentityProvider:
    """Connect the organization to its provider or change the connection. An empty secret
    keeps the stored one (it is never shown again); a new one is stored encrypted. The audit
    event names what changed, never the secret."""
    issuer = sso.url_check(issuer.strip())
    client_id = client_id.strip()
    with transaction.atomic():
        organization = Organization.objects.select_for_update().get(pk=organization.pk)
        provider = IdentityProvider.objects.filter(organization=organization).first()
        if provider is None and not client_secret:
            raise errors.InvalidRequest(
                "Enter the client secret the provider gave you.", field="client_secret"
            )
        created = provider is None
        provider = provider or IdentityProvider(organization=organization)
        changes = {}
        for field, value in (
            ("issuer", issuer),
            ("client_id", client_id),
            ("sign_on_required", sign_on_required),
        ):
            old = None if created else getattr(provider, field)
            if old != value:
                changes[field] = {"from": old, "to": value}
                setattr(provider, field, value)
        if client_secret:
            provider.client_secret_encrypted = sso.secret_encrypt(client_secret)
            changes["client_secret"] = {"changed": True}
        if not changes:
            return provider
        provider.updated_at = timezone.now()
        provider.save()
        audit_record(
            actor=actor,
            action="organization.sign_on_connected" if created else "organization.sign_on_changed",
            organization=organization,
            target=organization.name,
            details=changes,
        )
    return provider


def identity_provider_remove(*, actor: Account, organization: Organization) -> None:
    """Disconnect the provider: everyone signs in with a password (or passkey) again."""
    with transaction.atomic():
        provider = (
            IdentityProvider.objects.select_for_update().filter(organization=organization).first()
        )
        if provider is None:
            return
        issuer = provider.issuer
        provider.delete()
        audit_record(
            actor=actor,
            action="organization.sign_on_removed",
            organization=organization,
            target=organization.name,
            details={"issuer": issuer},
        )


def email_domain_clean(domain: str) -> str:
    domain = (domain or "").strip().lower().removeprefix("@").rstrip(".")
    labels = domain.split(".")
    if (
        len(domain) > 253
        or len(labels) < 2
        or not all(label and len(label) <= 63 for label in labels)
        or not all(c.isalnum() or c in "-." for c in domain)
    ):
        raise errors.InvalidRequest("Enter a domain such as studio.example.", field="domain")
    return domain


def email_domain_confirm(*, actor: Account, organization: Organization, domain: str) -> EmailDomain:
    """Staff confirm that the organization owns `domain` (one organization per domain)."""
    domain = email_domain_clean(domain)
    try:
        with transaction.atomic():
            confirmed = EmailDomain.objects.create(
                domain=domain, organization=organization, confirmed_by=actor
            )
            audit_record(
                actor=actor,
                action="organization.domain_confirmed",
                organization=organization,
                target=domain,
            )
    except IntegrityError as exc:
        raise errors.Conflict(
            f"{domain} is confirmed for an organization already.", field="domain"
        ) from exc
    return confirmed


def email_domain_remove(*, actor: Account, email_domain: EmailDomain) -> None:
    with transaction.atomic():
        organization = email_domain.organization
        domain = email_domain.domain
        email_domain.delete()
        audit_record(
            actor=actor,
            action="organization.domain_removed",
            organization=organization,
            target=domain,
        )


def _removed_by_administrator(*, organization: Organization, email: str) -> bool:
    """Whether the email's last membership event in the organization is a removal: the audit
    trail is the record (R34), so nothing else has to remember it. Adding the person again
    (the administrator, the directory) writes a later `member.added`."""
    last = (
        AuditEvent.objects.filter(
            organization=organization, target=email, action__in=("member.added", "member.removed")
        )
        .order_by("-created_at", "-id")
        .values_list("action", flat=True)
        .first()
    )
    return last == "member.removed"


def sso_sign_in(*, organization: Organization, claims: dict) -> Account:
    """R43: the account a checked provider answer signs in, created with its membership on the
    first sign-in (an account of the kind an invitation completes; R5 and R6 apply).

    Refused: an email the provider has not verified, an email outside the organization's
    confirmed domains (a provider signs in its own people only), and a person the
    administrator removed."""
    email = normalize_email(str(claims.get("email") or ""))
    if claims.get("email_verified") is not True:
        raise EmailNotVerified()
    domain = email.rpartition("@")[2]
    if (
        not email
        or not EmailDomain.objects.filter(organization=organization, domain=domain).exists()
    ):
        raise DomainNotConfirmed()
    name = str(claims.get("name") or "")[:150]
    with transaction.atomic():
        organization = Organization.objects.select_for_update().get(pk=organization.pk)
        account = Account.objects.filter(email=email).first()
        if account is not None and (
            organization.administrator_id == account.pk
            or Membership.objects.filter(organization=organization, account=account).exists()
        ):
            return account
        if _removed_by_administrator(organization=organization, email=email):
            raise RemovedMember()
        if account is None:
            try:
                with transaction.atomic():
                    account = account_create(email=email, name=name)
            except EmailTaken:
                account = Account.objects.get(email=email)
        _join(actor=account, organization=organization, account=account, via="sign_on")
        Invitation.objects.filter(
            organization=organization, email=email, state=InvitationState.PENDING
        ).update(state=InvitationState.CANCELLED)
    return account
