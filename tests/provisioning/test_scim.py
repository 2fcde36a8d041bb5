"""`/scim/v2/` (R44): the organization's directory adds, reads, changes and removes members,
with SCIM errors, for the token's organization only."""

import json

import pytest
from django.core import mail
from django.core.management import call_command

from console.activity import lines_for
from credits.models import CreditAccess
from organizations.models import Account, Invitation, Membership
from portal.models import AuditEvent
from portal.services import api_token_create
from tests.factories import AccountFactory, add_member
from tests.organizations.test_members import seat

pytestmark = pytest.mark.django_db

USERS = "/scim/v2/Users"
SCIM_JSON = "application/scim+json"


def user(email, user_name=None, **extra):
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": user_name or email,
        "name": {"givenName": "Dana", "familyName": "Directory"},
        "emails": [{"value": email, "type": "work", "primary": True}],
        "active": True,
        **extra,
    }


class Directory:
    """The test client speaking SCIM with one organization's token."""

    def __init__(self, client, secret):
        self.client = client
        self.headers = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}

    def get(self, path, **query):
        return self.client.get(path, query, **self.headers)

    def send(self, method, path, body):
        data = body if isinstance(body, str | bytes) else json.dumps(body)
        call = getattr(self.client, method)
        return call(path, data, content_type=SCIM_JSON, **self.headers)

    def create(self, body):
        return self.send("post", USERS, body)

    def patch(self, user_id, *operations):
        body = {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": list(operations),
        }
        return self.send("patch", f"{USERS}/{user_id}", body)


def scim_token(organization, actor=None):
    return api_token_create(actor=actor, name="idp", scopes=["scim"], organization=organization)[1]


@pytest.fixture
def directory(client, org_admin, organization):
    return Directory(client, scim_token(organization, org_admin))


