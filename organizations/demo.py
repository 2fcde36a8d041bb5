"""Demo accounts and the demo organization, for `seed_demo` (idempotent)."""

from organizations.models import Account, Invitation, Membership, Role
from organizations.services import account_create, member_add, membership_create

DEMO_PASSWORD = "portal-demo"
DEMO_INVITED = "dana@example.com"

# (email, name, kind, staff, role in the demo organization)
DEMO_ACCOUNTS = [
    ("staff@example.com", "Sam Support", "trial", True, None),
    ("admin@example.com", "Northwind Studio", "commercial", False, "admin"),
    ("alice@example.com", "Alice Artist", "trial", False, "member"),
    ("bob@example.com", "Bob Builder", "student", False, "member"),
    ("carol@example.com", "Carol Compositor", "educator", False, "member"),
    ("freelancer@example.com", "Fay Freelancer", "trial", False, None),
]


def seed() -> dict:
    accounts = {}
    for email, name, kind, staff, _role in DEMO_ACCOUNTS:
        account = Account.objects.filter(email=email).first()
        if account is None:
            account = account_create(
                email=email, kind=kind, password=DEMO_PASSWORD, name=name, is_staff=staff
            )
            if staff:
                account.is_superuser = True
                account.save(update_fields=["is_superuser"])
        accounts[email] = account
    organization = accounts["admin@example.com"].administered_organization
    for email, _name, _kind, _staff, role in DEMO_ACCOUNTS:
        if role == Role.MEMBER and not Membership.objects.filter(account=accounts[email]).exists():
            membership_create(organization=organization, account=accounts[email], role=role)
    # One pending invitation, so that the Users page shows both kinds of rows (R6).
    if (
        not Account.objects.filter(email=DEMO_INVITED).exists()
        and not Invitation.objects.filter(organization=organization, email=DEMO_INVITED).exists()
    ):
        member_add(actor=organization.administrator, organization=organization, email=DEMO_INVITED)
    return {"accounts": accounts, "organization": organization}
