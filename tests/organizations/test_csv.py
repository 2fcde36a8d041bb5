"""Bulk add by CSV (R7): the whole file is validated first; a valid one is applied row by row
with a per-row report that is kept."""

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile

from organizations import services
from organizations.models import Invitation, MemberImport, Membership
from portal.models import AuditEvent
from tests.factories import AccountFactory, add_member

pytestmark = pytest.mark.django_db

IMPORT = "/organization/users/import/"


def upload(client, content: bytes, name="users.csv"):
    return client.post(IMPORT, {"file": SimpleUploadedFile(name, content, "text/csv")})


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
        (b"email\nok@x.example\nnot-an-email\n", "Line 3"),
        (b"ok@x.example,other@x.example\n", "one email per row"),
        (b"email,name\nok@x.example\n", "header has 2 columns"),
        (b"a@x.example\nemail\n", "Line 2"),
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


def test_invalid_row_in_the_middle_refuses_even_the_valid_rows(admin_client, organization):
    content = b"first@x.example\nbroken@\nlast@x.example\n"
    assert upload(admin_client, content).status_code == 422
    assert nothing_changed(organization)


# --- Valid files are applied row by row -----------------------------------------------------


def test_valid_file_is_applied_with_a_per_row_report(
    admin_client, org_admin, organization, outsider
):
    known = AccountFactory(email="known@x.example")
    member = add_member(organization).account
    elsewhere = add_member(outsider.administered_organization).account
    content = (
        "\ufeffEmail\r\n"
        "known@x.example\r\n"
        "NEW@x.example\r\n"
        f"{member.email}\r\n"
        f"{elsewhere.email}\r\n"
        "\r\n"
        "new@x.example\r\n"
        f"{org_admin.email}\r\n"
    ).encode()
    response = upload(admin_client, content, name="team.csv")
    report = MemberImport.objects.get()
    assert response.status_code == 302 and response["Location"] == report.get_absolute_url()
    rows = {(r["line"], r["status"], r.get("code")) for r in report.rows}
    assert rows == {
        (2, "added", None),
        (3, "invited", None),
        (4, "failed", "already_member"),
        (5, "failed", "member_of_other_organization"),
        (7, "failed", "duplicate"),
        (8, "failed", "already_member"),
    }
    assert (report.added, report.invited, report.failed) == (1, 1, 4)
    assert report.filename == "team.csv" and report.created_by == org_admin
    assert Membership.objects.filter(organization=organization, account=known).exists()
    assert Invitation.objects.get().email == "new@x.example"
    assert not Membership.objects.filter(organization=organization, account=elsewhere).exists()
    assert AuditEvent.objects.filter(action="member.imported").exists()
    assert sorted(m.to[0] for m in mail.outbox) == ["known@x.example", "new@x.example"]


def test_report_is_kept_for_later_viewing_and_filterable(admin_client, organization):
    upload(admin_client, b"a@x.example\nb@x.example\na@x.example\n")
    report = MemberImport.objects.get()
    response = admin_client.get(f"{IMPORT}{report.pk}/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "a@x.example" in html and "Duplicate of line 1" in html
    response = admin_client.get(f"{IMPORT}{report.pk}/?status=failed")
    assert "b@x.example" not in response.content.decode()
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
    upload(admin_client, ("\n".join(f"q{i}@x.example" for i in range(50))).encode())
    report = MemberImport.objects.get()
    with django_assert_max_num_queries(8):
        assert admin_client.get(IMPORT).status_code == 200
    with django_assert_max_num_queries(8):
        assert admin_client.get(f"{IMPORT}{report.pk}/").status_code == 200


def test_no_file_chosen_says_so(admin_client, organization):
    response = admin_client.post(IMPORT, {})
    assert response.status_code == 422
    assert "Choose a CSV file" in response.content.decode()


def test_every_problem_is_listed_with_its_line(admin_client, organization):
    content = b"email\nok@x.example\nnot an email\na@x.example,b@x.example\n"
    response = upload(admin_client, content)
    html = response.content.decode()
    assert response.status_code == 422
    assert "Line 3: “not an email” is not an email address." in html
    assert "Line 4: 2 values; put one email per row." in html
    assert "nothing changed" in html
    assert nothing_changed(organization)


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
