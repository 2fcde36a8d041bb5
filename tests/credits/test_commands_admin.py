"""Operator commands and Django admin for credits (rules.md "Operator commands", R27, R28, R32)."""

from datetime import timedelta
from decimal import Decimal
from io import StringIO
from unittest import mock

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from credits.models import LedgerEntry, Lot, Wallet
from tests.credits.factories import consume, fund_pool, set_access
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db
D = Decimal


def run(*args):
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_grant_credits_to_an_organization_and_an_account(organization):
    out, _ = run("grant_credits", "--org", organization.customer_number, "250.5", "--days", "10")
    assert "Granted 250.50 credits to the pool of" in out
    lot = Lot.objects.get(wallet__organization=organization)
    assert lot.origin == "grant"
    assert abs(lot.expires_at - timezone.now() - timedelta(days=10)) < timedelta(minutes=1)
    account = AccountFactory()
    out, _ = run("grant_credits", "--account", account.email.upper(), "5")
    assert "personal credits of" in out
    assert Lot.objects.get(wallet__account=account).amount == D("5.00")


@pytest.mark.parametrize(
    "args",
    [
        ["--org", "0000000000", "10"],
        ["--account", "nobody@example.com", "10"],
        ["--org", "{org}", "1.001"],
        ["--org", "{org}", "-5"],
        ["--org", "{org}", "0"],
        ["--org", "{org}", "NaN"],
        ["--org", "{org}", "10", "--days", "0"],
        ["--org", "{org}", "--account", "x@example.com", "10"],
        ["10"],
    ],
)
def test_grant_credits_bad_input_exits_1_and_changes_nothing(organization, args):
    args = [a.replace("{org}", organization.customer_number) for a in args]
    with pytest.raises(CommandError) as exc:
        run("grant_credits", *args)
    assert exc.value.returncode == 1
    assert not Lot.objects.exists()


def test_grant_credits_obeys_r21(organization, member):
    set_access(member, organization, "unlimited")
    with pytest.raises(CommandError) as exc:
        run("grant_credits", "--account", member.email, "10")
    assert exc.value.returncode == 1 and "pool" in str(exc.value)
    assert not Lot.objects.exists()


def test_expire_credits_is_idempotent(organization):
    fund_pool(organization, "10.00", days=1)
    later = timezone.now() + timedelta(days=2)
    with mock.patch("django.utils.timezone.now", return_value=later):
        assert run("expire_credits")[0].strip() == "Released 0 expired holds. Expired 1 lot."
        assert run("expire_credits")[0].strip() == "Released 0 expired holds. Expired 0 lots."
    assert LedgerEntry.objects.filter(kind="expiry").count() == 1


def test_verify_ledger_exit_codes(organization, member):
    fund_pool(organization, "10.00")
    set_access(member, organization, "unlimited")
    consume(member, "1.00")
    assert "Ledger OK" in run("verify_ledger")[0]
    Wallet.objects.update(balance=D("3.00"))
    with pytest.raises(CommandError) as exc:
        run("verify_ledger")
    assert exc.value.returncode == 1


def test_verify_ledger_lists_each_violation_on_stderr(organization, member):
    fund_pool(organization, "10.00")
    Wallet.objects.update(balance=D("3.00"))
    err = StringIO()
    with pytest.raises(CommandError):
        call_command("verify_ledger", stdout=StringIO(), stderr=err)
    assert "balance 3.00 != ledger total 10.00" in err.getvalue()


def test_admin_grant_page_obeys_r21(client, staff, organization, member):
    client.force_login(staff)
    assert client.get("/admin/credits/wallet/").status_code == 200
    response = client.post(
        "/admin/credits/wallet/grant/",
        {"customer_number": organization.customer_number, "amount": "40", "days": ""},
    )
    assert response.status_code == 302
    assert Lot.objects.get(wallet__organization=organization).amount == D("40.00")
    set_access(member, organization, "unlimited")
    response = client.post("/admin/credits/wallet/grant/", {"email": member.email, "amount": "5"})
    assert response.status_code == 200 and "pool" in response.content.decode()
    assert not Lot.objects.filter(wallet__account=member).exists()


def test_admin_wallet_action_grants_to_selected_wallets(client, staff, organization):
    fund_pool(organization, "1.00")
    wallet = Wallet.objects.get(organization=organization)
    client.force_login(staff)
    response = client.post(
        "/admin/credits/wallet/",
        {"action": "grant_credits", "_selected_action": [wallet.pk], "apply": "1", "amount": "9"},
    )
    assert response.status_code == 302
    assert Lot.objects.filter(wallet=wallet).count() == 2


def test_ledger_is_read_only_in_admin(client, staff, organization):
    fund_pool(organization, "1.00")
    entry = LedgerEntry.objects.get()
    client.force_login(staff)
    assert client.get(f"/admin/credits/ledgerentry/{entry.pk}/change/").status_code == 200
    response = client.post(f"/admin/credits/ledgerentry/{entry.pk}/delete/", {"post": "yes"})
    assert response.status_code == 403
    assert LedgerEntry.objects.filter(pk=entry.pk).exists()


def test_granting_personal_credits_to_a_user_without_pool_access_warns_first(
    client, staff, organization, member
):
    """R21: with personal credits the member cannot be given the pool: staff read it before
    the grant happens, and grant only when they go ahead."""
    client.force_login(staff)
    first = client.post("/admin/credits/wallet/grant/", {"email": member.email, "amount": "5"})
    html = first.content.decode()
    assert first.status_code == 200 and f"is a user of {organization.name}" in html
    assert "Grant anyway" in html
    assert not Lot.objects.filter(wallet__account=member).exists()
    second = client.post(
        "/admin/credits/wallet/grant/", {"email": member.email, "amount": "5", "understood": "1"}
    )
    assert second.status_code == 302
    assert Lot.objects.get(wallet__account=member).amount == D("5.00")
