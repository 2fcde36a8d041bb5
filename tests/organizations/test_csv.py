"""Bulk add by CSV (R7): the file's format is checked whole first; a file that passes is shown
as a preview of every row (added, invited, skipped and why), and its valid rows are applied row
by row, by a background job (R45) whose progress the page shows, with a per-row report that is
kept.

Outside the tests marked `real_jobs`, the import's job runs as soon as it is saved (the
`_emails_sent_when_their_change_commits` fixture), so those tests see the finished import."""

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from organizations import services
from organizations.models import Invitation, MemberImport, Membership, Role
from organizations.services import imports, membership_create
from portal import jobs
from portal.models import AuditEvent
from tests.factories import AccountFactory, add_member

pytestmark = pytest.mark.django_db

IMPORT = "/organization/users/import/"
APPLY = IMPORT + "apply/"


def upload(client, content: bytes, name="users.csv"):
    return client.post(IMPORT, {"file": SimpleUploadedFile(name, content, "text/csv")})


def upload_and_apply(client, content: bytes, name="users.csv"):
    """The preview, then its button: the emails and the file name the preview carries."""
    preview = upload(client, content, name)
    assert preview.status_code == 200, preview.content.decode()[:500]
    emails = preview.context["emails"]
    return client.post(APPLY, {"emails": emails, "filename": name})


def nothing_changed(organization):
    return (
        Membership.objects.filter(organization=organization).count() == 1
        and not Invitation.objects.exists()
        and not MemberImport.objects.exists()
        and not mail.outbox
    )


# --- Refused files change nothing -----------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "no email addresses"),
        (b"\n\n  \n", "no email addresses"),
        (b"email\n", "only a header"),
        (b"\xef\xbb\xbfEmail\r\n", "only a header"),
        ("email\nrené@exämple.com\n".encode("latin-1"), "not UTF-8"),
        (b"\xff\xfee\x00m\x00", "not UTF-8"),
        (b"email,name\nok@x.example\n", "header has 2 columns"),
    ],
)
def test_malformed_file_is_refused_whole(admin_client, organization, content, reason):
    response = upload(admin_client, content)
    assert response.status_code == 422
    assert reason in response.content.decode()
    assert nothing_changed(organization)


def test_more_than_1000_rows_is_refused(admin_client, organization):
    content = "\n".join(f"u{i}@x.example" for i in range(1001)).encode()
    response = upload(admin_client, content)
    assert response.status_code == 422
    assert "1,001 rows" in response.content.decode()
    assert nothing_changed(organization)


def test_exactly_1000_rows_with_header_is_accepted():
    content = ("email\n" + "\n".join(f"u{i}@x.example" for i in range(1000))).encode()
    assert len(services.member_csv_parse(content)) == 1000


def test_file_over_1_mib_is_refused(admin_client, organization):
    content = b"a@x.example\n" + b" " * (1024 * 1024)
    response = upload(admin_client, content)
    assert response.status_code == 422
    assert "1 MiB" in response.content.decode()
    assert nothing_changed(organization)


def test_the_preview_shows_every_row_and_changes_nothing(
    admin_client, org_admin, organization, outsider
):
    AccountFactory(email="known@x.example")
    member = add_member(organization).account
    elsewhere = add_member(outsider.administered_organization).account
    content = (
        "email\nknown@x.example\nnew@x.example\nbroken@\n"
        f"{member.email}\n{elsewhere.email}\nnew@x.example\na@x.example,b@x.example\n"
    ).encode()
    members_before = Membership.objects.count()
    response = upload(admin_client, content)
    html = response.content.decode()
    assert response.status_code == 200
    assert "Will be added" in html and "Will be invited" in html
    for reason in (
        "not an email address",
        "already a member",
        "already a user of another organization",
        "listed twice (first on line 3)",
        "2 values on one row",
    ):
        assert reason in html, reason
    assert "Failed" not in html and "already_member" not in html
    assert response.context["emails"].split("\n") == ["known@x.example", "new@x.example"]
    assert Membership.objects.count() == members_before
    assert not Invitation.objects.exists() and not MemberImport.objects.exists()


