"""Operator commands (rules.md "Operator commands"): names, output, exit codes, no change on
error."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from organizations.models import Account, Organization
from portal.api import token_hash
from portal.models import ApiToken, AuditEvent

pytestmark = pytest.mark.django_db


def run(capsys, *args):
    call_command(*args)
    return capsys.readouterr().out.strip().splitlines()


def test_create_account_prints_the_customer_number_last(capsys):
    lines = run(
        capsys, "create_account", "New@Example.com", "--kind", "commercial", "--name", "New Co"
    )
    account = Account.objects.get(email="new@example.com")
    assert lines[-1] == account.customer_number
    assert Organization.objects.get(administrator=account).name == "New Co"
    assert AuditEvent.objects.filter(action="account.created", channel="command").exists()


def test_create_account_with_password_and_staff(capsys):
    run(
        capsys,
        "create_account",
        "ops@vendor.example",
        "--kind",
        "trial",
        "--password",
        "s3cret-pass",
        "--staff",
    )
    account = Account.objects.get(email="ops@vendor.example")
    assert account.is_staff and account.check_password("s3cret-pass")


@pytest.mark.parametrize(
    "args",
    [
        ["create_account", "not-an-email", "--kind", "trial"],
        ["create_account", "a@example.com", "--kind", "emperor"],
    ],
)
def test_create_account_refuses_bad_input_and_changes_nothing(args):
    with pytest.raises(CommandError) as excinfo:
        call_command(*args)
    assert excinfo.value.returncode == 1
    assert not Account.objects.exists()


def test_create_account_refuses_a_taken_email(capsys):
    run(capsys, "create_account", "a@example.com", "--kind", "trial")
    with pytest.raises(CommandError, match="already exists"):
        call_command("create_account", "A@EXAMPLE.COM", "--kind", "commercial")
    assert Account.objects.count() == 1 and not Organization.objects.exists()


def test_create_api_token_prints_the_token_once_and_stores_its_hash(capsys):
    lines = run(
        capsys, "create_api_token", "render farm", "--scopes", "credits:read,credits:consume"
    )
    secret = lines[-1]
    token = ApiToken.objects.get()
    assert token.token_hash == token_hash(secret)
    assert sorted(token.scopes) == ["credits:consume", "credits:read"]
    assert token.organization is None


def test_create_api_token_for_an_organization(capsys, organization):
    lines = run(
        capsys,
        "create_api_token",
        "script",
        "--scopes",
        "org:admin",
        "--org",
        organization.customer_number,
    )
    assert ApiToken.objects.get(token_hash=token_hash(lines[-1])).organization == organization


@pytest.mark.parametrize(
    "args",
    [
        ["create_api_token", "x", "--scopes", "org:admin"],
        ["create_api_token", "x", "--scopes", "credits:read", "--org", "0000000000"],
        ["create_api_token", "x", "--scopes", "root"],
    ],
)
def test_create_api_token_refuses_bad_input(args, organization):
    with pytest.raises(CommandError) as excinfo:
        call_command(*args)
    assert excinfo.value.returncode == 1
    assert not ApiToken.objects.exists()


def test_seed_demo_is_idempotent_and_prints_the_logins(capsys):
    first = run(capsys, "seed_demo")
    counts = (Account.objects.count(), Organization.objects.count())
    second = run(capsys, "seed_demo")
    assert (Account.objects.count(), Organization.objects.count()) == counts
    assert any("admin@example.com" in line for line in first)
    assert first == second
    admin = Account.objects.get(email="admin@example.com")
    assert admin.check_password("portal-demo")
    assert Organization.objects.get(administrator=admin).memberships.count() >= 4


def test_seed_demo_names_the_address_actually_served_and_prints_no_email(capsys, settings):
    settings.PORTAL_BASE_URL = "http://127.0.0.1:8765"
    settings.EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"  # as make run
    lines = run(capsys, "seed_demo")
    assert "Demo data is ready. Sign in at http://127.0.0.1:8765/ with:" in lines
    assert not any(line.startswith("Subject:") for line in lines)


def test_create_account_takes_the_kind_in_any_case(capsys):
    lines = run(capsys, "create_account", "caps@example.com", "--kind", "TRIAL")
    assert Account.objects.get(email="caps@example.com").kind == "trial"
    assert lines[-1] == Account.objects.get(email="caps@example.com").customer_number
