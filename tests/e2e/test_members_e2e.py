"""Users end to end in headless Chromium (R6, R7, R9, R10): add, invite, complete, remove, and
bulk add from a CSV file, applied by a background job while the page shows its progress."""

import re
from pathlib import Path

import pytest
from django.core import mail
from django.db import connection

from organizations import services
from organizations.models import Account, Invitation, MemberImport, Membership
from organizations.services import imports
from portal import jobs
from tests.factories import PASSWORD, AccountFactory, add_member, make_org_admin

pytestmark = pytest.mark.django_db(transaction=True)


def test_admin_adds_invites_and_removes_users(live_server, browser, page, sign_in, screenshot):
    admin = make_org_admin(email="boss@studio.example", name="Studio Boss")
    organization = admin.administered_organization
    AccountFactory(email="known@x.example", name="Known Person")
    leaving = add_member(organization, email="leaving@x.example", name="Lea Leaving").account

    sign_in(page, admin.email, PASSWORD)
    page.goto(f"{live_server.url}/organization/users/")
    table = page.locator("#member-table")
    assert table.get_by_text("leaving@x.example").is_visible()

    # An existing account joins at once; the table reloads through htmx.
    page.get_by_label("Email address").fill("known@x.example")
    page.get_by_role("button", name="Add user").click()
    page.get_by_text("known@x.example was added").wait_for()
    table.get_by_text("known@x.example").wait_for()
    assert Membership.objects.filter(organization=organization, account__email="known@x.example")

    # A mistake is explained next to the field.
    page.get_by_label("Email address").fill("known@x.example")
    page.get_by_role("button", name="Add user").click()
    page.locator(".field--error").get_by_text("already a member").wait_for()
    screenshot(page, "members-add-error")

    # An unknown email is invited and listed as such.
    page.get_by_label("Email address").fill("newcomer@x.example")
    page.get_by_role("button", name="Add user").click()
    page.get_by_text("an invitation was emailed").wait_for()
    row = table.locator("tr", has_text="newcomer@x.example")
    row.get_by_text("Invited").wait_for()
    screenshot(page, "members-list")

    # The invitee completes the account from the link in the email.
    invitation_mail = next(m for m in mail.outbox if m.to == ["newcomer@x.example"])
    link = re.search(r"https?://\S+/invitations/\S+/", invitation_mail.body).group(0)
    path = link.split("/invitations/", 1)[1]
    invitee = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    invitee.goto(f"{live_server.url}/invitations/{path}")
    assert invitee.locator("#invitation-email").input_value() == "newcomer@x.example"
    invitee.get_by_label("Your name").fill("Nia Newcomer")
    invitee.locator("#id_password1").fill("a sturdy pass phrase 42")
    invitee.locator("#id_password2").fill("a sturdy pass phrase 42")
    invitee.get_by_role("button", name="Create account and join").click()
    invitee.get_by_text(f"Welcome to {organization.name}").wait_for()
    assert Account.objects.get(email="newcomer@x.example").name == "Nia Newcomer"
    invitee.context.close()

    page.reload()
    row = table.locator("tr", has_text="newcomer@x.example")
    row.get_by_text("Member", exact=True).first.wait_for()

    # Resend and cancel an invitation from its row (htmx; the cancel asks first).
    page.get_by_label("Email address").fill("later@x.example")
    page.get_by_role("button", name="Add user").click()
    row = table.locator("tr", has_text="later@x.example")
    row.wait_for()
    sent = len(mail.outbox)
    row.get_by_role("button", name="Resend").click()
    page.get_by_text("A new invitation was sent to later@x.example").wait_for()
    assert len(mail.outbox) == sent + 1
    page.once("dialog", lambda dialog: dialog.accept())
    table.locator("tr", has_text="later@x.example").get_by_role("button", name="Cancel").click()
    page.get_by_text("The invitation of later@x.example was cancelled").wait_for()
    assert table.get_by_text("later@x.example").count() == 0

    # Remove one user: the confirmation says what is revoked, then they are gone.
    table.locator("tr", has_text="leaving@x.example").get_by_role("link", name="Remove").click()
    page.get_by_role("heading", name="Remove leaving@x.example?").wait_for()
    page.get_by_role("button", name="Remove user").click()
    page.get_by_text("leaving@x.example was removed").wait_for()
    assert not Membership.objects.filter(account=leaving).exists()
    assert table.get_by_text("leaving@x.example").count() == 0