def assert_scim_error(response, status, scim_type=None):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == SCIM_JSON
    body = response.json()
    assert body["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    assert body["status"] == str(status)
    assert body.get("scimType") == scim_type
    return body


def test_create_adds_the_member_and_creates_the_account_without_an_invitation(
    directory, organization
):
    response = directory.create(user("new@corp.example", externalId="00u1"))
    assert response.status_code == 201, response.content
    assert response["Content-Type"] == SCIM_JSON
    body = response.json()
    membership = Membership.objects.get(
        organization=organization, account__email="new@corp.example"
    )
    assert body["id"] == str(membership.pk)
    assert body["userName"] == "new@corp.example" and body["active"] is True
    assert body["externalId"] == "00u1"
    assert body["meta"]["location"].endswith(f"/scim/v2/Users/{membership.pk}")
    assert membership.account.name == "Dana Directory"
    assert not Invitation.objects.filter(email="new@corp.example").exists()
    assert mail.outbox == []
    assert CreditAccess.objects.get(membership=membership).mode == "disabled"


def test_get_list_filter_and_paging(directory, organization, org_admin):
    for n in range(3):
        assert directory.create(user(f"p{n}@corp.example")).status_code == 201
    listed = directory.get(USERS).json()
    # The administrator and the three users; invitations are never users.
    assert listed["totalResults"] == 4
    assert {r["userName"] for r in listed["Resources"]} >= {org_admin.email, "p0@corp.example"}
    page = directory.get(USERS, startIndex=2, count=2).json()
    assert page["startIndex"] == 2 and page["itemsPerPage"] == 2 and page["totalResults"] == 4
    found = directory.get(USERS, filter='userName eq "P1@CORP.example"').json()
    assert found["totalResults"] == 1 and found["Resources"][0]["userName"] == "p1@corp.example"
    one = directory.get(f"{USERS}/{found['Resources'][0]['id']}")
    assert one.status_code == 200 and one.json()["emails"][0]["value"] == "p1@corp.example"
    none = directory.get(USERS, filter='userName eq "nobody@corp.example"').json()
    assert none["totalResults"] == 0


def test_pending_invitations_are_not_listed(directory, organization, org_admin):
    from organizations import services

    services.member_add(actor=org_admin, organization=organization, email="inv@corp.example")
    listed = directory.get(USERS, filter='userName eq "inv@corp.example"').json()
    assert listed["totalResults"] == 0
    assert directory.get(USERS).json()["totalResults"] == 1


def test_an_email_already_a_member_is_409_uniqueness(directory, organization):
    existing = add_member(organization).account
    assert_scim_error(directory.create(user(existing.email)), 409, "uniqueness")
    assert_scim_error(
        directory.create(user("other@corp.example", user_name=existing.email)), 409, "uniqueness"
    )


def test_a_user_of_another_organization_is_409_uniqueness(directory, outsider):
    elsewhere = add_member(outsider.administered_organization).account
    body = assert_scim_error(directory.create(user(elsewhere.email)), 409, "uniqueness")
    assert "another organization" in body["detail"]
    assert Membership.objects.filter(account=elsewhere).count() == 1


def test_removing_the_administrator_is_400_mutability(directory, organization, org_admin):
    admin_id = Membership.objects.get(organization=organization, role="admin").pk
    assert_scim_error(directory.send("delete", f"{USERS}/{admin_id}", ""), 400, "mutability")
    deactivate = {"op": "replace", "path": "active", "value": False}
    assert_scim_error(directory.patch(admin_id, deactivate), 400, "mutability")
    assert Membership.objects.filter(pk=admin_id).exists()


def test_changing_the_user_name_is_400_mutability(directory):
    created = directory.create(user("u@corp.example")).json()
    rename = {"op": "replace", "path": "userName", "value": "v@corp.example"}
    assert_scim_error(directory.patch(created["id"], rename), 400, "mutability")
    put = directory.send(
        "put", f"{USERS}/{created['id']}", user("u@corp.example", "v@corp.example")
    )
    assert_scim_error(put, 400, "mutability")
    assert directory.get(f"{USERS}/{created['id']}").json()["userName"] == "u@corp.example"


@pytest.mark.parametrize(
    "deactivation",
    [
        ("patch", {"op": "replace", "path": "active", "value": False}),
        # Entra ID writes booleans as strings, and may leave the path out.
        ("patch", {"op": "Replace", "value": {"active": "False"}}),
        ("put", None),
        ("delete", None),
    ],
)
def test_delete_or_deactivation_removes_the_member_with_seats_and_access(
    directory, organization, deactivation
):
    created = directory.create(user("leaver@corp.example")).json()
    membership = Membership.objects.get(pk=created["id"])
    granted = seat(organization, membership)
    CreditAccess.objects.filter(membership=membership).update(mode="unlimited")
    method, operation = deactivation
    path = f"{USERS}/{created['id']}"
    if method == "patch":
        response = directory.patch(created["id"], operation)
    elif method == "put":
        response = directory.send("put", path, user("leaver@corp.example", active=False))
    else:
        response = directory.send("delete", path, "")
    assert response.status_code in (200, 204), response.content
    if response.status_code == 200:
        assert response.json()["active"] is False
    granted.refresh_from_db()
    assert granted.assignee is None
    assert not Membership.objects.filter(pk=membership.pk).exists()
    assert not CreditAccess.objects.filter(membership=membership).exists()
    assert_scim_error(directory.get(path), 404)
    assert (
        directory.get(USERS, filter='userName eq "leaver@corp.example"').json()["totalResults"] == 0
    )
    again = directory.create(user("leaver@corp.example"))
    assert again.status_code == 201 and again.json()["id"] != created["id"]


def test_patch_and_put_change_the_directory_record_not_the_account(directory):
    created = directory.create(user("keep@corp.example")).json()
    changed = directory.patch(
        created["id"],
        {"op": "replace", "path": "displayName", "value": "Dee"},
        {"op": "replace", "path": "active", "value": True},
    )
    assert changed.status_code == 204, changed.content
    now = directory.get(f"{USERS}/{created['id']}").json()
    assert now["displayName"] == "Dee" and now["active"] is True
    account = Account.objects.get(email="keep@corp.example")
    assert account.name == "Dana Directory"
    assert AuditEvent.objects.filter(action="member.directory_changed").exists()


def test_one_organizations_token_never_sees_or_changes_another_organizations_members(
    client, directory, outsider
):
    other = outsider.administered_organization
    theirs = add_member(other)
    their_directory = Directory(client, scim_token(other))
    assert their_directory.create(user("their@corp.example")).status_code == 201
    path = f"{USERS}/{theirs.pk}"
    assert_scim_error(directory.get(path), 404)
    assert_scim_error(directory.send("delete", path, ""), 404)
    assert_scim_error(directory.send("put", path, user(theirs.account.email)), 404)
    assert_scim_error(
        directory.patch(theirs.pk, {"op": "replace", "path": "active", "value": False}), 404
    )
    listed = directory.get(USERS, filter=f'userName eq "{theirs.account.email}"').json()
    assert listed["totalResults"] == 0
    assert all(
        r["userName"] != "their@corp.example" for r in directory.get(USERS).json()["Resources"]
    )
    assert Membership.objects.filter(pk=theirs.pk).exists()


def test_tokens_without_the_scope_or_without_a_token_are_refused(client, organization):
    assert_scim_error(client.get(USERS), 401)
    org_admin_token = api_token_create(
        actor=None, name="api", scopes=["org:admin"], organization=organization
    )[1]
    assert_scim_error(Directory(client, org_admin_token).get(USERS), 403)
    scim = Directory(client, scim_token(organization))
    answer = client.get("/api/v1/org", **scim.headers)
    assert answer.status_code == 403
    # The configuration is public (RFC 7643 §5); the rest needs the token.
    assert client.get("/scim/v2/ServiceProviderConfig").status_code == 200
    assert_scim_error(client.get("/scim/v2/Schemas"), 401)


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        b"\xff\xfe",
        "[]",
        {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"]},
        {**user("x@corp.example"), "emails": []},
        {**user("x@corp.example"), "userName": ""},
        {**user("x@corp.example"), "userName": "a\u0000b"},
        user("not-an-email"),
        user("x@corp.example", active=False),
        {**user("x@corp.example"), "name": "just a string"},
    ],
)
def test_bad_input_is_a_scim_400_never_a_500(directory, organization, body):
    response = directory.create(body)
    assert_scim_error(response, 400, response.json().get("scimType"))
    assert organization.memberships.count() == 1


