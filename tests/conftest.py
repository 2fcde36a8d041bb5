"""Role fixtures and database helpers shared by every test package.

Roles (CONVENTIONS "Tests"): `org_admin` administers `organization`; `member` is a user in it;
`outsider` administers another organization; `staff` is vendor staff.
"""

import pytest

from tests.factories import PASSWORD, AccountFactory, add_member, make_org_admin


@pytest.fixture(autouse=True)
def _emails_sent_when_their_change_commits(request, monkeypatch):
    """Emails leave on commit (portal.emails). Ordinary tests run inside one transaction that
    never commits, so there the test's own transaction stands in for the commit: a change
    that fails rolls back before `email_send` queues anything, as services raise first."""
    if request.node.get_closest_marker("django_db") and any(
        m.kwargs.get("transaction") for m in request.node.iter_markers("django_db")
    ):
        return
    import portal.emails

    monkeypatch.setattr(portal.emails, "on_commit", lambda func, **kw: func())


@pytest.fixture
def org_admin(db):
    return make_org_admin()


@pytest.fixture
def organization(org_admin):
    return org_admin.administered_organization


@pytest.fixture
def member(organization):
    return add_member(organization).account


@pytest.fixture
def outsider(db):
    """Administrator of another organization."""
    return make_org_admin()


@pytest.fixture
def staff(db):
    return AccountFactory(is_staff=True, is_superuser=True, email="staff@vendor.example")


@pytest.fixture
def admin_client(client, org_admin):
    client.force_login(org_admin)
    return client


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


@pytest.fixture
def member_client(client, member):
    client.force_login(member)
    return client


@pytest.fixture
def login(client):
    """`login(account)` signs the test client in as `account`."""

    def _login(account):
        client.force_login(account)
        return client

    return _login


@pytest.fixture
def password():
    return PASSWORD
