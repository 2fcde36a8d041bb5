"""R2, R4, R5: organizations, the one administrator, and the membership limits."""

import pytest
from django.db import IntegrityError, transaction

from organizations.models import Membership, Organization, Role
from organizations.services import (
    account_create,
    account_set_kind,
    administrator_transfer,
    membership_create,
    organization_create,
)
from portal import errors
from portal.models import AuditEvent
from tests.concurrency import run_together
from tests.factories import AccountFactory, add_member, make_org_admin

pytestmark = pytest.mark.django_db


def test_an_organization_cannot_get_a_second_administrator_membership(organization):
    """R4: a partial unique index allows one admin membership per organization."""
    with pytest.raises(IntegrityError), transaction.atomic():
        Membership.objects.create(
            organization=organization, account=AccountFactory(), role=Role.ADMIN
        )


def test_an_account_administers_at_most_one_organization(org_admin):
    """R5: creating a second organization for the same administrator is refused."""
    with pytest.raises(errors.AlreadyAdministers):
        organization_create(actor=None, administrator=org_admin, name="Second")
    assert Organization.objects.filter(administrator=org_admin).count() == 1


def test_an_account_is_a_user_in_at_most_one_other_organization(organization, outsider):
    """R5: the database refuses a second user membership for one account."""
    account = AccountFactory()
    add_member(organization, account)
    with pytest.raises(IntegrityError), transaction.atomic():
        membership_create(
            organization=outsider.administered_organization, account=account, role=Role.MEMBER
        )


def test_an_administrator_can_also_be_a_user_of_another_organization(organization):
    """R5: a freelancer with their own organization can join a studio's organization."""
    freelancer = make_org_admin()
    membership = add_member(organization, freelancer)
    assert membership.role == Role.MEMBER
    assert freelancer.administered_organization != organization


def test_the_organization_keeps_its_customer_number_when_the_role_moves(organization, org_admin):
    """R2, R4: staff transfer the role; the number stays; the former admin stays a member."""
    successor = add_member(organization).account
    administrator_transfer(actor=None, organization=organization, new_administrator=successor)
    organization.refresh_from_db()
    assert organization.administrator == successor
    assert organization.customer_number == org_admin.customer_number
    roles = dict(
        Membership.objects.filter(organization=organization).values_list("account__email", "role")
    )
    assert roles[successor.email] == Role.ADMIN
    assert roles[org_admin.email] == Role.MEMBER
    assert AuditEvent.objects.filter(action="organization.administrator_transferred").exists()


def test_transfer_to_a_non_member_is_refused(organization):
    stranger = AccountFactory()
    with pytest.raises(errors.NotAMember):
        administrator_transfer(actor=None, organization=organization, new_administrator=stranger)
    organization.refresh_from_db()
    assert organization.administrator != stranger


def test_transfer_to_someone_administering_elsewhere_is_refused(organization):
    other_admin = make_org_admin()
    add_member(organization, other_admin)
    with pytest.raises(errors.AlreadyAdministers):
        administrator_transfer(actor=None, organization=organization, new_administrator=other_admin)


def test_organization_creation_is_audited(org_admin):
    """R34: the automatic creation of R2 writes an audit event for the organization."""
    event = AuditEvent.objects.get(action="organization.created")
    assert event.organization == org_admin.administered_organization


@pytest.mark.django_db(transaction=True)
def test_concurrent_organization_creation_for_one_account_gives_one_organization():
    """R5 under a race: one creation wins, the others get a domain error, never a 500."""
    account = account_create(email="race@example.com", kind="trial")
    outcomes = run_together(
        [
            lambda i=i: organization_create(actor=None, administrator=account, name=f"Org {i}")
            for i in range(6)
        ]
    )
    created = [o for o in outcomes if isinstance(o, Organization)]
    refused = [o for o in outcomes if isinstance(o, errors.AlreadyAdministers)]
    assert len(created) == 1 and len(refused) == 5, outcomes
    assert Organization.objects.filter(administrator=account).count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_changes_to_commercial_create_one_organization():
    """R2 under a race: several staff actions making one account commercial at once."""
    account = account_create(email="upgrade@example.com", kind="trial")
    outcomes = run_together(
        [lambda: account_set_kind(actor=None, account=account, kind="commercial")] * 4
    )
    assert all(not isinstance(o, Exception) for o in outcomes), outcomes
    assert Organization.objects.filter(administrator=account).count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_user_memberships_leave_one(db):
    """R5 under a race: two organizations add the same account at the same moment; the
    partial unique index lets exactly one through."""
    first = make_org_admin().administered_organization
    second = make_org_admin().administered_organization
    account = AccountFactory()
    orgs = [first, second]

    def add(organization):
        with transaction.atomic():
            return membership_create(organization=organization, account=account, role=Role.MEMBER)

    outcomes = run_together([lambda o=o: add(o) for o in orgs])
    assert len([o for o in outcomes if isinstance(o, Membership)]) == 1, outcomes
    assert len([o for o in outcomes if isinstance(o, IntegrityError)]) == 1, outcomes
    assert Membership.objects.filter(account=account, role=Role.MEMBER).count() == 1


def test_a_former_administrator_is_sent_to_their_start_page(client, staff):
    old = make_org_admin()
    organization = old.administered_organization
    add_member(organization)
    newcomer = Membership.objects.filter(organization=organization, role="member").get().account
    administrator_transfer(actor=staff, organization=organization, new_administrator=newcomer)
    client.force_login(old)
    response = client.get("/organization/", follow=True)
    assert response.redirect_chain[0] == ("/", 302)
    assert f"You are no longer the administrator of {organization.name}." in (
        response.content.decode()
    )
    # Anyone else who never administered it still gets 404.
    client.force_login(AccountFactory())
    assert client.get("/organization/").status_code == 404