# --- Valid files are applied row by row -----------------------------------------------------


def test_valid_rows_are_applied_with_a_per_row_report(
    admin_client, org_admin, organization, outsider
):
    known = AccountFactory(email="known@x.example")
    member = add_member(organization).account
    content = (
        "\ufeffEmail\r\n"
        "known@x.example\r\n"
        "NEW@x.example\r\n"
        f"{member.email}\r\n"
        "\r\n"
        "new@x.example\r\n"
        f"{org_admin.email}\r\n"
    ).encode()
    response = upload_and_apply(admin_client, content, name="team.csv")
    report = MemberImport.objects.get()
    assert response.status_code == 302 and response["Location"] == report.get_absolute_url()
    assert [(r["email"], r["status"]) for r in report.rows] == [
        ("known@x.example", "added"),
        ("new@x.example", "invited"),
    ]
    assert (report.added, report.invited, report.skipped) == (1, 1, 0)
    assert report.filename == "team.csv" and report.created_by == org_admin
    assert Membership.objects.filter(organization=organization, account=known).exists()
    assert Invitation.objects.get().email == "new@x.example"
    assert AuditEvent.objects.filter(action="member.imported").exists()
    assert sorted(m.to[0] for m in mail.outbox) == ["known@x.example", "new@x.example"]


def test_a_row_refused_between_preview_and_apply_is_skipped_with_the_reason(
    admin_client, organization, outsider
):
    late = AccountFactory(email="late@x.example")
    preview = upload(admin_client, b"late@x.example\nfine@x.example\n")
    membership_create(  # joins another organization meanwhile
        organization=outsider.administered_organization, account=late, role=Role.MEMBER
    )
    admin_client.post(APPLY, {"emails": preview.context["emails"], "filename": "u.csv"})
    report = MemberImport.objects.get()
    assert report.rows[0] == {
        "line": 1,
        "email": "late@x.example",
        "status": "skipped",
        "reason": "already a user of another organization",
    }
    assert (report.invited, report.skipped) == (1, 1)