@pytest.mark.parametrize(
    "path",
    [
        f"{USERS}/abc",
        f"{USERS}/99999999999999999999999",
        f"{USERS}/-1",
    ],
)
def test_unknown_ids_are_404(directory, path):
    assert_scim_error(directory.get(path), 404)


@pytest.mark.parametrize(
    "query",
    [
        {"filter": 'displayName co "x"'},
        {"filter": "userName eq"},
        {"filter": 'userName eq "a\u0000b"'},
        {"startIndex": "x"},
        {"startIndex": "1.5"},
    ],
)
def test_bad_queries_are_a_scim_400(directory, query):
    response = directory.get(USERS, **query)
    assert response.status_code == 400, response.content
    assert response.json()["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]


def test_every_change_is_audited_as_made_by_the_directory(directory, organization):
    created = directory.create(user("aud@corp.example")).json()
    directory.send("delete", f"{USERS}/{created['id']}", "")
    events = AuditEvent.objects.filter(organization=organization).select_related("actor")
    sentences = {line.sentence for line in lines_for(events) if line.who == "Your directory"}
    assert "Your directory added Dana Directory (aud@corp.example) as a user." in sentences
    assert "Your directory removed Dana Directory (aud@corp.example)." in sentences
    assert all(event.channel == "scim" for event in events if event.action.startswith("member."))


def test_create_api_token_makes_a_scim_token(organization, capsys):
    call_command(
        "create_api_token", "okta", "--scopes", "scim", "--org", organization.customer_number
    )
    secret = capsys.readouterr().out.strip().splitlines()[-1]
    assert secret.startswith("ssp_")
    token = organization.api_tokens.get(name="okta")
    assert token.scopes == ["scim"]


def test_an_existing_account_joins_and_is_emailed(directory, organization):
    account = AccountFactory(email="known@corp.example")
    response = directory.create(user("known@corp.example"))
    assert response.status_code == 201
    assert Membership.objects.filter(organization=organization, account=account).exists()
    assert mail.outbox[-1].to == ["known@corp.example"]


def test_the_settings_page_makes_a_token_for_the_directory(admin_client, organization):
    page = admin_client.get("/organization/settings/")
    assert b"Your directory (SCIM provisioning)" in page.content
    assert b"/scim/v2/" in page.content
    response = admin_client.post(
        "/organization/settings/tokens/", {"token-name": "Okta", "token-purpose": "directory"}
    )
    assert response.status_code == 200
    token = organization.api_tokens.get(name="Okta")
    assert token.scopes == ["scim"]
    assert "(your directory)" in response.content.decode()
