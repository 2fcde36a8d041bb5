"""R1 accounts and R2 commercial organizations."""

import pytest

from organizations.models import Account, Membership, Organization
from organizations.services import EmailTaken, account_create, account_set_kind

pytestmark = pytest.mark.django_db


def test_email_is_unique_whatever_its_case():
    """R1: login is the email, unique case-insensitively."""
    account_create(email="Ann@Example.com", kind="trial")
    with pytest.raises(EmailTaken):
        account_create(email="ann@EXAMPLE.com", kind="trial")
    assert Account.objects.get().email == "ann@example.com"


def test_every_account_gets_a_distinct_ten_digit_customer_number():
    """R1: a unique customer number on creation."""
    numbers = {
        account_create(email=f"u{i}@example.com", kind="trial").customer_number for i in range(20)
    }
    assert len(numbers) == 20
    assert all(len(n) == 10 and n.isdigit() for n in numbers)


def test_commercial_account_gets_its_organization_at_once():
    """R2: named after the account, carrying its customer number, administered by it."""
    account = account_create(email="boss@studio.example", kind="commercial", name="Boss")
    organization = Organization.objects.get(administrator=account)
    assert organization.name == "Boss"
    assert organization.customer_number == account.customer_number
    assert Membership.objects.get(organization=organization).role == "admin"


def test_becoming_commercial_creates_the_organization_once():
    """R2: a change of kind to commercial creates the organization; again changes nothing."""
    account = account_create(email="grow@example.com", kind="trial")
    assert not Organization.objects.filter(administrator=account).exists()
    account_set_kind(actor=None, account=account, kind="commercial")
    account_set_kind(actor=None, account=account, kind="student")
    account_set_kind(actor=None, account=account, kind="commercial")
    assert Organization.objects.filter(administrator=account).count() == 1
    assert Organization.objects.get(administrator=account).name == "grow@example.com"


def test_sign_in_accepts_the_email_in_any_case(client, password):
    account_create(email="case@example.com", kind="trial", password=password)
    response = client.post(
        "/accounts/login/", {"username": "CASE@Example.COM", "password": password}
    )
    assert response.status_code == 302