def test_report_is_kept_for_later_viewing_and_filterable(admin_client, organization):
    add_member(organization, email="b@x.example")
    admin_client.post(APPLY, {"emails": "a@x.example\nb@x.example", "filename": "u.csv"})
    report = MemberImport.objects.get()
    response = admin_client.get(f"{IMPORT}{report.pk}/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "a@x.example" in html and "already a member" in html
    response = admin_client.get(f"{IMPORT}{report.pk}/?status=skipped")
    assert "a@x.example" not in response.content.decode()
    listing = admin_client.get(IMPORT).content.decode()
    assert "View report" in listing


def test_header_is_optional(organization):
    rows = services.member_csv_parse(b"first@x.example\nsecond@x.example")
    assert [r["email"] for r in rows] == ["first@x.example", "second@x.example"]
    assert [r["line"] for r in rows] == [1, 2]


def test_template_is_downloadable_and_itself_valid(admin_client):
    response = admin_client.get(IMPORT + "template.csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    assert len(services.member_csv_parse(response.content)) == 2


def test_upload_page_and_report_query_counts(
    admin_client, organization, django_assert_max_num_queries
):
    upload_and_apply(admin_client, ("\n".join(f"q{i}@x.example" for i in range(50))).encode())
    report = MemberImport.objects.get()
    with django_assert_max_num_queries(8):
        assert admin_client.get(IMPORT).status_code == 200
    with django_assert_max_num_queries(8):
        assert admin_client.get(f"{IMPORT}{report.pk}/").status_code == 200


def test_no_file_chosen_says_so(admin_client, organization):
    response = admin_client.post(IMPORT, {})
    assert response.status_code == 422
    assert "Choose a CSV file" in response.content.decode()


def test_the_preview_runs_a_fixed_number_of_queries(
    admin_client, organization, django_assert_max_num_queries
):
    content = ("\n".join(f"p{i}@x.example" for i in range(300))).encode()
    with django_assert_max_num_queries(12):
        assert upload(admin_client, content).status_code == 200


def test_oversized_upload_is_dropped_while_it_arrives(admin_client, organization):
    """rules.md "Security": uploads bounded. A 3 MiB file is not kept; the reason is shown."""
    content = b"a@x.example\n" * (3 * 1024 * 1024 // 12)
    response = upload(admin_client, content)
    assert response.status_code == 422
    assert "larger than 1 MiB" in response.content.decode()
    assert response.wsgi_request.csv_upload_too_large is True
    assert nothing_changed(organization)


def test_upload_still_needs_the_csrf_token(org_admin, organization):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(org_admin)
    response = client.post(
        IMPORT, {"file": SimpleUploadedFile("u.csv", b"a@x.example\n", "text/csv")}
    )
    assert response.status_code == 403
    assert nothing_changed(organization)


def test_the_apply_button_names_only_what_will_happen(admin_client, organization):
    html = upload(admin_client, b"email\nnew1@x.example\nnew2@x.example\n").content.decode()
    assert "Invite 2 users" in html and "Add 0" not in html


# --- The job applies the rows; the page shows its progress (R45) ---------------------------


def import_jobs() -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (args->>'import_id')::int FROM procrastinate_jobs "
            "WHERE task_name = 'organizations.member_import_run' AND status = 'todo'"
        )
        return [row[0] for row in cursor.fetchall()]


@pytest.mark.real_jobs
def test_the_apply_answers_at_once_with_the_progress_page(admin_client, organization, run_jobs):
    AccountFactory(email="known@x.example")
    response = upload_and_apply(admin_client, b"known@x.example\nnew@x.example\n")
    item = MemberImport.objects.get()
    # Nothing applied yet: the import and its job were saved, both in the request.
    assert response.status_code == 302 and response["Location"] == item.get_absolute_url()
    assert (item.state, item.rows_total, item.rows_processed) == ("queued", 2, 0)
    assert import_jobs() == [item.pk]
    assert Membership.objects.filter(organization=organization).count() == 1
    assert not Invitation.objects.exists() and not mail.outbox
    html = admin_client.get(response["Location"]).content.decode()
    assert "Waiting to start" in html and "0 of 2 rows done" in html
    assert f'hx-get="{item.get_absolute_url()}progress/"' in html
    assert 'hx-trigger="every 2s"' in html

    run_jobs()  # the worker: the import, then the emails it saved
    item.refresh_from_db()
    assert (item.state, item.rows_processed, item.added, item.invited) == ("done", 2, 1, 1)
    assert item.finished_at is not None
    assert sorted(m.to[0] for m in mail.outbox) == ["known@x.example", "new@x.example"]
    html = admin_client.get(response["Location"]).content.decode()
    assert "hx-trigger" not in html and "Invited" in html and "new@x.example" in html


@pytest.mark.real_jobs
def test_the_job_applies_the_rows_in_batches_and_audits_once(
    admin_client, organization, run_jobs, monkeypatch
):
    monkeypatch.setattr(imports, "BATCH_SIZE", 2)
    add_member(organization, email="here@x.example")
    emails = ["a@x.example", "here@x.example", "b@x.example", "a@x.example", "c@x.example"]
    admin_client.post(APPLY, {"emails": "\n".join(emails), "filename": "u.csv"})
    run_jobs()
    item = MemberImport.objects.get()
    assert item.state == "done" and item.rows_processed == item.rows_total == 5
    assert [(r["line"], r["email"], r["status"], r.get("reason")) for r in item.rows] == [
        (1, "a@x.example", "invited", None),
        (2, "here@x.example", "skipped", "already a member"),
        (3, "b@x.example", "invited", None),
        (4, "a@x.example", "skipped", "listed twice"),
        (5, "c@x.example", "invited", None),
    ]
    assert (item.added, item.invited, item.skipped) == (0, 3, 2)
    event = AuditEvent.objects.get(action="member.imported")
    assert event.details == {"added": 0, "invited": 3, "skipped": 2, "import_id": item.pk}
    assert sorted(m.to[0] for m in mail.outbox) == ["a@x.example", "b@x.example", "c@x.example"]


@pytest.mark.real_jobs
def test_a_job_retried_after_a_partial_run_adds_and_emails_nobody_twice(
    admin_client, organization, run_jobs, monkeypatch
):
    """A crash in the second batch: the first batch stays done, the second left nothing (its
    rows and their emails rolled back together); the retry goes on from the second batch."""
    monkeypatch.setattr(imports, "BATCH_SIZE", 2)
    AccountFactory(email="known@x.example")
    emails = ["known@x.example", "n1@x.example", "n2@x.example", "n3@x.example", "n4@x.example"]
    admin_client.post(APPLY, {"emails": "\n".join(emails), "filename": "u.csv"})
    item = MemberImport.objects.get()
    member_add = imports.member_add

    def crash_on_n3(**kwargs):
        if kwargs["email"] == "n3@x.example":
            raise RuntimeError("the database went away")
        return member_add(**kwargs)

    monkeypatch.setattr(imports, "member_add", crash_on_n3)
    with pytest.raises(RuntimeError):
        run_jobs()
    item.refresh_from_db()
    assert (item.state, item.rows_processed) == ("failed", 2)
    assert list(Invitation.objects.values_list("email", flat=True)) == ["n1@x.example"]
    html = admin_client.get(item.get_absolute_url()).content.decode()
    assert "Adding stopped for now" in html and "2 of 5 rows done" in html
    assert 'hx-trigger="every 2s"' in html  # still watching: the retry goes on

    monkeypatch.setattr(imports, "member_add", member_add)
    jobs.job_run_inline("organizations.member_import_run", {"import_id": item.pk})  # the retry
    jobs.job_run_inline("organizations.member_import_run", {"import_id": item.pk})  # and again
    run_jobs()
    item.refresh_from_db()
    assert (item.state, item.rows_processed) == ("done", 5)
    assert [r["email"] for r in item.rows] == emails
    assert [r["line"] for r in item.rows] == [1, 2, 3, 4, 5]
    assert (item.added, item.invited, item.skipped) == (1, 4, 0)
    assert sorted(Invitation.objects.values_list("email", flat=True)) == emails[1:]
    assert Membership.objects.filter(organization=organization).count() == 2
    assert sorted(m.to[0] for m in mail.outbox) == sorted(emails)
    assert AuditEvent.objects.filter(action="member.imported").count() == 1
    assert AuditEvent.objects.filter(action="invitation.sent").count() == 4
    assert AuditEvent.objects.filter(action="member.added").count() == 1


@pytest.mark.real_jobs
def test_the_progress_part_polls_until_done_then_is_the_report(
    admin_client, organization, run_jobs
):
    add_member(organization, email="here@x.example")
    admin_client.post(APPLY, {"emails": "new@x.example\nhere@x.example", "filename": "u.csv"})
    item = MemberImport.objects.get()
    progress = f"{item.get_absolute_url()}progress/"
    response = admin_client.get(progress, headers={"HX-Request": "true"})
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert 'hx-trigger="every 2s"' in html and "0 of 2 rows done" in html
    assert "<progress" in html and 'max="2"' in html and 'value="0"' in html

    run_jobs()
    html = admin_client.get(progress, headers={"HX-Request": "true"}).content.decode()
    assert "hx-trigger" not in html and "<progress" not in html
    assert "new@x.example" in html and "already a member" in html
    assert 'id="import-status"' in html  # replaces the polling part in place
    assert "member_import_run" not in html and "queued" not in html


def test_an_import_s_pages_are_for_its_organization_s_administrator_only(
    client, org_admin, organization, outsider, member
):
    item = services.member_import(
        actor=org_admin, organization=organization, emails=["new@x.example"]
    )
    urls = [item.get_absolute_url(), f"{item.get_absolute_url()}progress/"]
    for someone_else in (outsider, member):  # another organization's administrator, a user
        client.force_login(someone_else)
        responses = [client.get(url) for url in urls]
        assert [r.status_code for r in responses] == [404, 404]
        assert not any("new@x.example" in r.content.decode() for r in responses)
    client.logout()
    assert all(client.get(url).status_code == 302 for url in urls)  # to sign in
    client.force_login(org_admin)
    responses = [client.get(url) for url in urls]
    assert [r.status_code for r in responses] == [200, 200]
    assert all("new@x.example" in r.content.decode() for r in responses)
