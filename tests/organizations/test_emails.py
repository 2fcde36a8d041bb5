"""The emails that confirm changes made for or to someone (issue: the missing emails)."""

import pytest
from django.core import mail

from credits import services as credit_services
from licensing import services as licensing_services
from organizations import services
from tests.factories import add_member
from tests.licensing.factories import ProductFactory

pytestmark = pytest.mark.django_db


def test_a_transfer_of_the_administrator_role_emails_both(org_admin, organization, staff):
    newcomer = add_member(organization, email="next@x.example").account
    mail.outbox.clear()
    services.administrator_transfer(
        actor=staff, organization=organization, new_administrator=newcomer
    )
    by_recipient = {m.to[0]: m.body for m in mail.outbox}
    assert set(by_recipient) == {newcomer.email, org_admin.email}
    assert "You are now the administrator" in by_recipient[newcomer.email]
    assert "in your place" in by_recipient[org_admin.email]


def test_credits_granted_by_staff_reach_the_account_or_the_pools_administrator(
    org_admin, organization, member
):
    mail.outbox.clear()
    credit_services.credits_grant(
        actor=None, organization=organization, amount="100", note="Goodwill for the outage"
    )
    credit_services.credits_grant(actor=None, account=member, amount="5")
    assert [m.to for m in mail.outbox] == [[org_admin.email], [member.email]]
    assert "Goodwill for the outage" in mail.outbox[0].body
    assert "100.00 credits" in mail.outbox[0].body


def test_licenses_granted_by_staff_reach_the_account_or_the_administrator(
    org_admin, organization, member
):
    product = ProductFactory(name="Asset Library")
    mail.outbox.clear()
    licensing_services.licenses_grant(
        actor=None, product=product, organization=organization, seats=3, days=30
    )
    licensing_services.licenses_grant(actor=None, product=product, account=member, days=30)
    assert [m.to for m in mail.outbox] == [[org_admin.email], [member.email]]
    assert "3 Asset Library seats" in mail.outbox[0].body


def test_a_changed_password_is_confirmed_by_email(client, member, password):
    client.force_login(member)
    mail.outbox.clear()
    response = client.post(
        "/accounts/password_change/",
        {
            "old_password": password,
            "new_password1": "a brand new Pass 2027!",
            "new_password2": "a brand new Pass 2027!",
        },
    )
    assert response.status_code == 302
    assert mail.outbox[-1].to == [member.email]
    assert "password" in mail.outbox[-1].subject.lower()


def test_a_new_setup_request_emails_staff(login, staff):
    from tests.factories import AccountFactory

    student = AccountFactory(kind="student")
    teacher = AccountFactory(kind="educator")
    mail.outbox.clear()
    services.setup_request_create(
        requester=student,
        organization_name="Lab",
        admin_email=teacher.email,
        admin_customer_number=teacher.customer_number,
    )
    assert mail.outbox[-1].to == [staff.email] and "/admin/" in mail.outbox[-1].body
