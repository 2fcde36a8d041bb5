"""Licensing API: entitlements (R14) and the organization's seats (R13), the documented shapes."""

from datetime import timedelta

import pytest
from django.utils import timezone

from licensing.models import License
from portal.models import AuditEvent
from portal.services import api_token_create
from tests.factories import AccountFactory, add_member
from tests.licensing.factories import ProductFactory, make_personal, make_seat, make_seats

pytestmark = pytest.mark.django_db


def bearer(secret):
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


def iso(moment):
    """The API's form of a time: ISO 8601 UTC with milliseconds and Z."""
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def assert_error(response, status, code):
    assert response.status_code == status, response.content
    body = response.json()
    assert body["error"]["code"] == code and body["error"]["message"]
    return body["error"]


@pytest.fixture
def org_token(organization):
    return api_token_create(
        actor=organization.administrator,
        name="org",
        scopes=["org:admin"],
        organization=organization,
    )[1]


@pytest.fixture
def outsider_token(outsider):
    org = outsider.administered_organization
    return api_token_create(actor=None, name="o", scopes=["org:admin"], organization=org)[1]


@pytest.fixture
def entitlements_token():
    return api_token_create(actor=None, name="ls", scopes=["entitlements:read"])[1]


@pytest.fixture
def product(db):
    return ProductFactory(code="studio", name="Render Studio")


# --- Entitlements ---------------------------------------------------------------------------


def test_entitlements_list_personal_and_organizational_sources(
    client, organization, member, product, entitlements_token
):
    modeler = ProductFactory(code="modeler", name="Modeler Pro")
    seat = make_seat(organization, product, days=None)
    License.objects.filter(pk=seat.pk).update(assignee=organization.memberships.get(account=member))
    personal = make_personal(member, product, days=30)
    trial = make_personal(member, modeler, kind="trial", days=30)
    make_personal(
        member,
        ProductFactory(code="old"),
        starts_at=timezone.now() - timedelta(days=9),
        ends_at=timezone.now() - timedelta(days=1),
    )  # ended yesterday
    make_personal(
        member, ProductFactory(code="later"), starts_at=timezone.now() + timedelta(days=1)
    )

    response = client.get(
        f"/api/v1/accounts/{member.email.upper()}/entitlements", **bearer(entitlements_token)
    )
    assert response.status_code == 200
    body = response.json()
    assert body["account"] == member.email
    assert [p["product"] for p in body["products"]] == ["modeler", "studio"]
    studio = body["products"][1]
    assert studio["name"] == "Render Studio"
    assert studio["sources"] == [
        {
            "source": "organization",
            "license_id": seat.pk,
            "kind": "commercial",
            "valid_until": None,
        },
        {
            "source": "personal",
            "license_id": personal.pk,
            "kind": "commercial",
            "valid_until": iso(personal.ends_at),
        },
    ]
    assert body["products"][0]["sources"][0]["kind"] == "trial"
    assert body["products"][0]["sources"][0]["license_id"] == trial.pk


def test_entitlements_of_an_account_without_licenses_is_empty(client, entitlements_token):
    account = AccountFactory()
    response = client.get(
        f"/api/v1/accounts/{account.email}/entitlements", **bearer(entitlements_token)
    )
    assert response.json() == {"account": account.email, "products": []}


def test_entitlements_unknown_account_is_404(client, entitlements_token):
    response = client.get(
        "/api/v1/accounts/ghost@example.com/entitlements", **bearer(entitlements_token)
    )
    assert_error(response, 404, "not_found")


def test_entitlements_need_the_scope(client, org_token, member):
    other = api_token_create(actor=None, name="x", scopes=["credits:read"])[1]
    assert_error(
        client.get(f"/api/v1/accounts/{member.email}/entitlements", **bearer(other)),
        403,
        "forbidden",
    )
    assert_error(
        client.get(f"/api/v1/accounts/{member.email}/entitlements", **bearer(org_token)),
        403,
        "forbidden",
    )
    assert_error(
        client.get(f"/api/v1/accounts/{member.email}/entitlements"), 401, "unauthenticated"
    )


def test_entitlements_run_a_bounded_number_of_queries(
    client, organization, member, entitlements_token, django_assert_max_num_queries
):
    for i in range(20):
        make_personal(member, ProductFactory(code=f"p{i}"))
    with django_assert_max_num_queries(5):
        response = client.get(
            f"/api/v1/accounts/{member.email}/entitlements", **bearer(entitlements_token)
        )
    assert len(response.json()["products"]) == 20


# --- Organization licenses ------------------------------------------------------------------


def test_org_licenses_list_with_product_filter_and_effective_assignee(
    client, organization, member, product, org_token
):
    other = ProductFactory(code="modeler")
    seat = make_seat(organization, product)
    ended = make_seat(organization, product, starts_in_days=-10, days=5)
    membership = organization.memberships.get(account=member)
    License.objects.filter(pk__in=[seat.pk]).update(assignee=membership)
    make_seat(organization, other)
    response = client.get("/api/v1/org/licenses?product=studio", **bearer(org_token))
    assert response.status_code == 200
    body = response.json()
    assert body["next"] is None
    assert body["results"] == [
        {
            "id": seat.pk,
            "product": "studio",
            "kind": "commercial",
            "valid_until": iso(seat.ends_at),
            "active": True,
            "assignee": member.email,
        },
        {
            "id": ended.pk,
            "product": "studio",
            "kind": "commercial",
            "valid_until": iso(ended.ends_at),
            "active": False,
            "assignee": None,
        },
    ]
    assert len(client.get("/api/v1/org/licenses", **bearer(org_token)).json()["results"]) == 3


