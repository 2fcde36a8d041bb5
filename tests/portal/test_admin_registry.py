"""R32: every model of the portal is in the Django admin, searchable where it has people or
organizations to search for, and append-only records are read-only there."""

import pytest
from django.apps import apps
from django.contrib import admin

PORTAL_APPS = ["organizations", "licensing", "credits", "portal"]


@pytest.mark.parametrize(
    "model",
    [m for label in PORTAL_APPS for m in apps.get_app_config(label).get_models()],
    ids=lambda m: m._meta.label,
)
def test_every_model_is_registered_with_list_columns(model):
    assert model in admin.site._registry, f"{model._meta.label} is not in the admin"
    model_admin = admin.site._registry[model]
    assert model_admin.list_display != ("__str__",), f"{model._meta.label} has no list columns"


@pytest.mark.parametrize("label", ["portal.AuditEvent", "credits.LedgerEntry"])
def test_audit_events_and_ledger_entries_are_read_only(rf, label, staff):
    model_admin = admin.site._registry[apps.get_model(label)]
    request = rf.get("/admin/")
    request.user = staff
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request)
    assert not model_admin.has_delete_permission(request)


def test_an_announcements_creation_time_is_not_editable(client, django_user_model):
    from django.contrib import admin as django_admin

    from portal.models import Announcement

    model_admin = django_admin.site._registry[Announcement]
    assert "created_at" in model_admin.get_readonly_fields(None)


def test_an_accounts_page_shows_memberships_licenses_credits_and_activity(client, member, staff):
    from tests.credits.factories import fund_personal
    from tests.licensing.factories import ProductFactory, make_personal

    make_personal(member, ProductFactory(name="Asset Library"))
    fund_personal(member, "7.00")
    client.force_login(staff)
    html = client.get(f"/admin/organizations/account/{member.pk}/change/").content.decode()
    assert "Organizations (memberships)" in html and "Personal licenses" in html
    assert "Asset Library" in html
    assert "7.00 credits in the ledger" in html
    assert "credits.grant" in html  # recent activity