def test_search_sort_and_page_size_work_through_htmx(live_server, page, sign_in):
    admin = make_org_admin(email="lister@studio.example")
    organization = admin.administered_organization
    for i in range(30):
        add_member(organization, email=f"u{i:02}@x.example", name=f"User {i:02}")
    sign_in(page, admin.email, PASSWORD)
    page.goto(f"{live_server.url}/organization/users/?per_page=10")
    rows = page.locator("#member-table tbody tr")
    assert rows.count() == 10

    page.get_by_label("Search").fill("u07@")
    page.wait_for_url(re.compile(r"q=u07"))
    rows.first.get_by_text("u07@x.example").wait_for()
    assert rows.count() == 1

    page.get_by_label("Search").fill("")
    page.wait_for_url(re.compile(r"q=(&|$)"))
    page.locator("#member-table th a", has_text="Email").click()
    page.wait_for_url(re.compile(r"sort=email&dir=asc"))
    rows.first.get_by_text("lister@studio.example").wait_for()
    page.locator("#member-table th a", has_text="Email").click()
    page.wait_for_url(re.compile(r"sort=email&dir=desc"))
    rows.first.get_by_text("u29@x.example").wait_for()

    page.get_by_label("Per page").select_option("25")
    page.wait_for_url(re.compile(r"per_page=25.*sort=email&dir=desc"))
    page.get_by_text("1–25 of 31 rows").wait_for()
    assert rows.count() == 25
    page.get_by_role("link", name="Next ›").click()
    page.wait_for_url(re.compile(r"[?&]after="))
    page.get_by_text("26–31 of 31 rows").wait_for()
    assert rows.count() == 6
    rows.first.get_by_text("u04@x.example").wait_for()
    page.get_by_role("link", name="‹ Previous").click()
    page.wait_for_url(re.compile(r"[?&]before="))
    page.get_by_text("1–25 of 31 rows").wait_for()
    rows.first.get_by_text("u29@x.example").wait_for()


