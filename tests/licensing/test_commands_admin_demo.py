"""Operator commands, Django admin and demo data for licensing (R11, R13, R32, R34)."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from billing.models import Order
from licensing.models import License, Product
from portal.models import AuditEvent
from tests.licensing.factories import ProductFactory, make_seat

pytestmark = pytest.mark.django_db


def run(capsys, *args):
    call_command(*args)
    return capsys.readouterr().out.strip().splitlines()


def fails(*args):
    with pytest.raises(CommandError) as info:
        call_command(*args)
    assert info.value.returncode == 1
    return str(info.value)


# --- create_product -------------------------------------------------------------------------


def test_create_product(capsys):
    lines = run(capsys, "create_product", "fx-suite", "FX Suite")
    assert lines[-1] == "Created product fx-suite (FX Suite) at 120.00 EUR per seat per year."
    assert Product.objects.get(code="fx-suite").active
    assert AuditEvent.objects.filter(action="product.created", channel="command").exists()


def test_create_product_refuses_duplicates_and_bad_codes():
    ProductFactory(code="fx")
    assert "already exists" in fails("create_product", "fx", "Again")
    assert "not a valid code" in fails("create_product", "f x", "Spaces")
    assert Product.objects.count() == 1


# --- grant_licenses -------------------------------------------------------------------------


def test_grant_seats_to_an_organization(capsys, organization, product):
    lines = run(
        capsys,
        "grant_licenses",
        "--org",
        organization.customer_number,
        "--product",
        "studio",
        "--seats",
        "5",
        "--days",
        "30",
    )
    assert lines[-1].startswith(f"Granted 5 commercial seats of studio to {organization.name}")
    seats = License.objects.filter(organization=organization)
    assert seats.count() == 5
    assert all(s.assignee is None and s.is_active for s in seats)
    assert abs(seats[0].ends_at - timezone.now() - timedelta(days=30)) < timedelta(minutes=1)
    assert AuditEvent.objects.filter(action="licenses.granted", channel="command").exists()


def test_grant_a_perpetual_personal_trial(capsys, member, product):
    lines = run(
        capsys,
        "grant_licenses",
        "--account",
        member.email.upper(),
        "--product",
        "studio",
        "--kind",
        "trial",
    )
    lic = License.objects.get(account=member)
    assert lic.kind == "trial" and lic.ends_at is None
    assert "perpetual" in lines[-1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--org", "0000000000", "--product", "studio"], "No organization"),
        (["--account", "ghost@example.com", "--product", "studio"], "No account"),
        (["--account", "{member}", "--product", "nope"], "No product"),
        (["--account", "{member}", "--product", "studio", "--seats", "3"], "one seat"),
        (["--account", "{member}", "--product", "studio", "--kind", "gold"], "Unknown kind"),
        (["--org", "{org}", "--product", "studio", "--days", "0"], "at least 1"),
        (["--org", "{org}", "--product", "retired"], "no longer be bought or granted"),
    ],
)
def test_grant_licenses_bad_input_exits_1_and_changes_nothing(
    organization, member, product, args, message
):
    ProductFactory(code="retired", active=False)
    args = [a.format(member=member.email, org=organization.customer_number) for a in args]
    assert message in fails("grant_licenses", *args)
    assert not License.objects.exists()


def test_grant_licenses_needs_exactly_one_owner(organization, member, product):
    with pytest.raises(CommandError):
        call_command("grant_licenses", "--product", "studio")
    with pytest.raises(CommandError):
        call_command(
            "grant_licenses",
            "--org",
            organization.customer_number,
            "--account",
            member.email,
            "--product",
            "studio",
        )
    assert not License.objects.exists()


def test_expire_seats_releases_ended_assignments(capsys, organization, member, product):
    seat = make_seat(organization, product, starts_in_days=-10, days=5)
    License.objects.filter(pk=seat.pk).update(assignee=organization.memberships.get(account=member))
    assert run(capsys, "expire_seats") == [
        "Released 1 ended seat.",
        "Seat tallies folded to 1 row.",
    ]
    assert run(capsys, "expire_seats")[0] == "Released 0 ended seats."
    assert License.objects.get(pk=seat.pk).assignee is None


# --- Django admin ---------------------------------------------------------------------------


def test_admin_lists_and_searches(staff_client, organization, member, product):
    seat = make_seat(organization, product)
    License.objects.filter(pk=seat.pk).update(assignee=organization.memberships.get(account=member))
    for url in (
        "/admin/licensing/product/",
        "/admin/licensing/license/",
        f"/admin/licensing/license/?q={member.email}",
        f"/admin/licensing/license/?q={organization.customer_number}",
        f"/admin/licensing/license/?q={organization.name}",
        "/admin/licensing/license/?state=assigned&owner=organization",
        "/admin/billing/order/",
        f"/admin/billing/order/?q={member.customer_number}",
        f"/admin/licensing/license/{seat.pk}/change/",
    ):
        assert staff_client.get(url).status_code == 200, url
    response = staff_client.get(f"/admin/licensing/license/?q={member.email}")
    assert response.context["cl"].result_count == 1


def test_admin_grant_seats_action(staff_client, organization, product):
    data = {
        "action": "grant_seats",
        "_selected_action": [product.pk],
        "apply": "1",
        "customer_number": organization.customer_number,
        "seats": "3",
        "days": "",
        "kind": "commercial",
    }
    response = staff_client.post("/admin/licensing/product/", data)
    assert response.status_code == 302
    assert License.objects.filter(organization=organization, ends_at__isnull=True).count() == 3
    assert AuditEvent.objects.filter(action="licenses.granted", channel="admin").exists()


def test_admin_grant_personal_action_refuses_an_inactive_product(staff_client, member):
    retired = ProductFactory(active=False)
    data = {
        "action": "grant_personal",
        "_selected_action": [retired.pk],
        "apply": "1",
        "email": member.email,
        "days": "30",
        "kind": "commercial",
    }
    response = staff_client.post("/admin/licensing/product/", data, follow=True)
    assert "no longer be bought or granted" in response.content.decode()
    assert not License.objects.exists()


def test_admin_cancel_action_unassigns(staff_client, organization, member, product):
    seat = make_seat(organization, product)
    License.objects.filter(pk=seat.pk).update(assignee=organization.memberships.get(account=member))
    staff_client.post(
        "/admin/licensing/license/", {"action": "cancel_licenses", "_selected_action": [seat.pk]}
    )
    seat.refresh_from_db()
    assert seat.cancelled_at is not None and seat.assignee is None
    assert AuditEvent.objects.filter(action="license.cancelled", channel="admin").exists()


def test_admin_product_edit_is_audited(staff_client, product):
    response = staff_client.post(
        f"/admin/licensing/product/{product.pk}/change/",
        {"name": product.name, "active": "", "price": "100", "trial_available": "on"},
    )
    assert response.status_code == 302
    product.refresh_from_db()
    assert not product.active
    assert AuditEvent.objects.filter(action="product.changed", target="studio").exists()


# --- Demo -----------------------------------------------------------------------------------


def test_seed_demo_is_idempotent_and_sets_up_licensing(capsys):
    call_command("seed_demo")
    call_command("seed_demo")
    from organizations.models import Account

    admin = Account.objects.get(email="admin@example.com")
    seats = License.objects.filter(organization=admin.administered_organization)
    assert seats.count() == 10
    assigned = set(
        seats.filter(assignee__isnull=False).values_list("assignee__account__email", flat=True)
    )
    assert assigned == {"alice@example.com", "bob@example.com"}
    freelancer = Account.objects.get(email="freelancer@example.com")
    assert sorted(License.objects.filter(account=freelancer).values_list("kind", flat=True)) == [
        "commercial",
        "trial",
    ]
    # Credit purchases of the credits demo are orders too; these are the licensing ones.
    assert Order.objects.filter(lines__item__in=["seats", "license"]).distinct().count() == 2
