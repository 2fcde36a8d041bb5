"""`/api/v1/org/members` (R6, R9, R10): list, add, remove; the token's organization only."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.utils import timezone

from console import selectors as console_selectors
from credits.models import CreditAccess
from licensing.models import License, Product
from organizations import services
from organizations.models import Invitation, InvitationState, Membership
from portal.models import AuditEvent
from portal.services import api_token_create
from tests.factories import AccountFactory, add_member

pytestmark = pytest.mark.django_db

MEMBERS = "/api/v1/org/members"


def bearer(secret):
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


def assert_error(response, status, code):
    assert response.status_code == status, response.content
    body = response.json()
    assert body["error"]["code"] == code
    return body["error"]


@pytest.fixture
def token(org_admin, organization):
    return api_token_create(
        actor=org_admin, name="script", scopes=["org:admin"], organization=organization
    )[1]


@pytest.fixture
def auth(token):
    return bearer(token)


def test_list_members_and_invitations(client, auth, org_admin, organization):
    member = add_member(organization, email="m@x.example")
    product = Product.objects.create(code="paint", name="Paint")
    License.objects.create(
        product=product,
        organization=organization,
        assignee=member,
        starts_at=timezone.now() - timedelta(days=1),
    )
    CreditAccess.objects.filter(membership=member).update(
        mode="quota",
        limit=Decimal("50"),
        period="monthly",
        used=Decimal("12.5"),
        period_start=console_selectors.month_start(),
    )
    services.member_add(actor=org_admin, organization=organization, email="inv@x.example")
    response = client.get(MEMBERS, **auth)
    assert response.status_code == 200
    body = response.json()
    assert body["next"] is None
    by_email = {r["email"]: r for r in body["results"]}
    assert by_email["m@x.example"] == {
        "email": "m@x.example",
        "status": "member",
        "role": "member",
        "credit_access": {"mode": "quota", "limit": "50.00", "period": "monthly", "used": "12.50"},
        "products": ["paint"],
    }
    assert by_email[org_admin.email]["role"] == "admin"
    assert by_email[org_admin.email]["credit_access"] == {
        "mode": "disabled",
        "limit": None,
        "period": "none",
        "used": "0.00",
    }
    assert by_email["inv@x.example"]["status"] == "invited"
    assert by_email["inv@x.example"]["products"] == []


def test_used_is_all_time_for_unlimited_from_the_ledger(client, auth, organization):
    """`used` for unlimited access: every consumption in this organization, whenever, minus
    its refunds (R22) — read from the monthly usage rollups the ledger keeps."""
    from unittest import mock

    from credits import services as credit_services
    from tests.credits.factories import consume, fund_pool, set_access

    member = add_member(organization, email="u@x.example")
    ninety_days_ago = timezone.now() - timedelta(days=90)
    with mock.patch("django.utils.timezone.now", return_value=ninety_days_ago):
        fund_pool(organization, "100.00", days=365)
        set_access(member.account, organization, "unlimited")
        consume(member.account, "10.00", reference="job-1")
    consume(member.account, "5.25", reference="job-2")
    credit_services.credits_refund(reference="job-1", amount="2.00")
    body = client.get(MEMBERS + "?q=u@x", **auth).json()
    assert body["results"][0]["credit_access"]["used"] == "13.25"


def test_list_pages_by_100_with_full_next_url(client, auth, organization):
    for i in range(150):
        add_member(organization, email=f"p{i:03}@x.example")
    first = client.get(MEMBERS, **auth).json()
    assert len(first["results"]) == 100
    assert first["next"] == "http://testserver/api/v1/org/members?page=2"
    second = client.get(first["next"], **auth).json()
    assert len(second["results"]) == 51 and second["next"] is None
    emails = [r["email"] for r in first["results"] + second["results"]]
    assert len(set(emails)) == 151


def test_list_query_count_is_bounded(client, auth, organization, django_assert_max_num_queries):
    for i in range(120):
        add_member(organization, email=f"c{i:03}@x.example")
    with django_assert_max_num_queries(10):
        assert client.get(MEMBERS, **auth).status_code == 200


def test_search_keeps_q_in_next(client, auth, organization):
    for i in range(101):
        add_member(organization, email=f"find{i:03}@x.example")
    add_member(organization, email="other@x.example")
    body = client.get(MEMBERS + "?q=find", **auth).json()
    assert body["next"] == "http://testserver/api/v1/org/members?page=2&q=find"
    assert all(r["email"].startswith("find") for r in body["results"])


def test_bad_page_is_400(client, auth):
    assert_error(client.get(MEMBERS + "?page=0", **auth), 400, "invalid_request")
    assert_error(client.get(MEMBERS + "?page=x", **auth), 400, "invalid_request")


def test_post_existing_account_is_201_member(client, auth, organization):
    AccountFactory(email="exists@x.example")
    response = client.post(
        MEMBERS, {"email": "Exists@x.example"}, content_type="application/json", **auth
    )
    assert response.status_code == 201
    assert response.json() == {"email": "exists@x.example", "status": "member"}
    assert AuditEvent.objects.get(action="member.added").channel == "api"


def test_post_unknown_email_is_201_invited(client, auth, organization):
    response = client.post(
        MEMBERS, {"email": "new@x.example"}, content_type="application/json", **auth
    )
    assert response.status_code == 201
    assert response.json() == {"email": "new@x.example", "status": "invited"}
    assert mail.outbox[0].to == ["new@x.example"]


@pytest.mark.parametrize(
    ("setup", "status", "code"),
    [
        ("member", 409, "already_member"),
        ("admin", 409, "already_member"),
        ("elsewhere", 409, "member_of_other_organization"),
        ("invited", 409, "already_invited"),
        ("invalid", 400, "invalid_request"),
    ],
)
def test_post_errors_have_spec_codes(
    client, auth, org_admin, organization, outsider, setup, status, code
):
    email = {
        "member": lambda: add_member(organization).account.email,
        "admin": lambda: org_admin.email,
        "elsewhere": lambda: add_member(outsider.administered_organization).account.email,
        "invited": lambda: (
            services.member_add(
                actor=org_admin, organization=organization, email="i@x.example"
            ).email
        ),
        "invalid": lambda: "not-an-email",
    }[setup]()
    response = client.post(MEMBERS, {"email": email}, content_type="application/json", **auth)
    error = assert_error(response, status, code)
    if status == 400:
        assert "email" in error["fields"]


def test_post_without_email_is_400_with_fields(client, auth):
    error = assert_error(
        client.post(MEMBERS, {}, content_type="application/json", **auth), 400, "invalid_request"
    )
    assert "email" in error["fields"]


def test_delete_member_is_204_and_revokes(client, auth, organization):
    member = add_member(organization, email="gone@x.example")
    product = Product.objects.create(code="paint", name="Paint")
    seat = License.objects.create(product=product, organization=organization, assignee=member)
    response = client.delete(f"{MEMBERS}/gone@x.example", **auth)
    assert response.status_code == 204
    assert not Membership.objects.filter(pk=member.pk).exists()
    seat.refresh_from_db()
    assert seat.assignee is None


def test_delete_invited_email_cancels_the_invitation(client, auth, org_admin, organization):
    services.member_add(actor=org_admin, organization=organization, email="inv@x.example")
    assert client.delete(f"{MEMBERS}/INV@x.example", **auth).status_code == 204
    assert Invitation.objects.get().state == InvitationState.CANCELLED


def test_delete_administrator_is_409(client, auth, org_admin):
    assert_error(client.delete(f"{MEMBERS}/{org_admin.email}", **auth), 409, "cannot_remove_admin")


def test_delete_unknown_is_404(client, auth):
    assert_error(client.delete(f"{MEMBERS}/nobody@x.example", **auth), 404, "not_found")


def test_other_organizations_members_answer_404_and_never_appear(
    client, auth, organization, outsider
):
    other = outsider.administered_organization
    theirs = add_member(other, email="theirs@x.example")
    services.member_add(actor=outsider, organization=other, email="theirinv@x.example")
    emails = [r["email"] for r in client.get(MEMBERS, **auth).json()["results"]]
    assert "theirs@x.example" not in emails and "theirinv@x.example" not in emails
    assert outsider.email not in emails
    assert_error(client.delete(f"{MEMBERS}/theirs@x.example", **auth), 404, "not_found")
    assert_error(client.delete(f"{MEMBERS}/theirinv@x.example", **auth), 404, "not_found")
    assert_error(client.delete(f"{MEMBERS}/{outsider.email}", **auth), 404, "not_found")
    assert Membership.objects.filter(pk=theirs.pk).exists()
    assert Invitation.objects.get(email="theirinv@x.example").state == InvitationState.PENDING


def test_service_token_is_403_and_no_token_401(client, organization):
    secret = api_token_create(actor=None, name="farm", scopes=["credits:read"])[1]
    assert_error(client.get(MEMBERS, **bearer(secret)), 403, "forbidden")
    assert_error(
        client.post(
            MEMBERS, {"email": "a@x.example"}, content_type="application/json", **bearer(secret)
        ),
        403,
        "forbidden",
    )
    assert_error(client.delete(f"{MEMBERS}/a@x.example", **bearer(secret)), 403, "forbidden")
    assert_error(client.get(MEMBERS), 401, "unauthenticated")


@pytest.mark.parametrize(
    "query", ["?page=1000001", "?page=99999999999999999999999", "?q=" + "x" * 101, "?page=-1"]
)
def test_out_of_range_list_parameters_are_400(client, auth, query):
    error = assert_error(client.get(MEMBERS + query, **auth), 400, "invalid_request")
    assert error["fields"]


def test_odd_input_is_refused_never_fails(client, auth, organization):
    """A NUL in a query string, and an email in the path that is not an address the API takes
    (the OpenAPI description's pattern, 254 characters at most), are 400 with `fields`."""
    error = assert_error(client.get(MEMBERS + "?q=%00a", **auth), 400, "invalid_request")
    assert error["fields"]
    for email in ("a%00b@x.example", f"{'x' * 300}@x.example", "a@x.example%0A"):
        error = assert_error(client.delete(f"{MEMBERS}/{email}", **auth), 400, "invalid_request")
        assert set(error["fields"]) == {"email"}
    assert_error(client.delete(f"{MEMBERS}/nobody@x.example", **auth), 404, "not_found")
    response = client.post(
        MEMBERS, {"email": "a\u0000b@x.example"}, content_type="application/json", **auth
    )
    assert_error(response, 400, "invalid_request")
    assert client.get(MEMBERS + "?page=5", **auth).json() == {"results": [], "next": None}