@pytest.mark.real_jobs
def test_a_csv_import_shows_its_progress_then_its_report(
    live_server, page, sign_in, screenshot, monkeypatch, tmp_path
):
    """R7, R45: the live server has no worker, so the test plays it (`jobs_run_here`, on the
    test's connection) while the page polls: waiting, stopped by a crash after a batch, then
    retried to the end; nobody is invited twice."""
    with connection.cursor() as cursor:  # no job left by an earlier test
        cursor.execute("DELETE FROM procrastinate_jobs")
    admin = make_org_admin(email="bulk@studio.example")
    AccountFactory(email="known@x.example")
    emails = ["known@x.example"] + [f"new{i}@x.example" for i in range(1, 5)]
    csv_file = tmp_path / "team.csv"
    csv_file.write_text("email\n" + "\n".join(emails) + "\n")

    sign_in(page, admin.email, PASSWORD)
    page.goto(f"{live_server.url}/organization/users/import/")
    page.locator("#id_file").set_input_files(str(csv_file))
    page.get_by_role("button", name="Upload and check").click()
    page.get_by_role("button", name="Add 1 and invite 4").click()

    # The answer comes at once: the job waits for a worker, the page for the job.
    page.get_by_role("heading", name="Waiting to start").wait_for()
    page.get_by_text("0 of 5 rows done").wait_for()
    assert not Invitation.objects.exists()
    screenshot(page, "members-csv-progress-wide")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "members-csv-progress-narrow")
    page.set_viewport_size({"width": 1280, "height": 900})

    # The worker crashes in the second batch; the page, still polling, shows where it stopped.
    monkeypatch.setattr(imports, "BATCH_SIZE", 2)
    member_add = imports.member_add

    def crash_on_new2(**kwargs):
        if kwargs["email"] == "new2@x.example":
            raise RuntimeError("the database went away")
        return member_add(**kwargs)

    monkeypatch.setattr(imports, "member_add", crash_on_new2)
    with pytest.raises(RuntimeError):
        jobs.jobs_run_here()
    page.get_by_role("heading", name="Adding stopped for now").wait_for()
    page.get_by_text("2 of 5 rows done: 1 added, 1 invited, 0 skipped.").wait_for()
    screenshot(page, "members-csv-stopped-wide")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "members-csv-stopped-narrow")
    page.set_viewport_size({"width": 1280, "height": 900})

    # Its retry goes on from the second batch; the report replaces the progress by itself.
    monkeypatch.setattr(imports, "member_add", member_add)
    item = MemberImport.objects.get()
    jobs.job_run_inline("organizations.member_import_run", {"import_id": item.pk})
    jobs.jobs_run_here()  # the emails the import saved
    page.get_by_role("heading", name="Rows").wait_for()
    assert page.locator("#import-status progress").count() == 0
    assert page.locator("#import-status tbody tr").count() == 5
    assert sorted(m.to[0] for m in mail.outbox) == sorted(emails)
    assert Invitation.objects.count() == 4
    screenshot(page, "members-csv-report-wide")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "members-csv-report-narrow")
    page.get_by_role("link", name="Skipped").click()
    page.get_by_text("No rows with this result.").wait_for()


AXE = Path(__file__).parent / "vendor" / "axe.min.js"
AXE_RUN = """async () => {
  const result = await axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'best-practice']});
  return result.violations.map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', '));
}"""


@pytest.mark.parametrize("width", [1280, 390])
def test_users_pages_pass_axe(live_server, browser, screenshot, width):
    """rules.md "Use": keyboard and screen-reader friendly; axe finds nothing on these pages."""
    admin = make_org_admin(email="a11y@studio.example")
    organization = admin.administered_organization
    membership = add_member(organization, email="seen@x.example", name="Seen Member")
    services.member_add(actor=admin, organization=organization, email="invited@x.example")
    token = re.search(r"/invitations/([^/\s]+)/", mail.outbox[-1].body).group(1)
    report = services.member_import(
        actor=admin, organization=organization, emails=["seen@x.example", "new@x.example"]
    )
    # axe is injected as a script, which the portal's CSP forbids; only this context skips it.
    context = browser.new_context(viewport={"width": width, "height": 900}, bypass_csp=True)
    page = context.new_page()
    problems = {}

    def check(path, name=None):
        page.goto(f"{live_server.url}{path}")
        if name:
            screenshot(page, f"members-{name}-{'wide' if width > 800 else 'narrow'}")
        page.add_script_tag(content=AXE.read_text())
        violations = page.evaluate(AXE_RUN)
        if violations:
            problems[path] = violations

    check(f"/invitations/{token}/", "invitation")  # the form to complete the account
    check("/invitations/no-such-token/")
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Email").fill(admin.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state("networkidle")
    for path, name in [
        ("/organization/users/", "page"),
        ("/organization/users/?q=nobody-matches", None),
        (f"/organization/users/{membership.pk}/", "detail"),
        (f"/organization/users/{membership.pk}/remove/", "remove"),
        ("/organization/users/import/", "csv-upload"),
        (f"/organization/users/import/{report.pk}/", "csv-report"),
        (f"/invitations/{token}/", None),  # signed in as another account: refused
    ]:
        check(path, name)
    context.close()
    assert problems == {}
