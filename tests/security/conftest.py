"""One organization with something of every kind, and the people around it.

`world` holds the objects whose ids appear in URLs (all of the right organization) and the
roles of the access matrix: the organization's administrator, one of its members, the
administrator of another organization, vendor staff, and nobody signed in.
"""

import re
from dataclasses import dataclass, field
from decimal import Decimal

import pytest
from django.core import mail

from credits import services as credit_services
from credits.models import CreditAccess
from licensing import services as licensing_services
from organizations import services as org_services
from portal.services import api_token_create
from tests.factories import AccountFactory, AnnouncementFactory, add_member, make_org_admin
from tests.licensing.factories import ProductFactory, make_seats

ROLES = ["anonymous", "member", "other_admin", "staff", "admin"]


@dataclass
class World:
    admin: object
    organization: object
    member: object
    membership: object
    other_admin: object
    staff: object
    invitation: object
    invitation_token: str
    member_import: object
    org_token: object
    seat: object
    announcement: object
    credit_access: object
    credit_request: object
    order: object
    secrets: dict = field(default_factory=dict)

    def account(self, role):
        return None if role == "anonymous" else getattr(self, role)


@pytest.fixture
def world(db):
    admin = make_org_admin(email="boss@right.example", name="Right Studio")
    organization = admin.administered_organization
    membership = add_member(organization, email="worker@right.example", name="Right Worker")
    other_admin = make_org_admin(email="boss@other.example", name="Other Studio")
    staff = AccountFactory(is_staff=True, is_superuser=True, email="staff@vendor.example")
    mail.outbox.clear()
    result = org_services.member_add(
        actor=admin, organization=organization, email="invitee@right.example"
    )
    token = re.search(r"/invitations/([^/\s]+)/", mail.outbox[-1].body).group(1)
    report = org_services.member_import(
        actor=admin, organization=organization, emails=["imported@right.example"]
    )
    org_token, org_secret = api_token_create(
        actor=admin, name="automation", scopes=["org:admin"], organization=organization
    )
    _, other_secret = api_token_create(
        actor=other_admin,
        name="other",
        scopes=["org:admin"],
        organization=other_admin.administered_organization,
    )
    _, service_secret = api_token_create(
        actor=None, name="farm", scopes=["entitlements:read", "credits:read", "credits:consume"]
    )
    _, weak_secret = api_token_create(actor=None, name="reader", scopes=["entitlements:read"])
    seat = make_seats(organization, ProductFactory(code="studio", name="Render Studio"), 1)[0]
    credit_access = CreditAccess.objects.get(organization=organization, account=membership.account)
    order = licensing_services.seats_purchase(
        actor=admin,
        organization=organization,
        product=ProductFactory(code="billed", name="Billed Product"),
        quantity=1,
        term_days=365,
    )
    credit_request = credit_services.credit_request_create(
        account=membership.account, amount=Decimal("25.00"), message="For the Friday renders"
    )
    return World(
        admin=admin,
        organization=organization,
        member=membership.account,
        membership=membership,
        other_admin=other_admin,
        staff=staff,
        invitation=result.invitation,
        invitation_token=token,
        member_import=report,
        org_token=org_token,
        seat=seat,
        announcement=AnnouncementFactory(),
        credit_access=credit_access,
        credit_request=credit_request,
        order=order,
        secrets={
            "org": org_secret,
            "other_org": other_secret,
            "service": service_secret,
            "weak_service": weak_secret,
        },
    )
