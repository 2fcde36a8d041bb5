"""R5 and R6 under truly concurrent requests (PostgreSQL, real threads, a barrier).

Lost races on the partial unique indexes of memberships and invitations must come back as the
domain errors of the API, never as a database error.
"""

import re
from datetime import timedelta

import pytest
from django.core import mail

from organizations import services
from organizations.models import Account, Invitation, Membership
from portal import errors
from tests.concurrency import run_together
from tests.factories import AccountFactory, make_org_admin

THREADS = 6


@pytest.mark.django_db(transaction=True)
def test_one_account_added_to_several_organizations_at_once_joins_exactly_one():
    """R5: the organizations are locked separately, so only the partial unique index
    `membership_member_of_one_org` stops the race; the losers get the domain error."""
    account = AccountFactory()
    admins = [make_org_admin() for _ in range(THREADS)]
    outcomes = run_together(
        [
            lambda a=a: services.member_add(
                actor=a, organization=a.administered_organization, email=account.email
            )
            for a in admins
        ]
    )
    winners = [o for o in outcomes if isinstance(o, services.MemberAddResult)]
    losers = [o for o in outcomes if isinstance(o, errors.MemberOfOtherOrganization)]
    assert len(winners) == 1 and len(losers) == THREADS - 1, outcomes
    assert Membership.objects.filter(account=account, role="member").count() == 1


@pytest.mark.django_db(transaction=True)
def test_one_account_added_to_one_organization_at_once_joins_once(org_admin, organization):
    account = AccountFactory()
    outcomes = run_together(
        [
            lambda: services.member_add(
                actor=org_admin, organization=organization, email=account.email
            )
            for _ in range(THREADS)
        ]
    )
    winners = [o for o in outcomes if isinstance(o, services.MemberAddResult)]
    losers = [o for o in outcomes if isinstance(o, errors.AlreadyMember)]
    assert len(winners) == 1 and len(losers) == THREADS - 1, outcomes
    assert Membership.objects.filter(account=account).count() == 1


@pytest.mark.django_db(transaction=True)
def test_one_email_invited_at_once_gets_one_invitation(org_admin, organization):
    outcomes = run_together(
        [
            lambda: services.member_add(
                actor=org_admin, organization=organization, email="race@x.example"
            )
            for _ in range(THREADS)
        ]
    )
    winners = [o for o in outcomes if isinstance(o, services.MemberAddResult)]
    losers = [o for o in outcomes if isinstance(o, errors.AlreadyInvited)]
    assert len(winners) == 1 and len(losers) == THREADS - 1, outcomes
    assert Invitation.objects.filter(email="race@x.example").count() == 1


@pytest.mark.django_db(transaction=True)
def test_one_invitation_link_used_at_once_creates_one_account(org_admin, organization):
    """R6: single-use under a row lock, even when the link is submitted several times."""
    services.member_add(actor=org_admin, organization=organization, email="once@x.example")
    token = re.search(r"/invitations/([^/\s]+)/", mail.outbox[-1].body).group(1)
    outcomes = run_together(
        [
            lambda i=i: services.invitation_accept(
                token=token, name=f"Try {i}", password="a sturdy pass phrase 42"
            )
            for i in range(THREADS)
        ]
    )
    winners = [o for o in outcomes if isinstance(o, Membership)]
    losers = [o for o in outcomes if isinstance(o, errors.DomainError)]
    assert len(winners) == 1 and len(losers) == THREADS - 1, outcomes
    assert Account.objects.filter(email="once@x.example").count() == 1
    assert Membership.objects.filter(account__email="once@x.example").count() == 1


@pytest.mark.django_db
def test_lost_race_on_the_index_is_translated_not_a_500(
    org_admin, organization, outsider, monkeypatch
):
    """The check before the insert saw nothing (the other add had not committed yet): the
    IntegrityError from the partial unique index becomes `member_of_other_organization`."""
    account = AccountFactory()
    services.member_add(
        actor=outsider, organization=outsider.administered_organization, email=account.email
    )
    from organizations.services import members as member_services

    real = member_services._membership_refusal
    calls = []

    def stale_first_check(**kwargs):
        calls.append(kwargs)
        return None if len(calls) == 1 else real(**kwargs)

    monkeypatch.setattr(member_services, "_membership_refusal", stale_first_check)
    with pytest.raises(errors.MemberOfOtherOrganization):
        services.member_add(actor=org_admin, organization=organization, email=account.email)
    assert len(calls) == 2
    assert not Membership.objects.filter(organization=organization, account=account).exists()


@pytest.mark.django_db(transaction=True)
def test_removal_racing_seat_assignments_leaves_no_seat_with_a_removed_member(
    org_admin, organization
):
    """R9 with R13: assignments to a member being removed either land before the removal
    (and are revoked by it) or are refused (`not_a_member`); never a seat of a non-member."""
    from django.utils import timezone

    from licensing import services as licensing_services
    from licensing.models import License, Product
    from tests.factories import add_member

    membership = add_member(organization)
    email = membership.account.email
    seats = []
    for i in range(THREADS - 1):
        product = Product.objects.create(code=f"race{i}", name=f"Race {i}")
        seats.append(
            License.objects.create(
                product=product,
                organization=organization,
                starts_at=timezone.now() - timedelta(days=1),
            )
        )
    calls = [lambda: services.member_remove(actor=org_admin, membership=membership)] + [
        lambda s=s: licensing_services.seat_assign(
            actor=org_admin, organization=organization, seat_id=s.pk, email=email
        )
        for s in seats
    ]
    outcomes = run_together(calls)
    assert isinstance(outcomes[0], dict), outcomes
    assert all(isinstance(o, (License, errors.NotAMember)) for o in outcomes[1:]), outcomes
    assert not Membership.objects.filter(pk=membership.pk).exists()
    assert not License.objects.filter(assignee__isnull=False).exists()


@pytest.mark.django_db(transaction=True)
def test_a_rename_during_a_membership_insert_reaches_the_sort_name():
    """The membership's trigger reads the account share-locked: a rename committed while the
    new membership is still uncommitted waits, and its own trigger then sees the membership."""
    import time

    from django.db import transaction

    from organizations.models import Role

    admin = make_org_admin()
    organization = admin.administered_organization
    account = AccountFactory(name="Aaron")

    def join_slowly():
        with transaction.atomic():
            Membership.objects.create(organization=organization, account=account, role=Role.MEMBER)
            time.sleep(1.0)  # the rest of an invitation's acceptance

    def rename_meanwhile():
        time.sleep(0.3)
        renamed = Account.objects.get(pk=account.pk)
        renamed.name = "Zoe"
        renamed.save(update_fields=["name"])

    outcomes = run_together([join_slowly, rename_meanwhile])
    assert outcomes == [None, None], outcomes
    assert Membership.objects.get(account=account).sort_name == "zoe"
