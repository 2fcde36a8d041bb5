"""CSV exports (R41): content, spreadsheet safety, streaming with bounded queries, access,
audit."""

import csv
import io
from datetime import UTC

import pytest

from console.exports import cell
from portal.models import AuditEvent
from tests.credits.factories import consume, fund_pool, set_access
from tests.factories import add_member
from tests.licensing.factories import ProductFactory, make_seats

pytestmark = pytest.mark.django_db

EXPORTS = [
    "/organization/users/export.csv",
    "/organization/licenses/export.csv",
    "/organization/credits/export.csv",
    "/organization/activity/export.csv",
]


def read(response) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(body)))


def test_a_formula_is_defused_and_numbers_stay_numbers():
    from decimal import Decimal

    assert cell("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    for start in ("+", "-", "@", "\t", "\r"):
        assert cell(f"{start}x") == f"'{start}x"
    assert cell(Decimal("-12.50")) == Decimal("-12.50") and cell("plain") == "plain"


def test_the_members_export_lists_products_access_and_usage(admin_client, organization):
    member = add_member(organization, email="=cmd@x.example", name="@Mia").account
    set_access(member, organization, "quota", limit="100", period="monthly")
    fund_pool(organization, "50")
    consume(member, "12.50")
    response = admin_client.get(EXPORTS[0])
    assert response["Content-Type"].startswith("text/csv")
    assert (
        "attachment" in response["Content-Disposition"]
        and ".csv" in response["Content-Disposition"]
    )
    rows = read(response)
    assert rows[0][:3] == ["email", "name", "role"]
    mia = next(row for row in rows if row[0].endswith("cmd@x.example"))
    assert mia[0] == "'=cmd@x.example" and mia[1] == "'@Mia"
    assert mia[5:] == ["Quota", "100.00", "Monthly", "12.50"]


def test_the_pool_history_writes_negative_amounts_as_numbers(admin_client, organization, member):
    fund_pool(organization, "50")
    set_access(member, organization, "unlimited")
    consume(member, "7.25", reference="job-1")
    rows = read(admin_client.get(EXPORTS[2]))
    consumption = next(row for row in rows if row[1] == "Consumption")
    assert consumption[2:5] == [member.email, "job-1", "-7.25"]


def test_the_pool_history_writes_times_in_utc_and_a_hold_under_its_reference(
    admin_client, organization, member
):
    from credits.models import LedgerEntry
    from credits.services import hold_open

    fund_pool(organization, "50")
    set_access(member, organization, "unlimited")
    hold_open(email=member.email, amount="4.00", reference="render-7")
    rows = read(admin_client.get(EXPORTS[2]))
    held = next(row for row in rows if row[3] == "render-7")
    entry = LedgerEntry.objects.get(hold__reference="render-7")
    assert held[0] == entry.created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    assert held[2] == member.email and held[4] == "-4.00"


def test_seats_and_activity_export(admin_client, organization):
    make_seats(organization, ProductFactory(name="Asset Library"), 2)
    seats = read(admin_client.get(EXPORTS[1]))
    assert [row[0] for row in seats[1:]] == ["Asset Library", "Asset Library"]
    activity = read(admin_client.get(EXPORTS[3]))
    assert any("created the organization" in row[1] for row in activity[1:])


def test_every_account_exports_its_own_history(client, organization, member):
    fund_pool(organization, "50")
    set_access(member, organization, "unlimited")
    consume(member, "3.00", reference="mine")
    client.force_login(member)
    rows = read(client.get("/credits/export.csv"))
    assert [row[3] for row in rows[1:]] == ["mine"]


def test_exports_are_audited(admin_client, organization):
    read(admin_client.get(EXPORTS[0]))
    event = AuditEvent.objects.get(action="export.downloaded")
    assert event.organization == organization and event.target == "members"


def test_the_members_export_reads_in_bounded_chunks(
    admin_client, organization, django_assert_max_num_queries
):
    for _ in range(30):
        add_member(organization)
    with django_assert_max_num_queries(14):
        rows = read(admin_client.get(EXPORTS[0]))
    assert len(rows) == 32  # header, administrator, 30 members


@pytest.mark.parametrize("url", EXPORTS)
def test_organization_exports_are_for_its_administrator_only(client, member, outsider, url):
    client.force_login(member)
    assert client.get(url).status_code == 404
    # Another administrator downloads their own organization's data, never this one's.
    client.force_login(outsider)
    body = "".join(str(row) for row in read(client.get(url)))
    assert member.email not in body
