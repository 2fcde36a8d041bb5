"""Reads for organizations, always scoped by organization or account."""

from organizations.models import EmailDomain, IdentityProvider, MemberImport, Organization


def organization_administered_by(account) -> Organization | None:
    if not getattr(account, "is_authenticated", False):
        return None
    return Organization.objects.filter(administrator=account).first()


def member_imports_for_org(*, organization):
    return MemberImport.objects.filter(organization=organization).select_related("created_by")


def identity_provider_for_email(*, email: str) -> IdentityProvider | None:
    """R43: the provider of the organization that owns the email's confirmed domain, if any."""
    domain = (email or "").strip().lower().rpartition("@")[2]
    if not domain:
        return None
    return (
        IdentityProvider.objects.filter(organization__email_domains__domain=domain)
        .select_related("organization__administrator")
        .first()
    )


def sign_on_required_for(*, email: str) -> bool:
    """R43: whether the email must sign in through its organization's provider: its domain is
    confirmed, sign-on is required there, and it is not that organization's administrator
    (whose password and passkeys keep working, so a broken provider locks nobody out)."""
    provider = identity_provider_for_email(email=email)
    if provider is None or not provider.sign_on_required:
        return False
    return provider.organization.administrator.email.lower() != (email or "").strip().lower()


def identity_provider_for_org(*, organization) -> IdentityProvider | None:
    return IdentityProvider.objects.filter(organization=organization).first()


def email_domains_for_org(*, organization):
    return EmailDomain.objects.filter(organization=organization)
