"""The visible-name rule holds at every door: services, pages, the Django admin."""

import pytest

from licensing import services as licensing_services
from licensing.models import Product
from organizations import services
from organizations.models import Account
from portal import errors
from portal.models import AuditEvent
from portal.names import visible_name

pytestmark = pytest.mark.django_db

INVISIBLE = "\u200b\u200e "  # a zero-width space, a direction mark, a space
# The organization's change page carries the (read-only) members inline's management form.
INLINE = {"memberships-TOTAL_FORMS": "0", "memberships-INITIAL_FORMS": "0"}


def test_the_rule_trims_and_refuses_invisible_names_with_the_field():
    assert visible_name("  Ada  ", required=True) == "Ada"
    with pytest.raises(errors.InvalidRequest) as refused:
        visible_name(INVISIBLE, field="organization_name", required=False)
    assert refused.value.field == "organization_name" and "visible" in refused.value.message
    with pytest.raises(errors.InvalidRequest):
        visible_name("", required=True)


def test_services_refuse_invisible_names_and_change_nothing(org_admin, organization):
    with pytest.raises(errors.InvalidRequest):
        services.account_create(email="ghost@example.com", name=INVISIBLE)
    assert not Account.objects.filter(email="ghost@example.com").exists()
    with pytest.raises(errors.InvalidRequest):
        services.organization_settings_update(
            actor=org_admin, organization=organization, name=INVISIBLE, low_balance_threshold=None
        )
    organization.refresh_from_db()
    assert organization.name.strip()
    with pytest.raises(errors.InvalidRequest):
        licensing_services.product_create(actor=org_admin, code="ghost", name=INVISIBLE)
    assert not Product.objects.filter(code="ghost").exists()


def test_profile_change_goes_through_the_service_and_is_audited_from_to(member):
    services.account_profile_update(actor=member, account=member, name="Ada Lovelace")
    member.refresh_from_db()
    assert member.name == "Ada Lovelace"
    event = AuditEvent.objects.get(action="account.profile_changed", target=member.email)
    assert event.details["name"]["to"] == "Ada Lovelace"
    services.account_profile_update(actor=member, account=member, name="Ada Lovelace")
    assert AuditEvent.objects.filter(action="account.profile_changed").count() == 1


def test_admin_refuses_an_invisible_organization_name_next_to_the_field(staff_client, organization):
    response = staff_client.post(
        f"/admin/organizations/organization/{organization.pk}/change/",
        {"name": INVISIBLE, "low_balance_threshold": "", **INLINE},
    )
    assert response.status_code == 200 and "Use visible characters" in response.content.decode()
    before = organization.name
    organization.refresh_from_db()
    assert organization.name == before


def test_admin_organization_rename_is_audited_through_the_settings_service(
    staff_client, organization
):
    response = staff_client.post(
        f"/admin/organizations/organization/{organization.pk}/change/",
        {"name": "Renamed Studio", "low_balance_threshold": "25", **INLINE},
    )
    assert response.status_code == 302
    organization.refresh_from_db()
    assert organization.name == "Renamed Studio" and organization.low_balance_threshold == 25
    event = AuditEvent.objects.get(action="organization.settings_changed")
    assert event.channel == "admin" and event.details["name"]["to"] == "Renamed Studio"


def test_admin_account_name_change_is_checked_and_audited(staff_client, member):
    url = f"/admin/organizations/account/{member.pk}/change/"
    # The account page's read-only inlines (memberships, personal licenses) send their
    # management forms too.
    inlines = {
        f"{prefix}-{key}": "0"
        for prefix in ("memberships", "personal_licenses")
        for key in ("TOTAL_FORMS", "INITIAL_FORMS")
    }
    form = {"email": member.email, "name": INVISIBLE, "is_active": "on", **inlines}
    response = staff_client.post(url, form)
    assert response.status_code == 200 and "Use visible characters" in response.content.decode()
    response = staff_client.post(url, {**form, "name": "Grace Hopper"})
    assert response.status_code == 302
    member.refresh_from_db()
    assert member.name == "Grace Hopper"
    assert AuditEvent.objects.filter(
        action="account.profile_changed", target=member.email, channel="admin"
    ).exists()
