"""Role fixtures and database helpers shared by every test package.

Roles (CONVENTIONS "Tests"): `org_admin` administers `organization`; `member` is a user in it;
`outsider` administers another organization; `staff` is vendor staff.
"""

import pytest

from portal.selectors import forget_announcements
from tests.factories import PASSWORD, AccountFactory, add_member, make_org_admin, verify_session


@pytest.fixture(autouse=True)
def _no_announcements_kept_from_another_test():
    """Each process keeps the current announcements a moment (portal.selectors); a test's
    announcements go with its rolled-back transaction, so none is kept into the next test."""
    forget_announcements()
    yield
    forget_announcements()


@pytest.fixture(autouse=True)
def _emails_sent_when_their_change_commits(request, monkeypatch):
    """Emails are background jobs (R45). Unless a test is marked `real_jobs` (it runs workers
    itself), each email job is saved as in production, then run here as soon as its change
    commits, as a worker would, so that `mail.outbox` has it. Ordinary tests run inside one
    transaction that never commits: there the test's own transaction stands in for the
    commit, as a change that fails rolls back before `email_send` saves anything."""
    if request.node.get_closest_marker("real_jobs"):
        return
    from django.db import connection, transaction

    import portal.jobs

    transactional = request.node.get_closest_marker("django_db") and any(
        m.kwargs.get("transaction") for m in request.node.iter_markers("django_db")
    )
    save = portal.jobs.job_defer

    def defer_and_run(task, /, **kwargs):
        job_id = save(task, **kwargs)

        def run():
            # Taken off the queue as a worker would, so that it runs once.
            with connection.cursor() as cursor:
                cursor.execute("DELETE FROM procrastinate_jobs WHERE id = %s", [job_id])
            portal.jobs.job_run_inline(task.name, kwargs)

        if transactional:
            transaction.on_commit(run)
        else:
            run()
        return job_id

    monkeypatch.setattr(portal.jobs, "job_defer", defer_and_run)


@pytest.fixture
def run_jobs(db):
    """`run_jobs()` runs the waiting jobs on the test's own connection (which sees its
    uncommitted rows), as a worker would: jobs saved by the database itself, such as the
    alerts of a consumption (R30, R45)."""
    import portal.jobs

    return portal.jobs.jobs_run_here


@pytest.fixture
def client(client):
    """Django's test client, whose `force_login` of vendor staff also passes their second
    factor, as staff always have before they reach the admin (R42). Tests of what staff
    without one meet use `force_login_without_second_factor`."""
    force_login = client.force_login

    def force_login_verified(user, backend=None):
        force_login(user, backend)
        if user.is_staff:
            verify_session(client, user)

    client.force_login_without_second_factor = force_login
    client.force_login = force_login_verified
    return client


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


# Summaries a test records (`record_property("summary", …)`), such as the SCIM checker's counts,
# printed at the end of the run. Gathered from the reports, which reach the controller from
# pytest-xdist's workers too.
_SUMMARIES: list[str] = []


def pytest_runtest_logreport(report):
    if report.when == "call":
        _SUMMARIES.extend(value for name, value in report.user_properties if name == "summary")


def pytest_terminal_summary(terminalreporter):
    for line in _SUMMARIES:
        terminalreporter.write_line(line)