def test_org_licenses_paginate_by_100_with_a_full_next_url(
    client, organization, product, org_token, django_assert_max_num_queries
):
    make_seats(organization, product, 150)
    with django_assert_max_num_queries(6):
        first = client.get("/api/v1/org/licenses?product=studio", **bearer(org_token)).json()
    assert len(first["results"]) == 100
    assert first["next"].startswith("http://testserver/api/v1/org/licenses?")
    assert "page=2" in first["next"] and "product=studio" in first["next"]
    second = client.get(first["next"], **bearer(org_token)).json()
    assert len(second["results"]) == 50 and second["next"] is None
    ids = [r["id"] for r in first["results"] + second["results"]]
    assert len(set(ids)) == 150


def test_org_licenses_show_only_the_tokens_organization(
    client, organization, outsider, product, org_token
):
    make_seat(outsider.administered_organization, product)
    make_personal(AccountFactory(), product)
    assert client.get("/api/v1/org/licenses", **bearer(org_token)).json()["results"] == []


def test_org_licenses_bad_page_is_400(client, org_token):
    error = assert_error(
        client.get("/api/v1/org/licenses?page=0", **bearer(org_token)), 400, "invalid_request"
    )
    assert "page" in error["fields"]


def test_put_assignee_assigns_and_reassigns(client, organization, member, product, org_token):
    seat = make_seat(organization, product)
    response = client.put(
        f"/api/v1/org/licenses/{seat.pk}/assignee",
        {"email": member.email},
        content_type="application/json",
        **bearer(org_token),
    )
    assert response.status_code == 200, response.content
    assert response.json()["assignee"] == member.email and response.json()["id"] == seat.pk
    other = add_member(organization).account
    response = client.put(
        f"/api/v1/org/licenses/{seat.pk}/assignee",
        {"email": other.email},
        content_type="application/json",
        **bearer(org_token),
    )
    assert response.json()["assignee"] == other.email
    assert AuditEvent.objects.filter(action="seat.reassigned", channel="api").exists()


@pytest.mark.parametrize(
    ("setup", "status", "code"),
    [
        ("stranger", 409, "not_a_member"),
        ("ended", 409, "seat_unavailable"),
        ("later", 409, "seat_unavailable"),
        ("duplicate", 409, "duplicate_product_seat"),
        ("foreign", 404, "not_found"),
        ("personal", 404, "not_found"),
        ("missing", 404, "not_found"),
    ],
)
def test_put_assignee_refusals(
    client, organization, outsider, member, product, org_token, setup, status, code
):
    email = member.email
    if setup == "ended":
        seat = make_seat(organization, product, starts_in_days=-10, days=9)
    elif setup == "later":
        seat = make_seat(organization, product, starts_in_days=1)
    elif setup == "foreign":
        seat = make_seat(outsider.administered_organization, product)
    elif setup == "personal":
        seat = make_personal(member, product)
    else:
        seat = make_seat(organization, product)
    if setup == "stranger":
        email = outsider.email
    if setup == "duplicate":
        held = make_seat(organization, product)
        License.objects.filter(pk=held.pk).update(
            assignee=organization.memberships.get(account=member)
        )
    seat_id = 999999 if setup == "missing" else seat.pk
    response = client.put(
        f"/api/v1/org/licenses/{seat_id}/assignee",
        {"email": email},
        content_type="application/json",
        **bearer(org_token),
    )
    assert_error(response, status, code)
    if setup != "missing":
        seat.refresh_from_db()
        assert seat.assignee is None


def test_put_assignee_validates_the_body(client, organization, product, org_token):
    seat = make_seat(organization, product)
    response = client.put(
        f"/api/v1/org/licenses/{seat.pk}/assignee",
        {},
        content_type="application/json",
        **bearer(org_token),
    )
    assert "email" in assert_error(response, 400, "invalid_request")["fields"]


def test_delete_assignee_revokes(client, organization, member, product, org_token):
    seat = make_seat(organization, product)
    License.objects.filter(pk=seat.pk).update(assignee=organization.memberships.get(account=member))
    response = client.delete(f"/api/v1/org/licenses/{seat.pk}/assignee", **bearer(org_token))
    assert response.status_code == 204 and response.content == b""
    seat.refresh_from_db()
    assert seat.assignee is None
    # Again: still 204, nothing to do.
    assert (
        client.delete(f"/api/v1/org/licenses/{seat.pk}/assignee", **bearer(org_token)).status_code
        == 204
    )


def test_other_organizations_seats_are_404_for_every_method(
    client, organization, outsider, member, product, outsider_token
):
    seat = make_seat(organization, product)
    License.objects.filter(pk=seat.pk).update(assignee=organization.memberships.get(account=member))
    url = f"/api/v1/org/licenses/{seat.pk}/assignee"
    assert_error(client.delete(url, **bearer(outsider_token)), 404, "not_found")
    assert_error(
        client.put(
            url,
            {"email": outsider.email},
            content_type="application/json",
            **bearer(outsider_token),
        ),
        404,
        "not_found",
    )
    assert License.objects.get(pk=seat.pk).assignee.account == member


def test_org_endpoints_need_an_org_token(client, organization, product, entitlements_token):
    seat = make_seat(organization, product)
    assert_error(client.get("/api/v1/org/licenses"), 401, "unauthenticated")
    assert_error(client.get("/api/v1/org/licenses", **bearer(entitlements_token)), 403, "forbidden")
    assert_error(client.delete(f"/api/v1/org/licenses/{seat.pk}/assignee"), 401, "unauthenticated")
