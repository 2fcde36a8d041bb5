"""Reads for organizations, always scoped by organization or account."""

from django.db.models import Count, Sum

from organizations.models import (
    EmailDomain,
    IdentityProvider,
    Invitation,
    InvitationState,
    MemberImport,
    Membership,
    MemberTally,
    Organization,
)


def organization_administered_by(account) -> Organization | None:
    """The organization `account` administers, or None. The signed-in account comes with it
    already (organizations.backends); any other account asks once and keeps the answer."""
    if not getattr(account, "is_authenticated", False):
        return None
    try:
        return account.administered_organization
    except Organization.DoesNotExist:
        return None


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


def member_tally_problems() -> list[str]:
    """The member tallies against the memberships and pending invitations they count, per
    organization (checked by `verify_ledger` beside the seat tallies): the members list, the
    overview and the API take their counts from the tallies, so a drift would show there."""
    counted: dict[int, list[int]] = {}
    for row in Membership.objects.values("organization_id").annotate(n=Count("id")).order_by():
        counted.setdefault(row["organization_id"], [0, 0])[0] = row["n"]
    for row in (
        Invitation.objects.filter(state=InvitationState.PENDING)
        .values("organization_id")
        .annotate(n=Count("id"))
        .order_by()
    ):
        counted.setdefault(row["organization_id"], [0, 0])[1] = row["n"]
    tallied = {
        row["organization_id"]: [row["members"], row["invitations"]]
        for row in MemberTally.objects.values("organization_id")
        .annotate(members=Sum("members"), invitations=Sum("invitations"))
        .order_by()
    }
    problems = []
    for organization_id in sorted(set(counted) | set(tallied)):
        real, tally = counted.get(organization_id, [0, 0]), tallied.get(organization_id, [0, 0])
        if real != tally:
            problems.append(
                f"member tally of organization #{organization_id}: members, invitations "
                f"{tuple(tally)} != counted {tuple(real)}"
            )
    return problems
