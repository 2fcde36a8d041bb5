"""The activity feed written for people (R34): a sentence for every action the audit writes,
the portal's formats, staff as the vendor's support, filters by kind, person and dates."""

import ast
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from procrastinate.contrib.django import app as jobs_app

from console.activity import SENTENCES, lines_for
from portal.audit import audit_record
from portal.models import AuditEvent
from tests.factories import AccountFactory, AuditEventFactory

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]
APPS = ("organizations", "billing", "licensing", "credits", "portal", "console")
# Actions built from a variable: `license.{kind}_started`, `credits.{kind}`.
TEMPLATED = {
    "license.{kind}_started": ["license.trial_started", "license.beta_started"],
    "credits.{kind}": ["credits.purchase", "credits.grant", "credits.trial"],
}


def _actions_in_the_code() -> set[str]:
    """Every action given to `audit_record` (its string constants, whatever the expression),
    and those the SQL functions insert into the audit table."""
    found = set()
    for app in APPS:
        for path in (ROOT / app).rglob("*"):
            if "migrations" in path.parts:
                continue
            if path.suffix == ".sql" and "portal_auditevent" in path.read_text():
                # Background jobs' task names (R45) are not audit actions.
                found |= set(re.findall(r"'([a-z_]+\.[a-z_]+)'", path.read_text())) - set(
                    jobs_app.tasks
                )
            if path.suffix != ".py":
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if not (
                    isinstance(node, ast.Call) and getattr(node.func, "id", "") == "audit_record"
                ):
                    continue
                (action,) = [k.value for k in node.keywords if k.arg == "action"]
                if isinstance(action, ast.JoinedStr):
                    found |= set(TEMPLATED[ast.unparse(action)[2:-1]])
                    continue
                for constant in ast.walk(action):
                    if isinstance(constant, ast.Constant) and isinstance(constant.value, str):
                        found.add(constant.value)
    return found


def test_every_action_the_audit_writes_has_a_sentence():
    actions = _actions_in_the_code()
    assert {"seat.assigned", "credits.consumed", "member.removed"} <= actions
    assert actions - set(SENTENCES) == set()


def test_a_page_of_events_is_written_out_in_a_fixed_number_of_queries(
    organization, org_admin, django_assert_max_num_queries
):
    for i in range(30):
        audit_record(
            actor=org_admin,
            action="seat.assigned",
            organization=organization,
            target=f"p{i}@x.example",
            details={"license_id": i, "product": "paint"},
        )
    events = AuditEvent.objects.select_related("actor").filter(organization=organization)
    with django_assert_max_num_queries(3):
        lines = lines_for(events)
    assert len(lines) == 31 and all(line.sentence.endswith(".") for line in lines)


def test_consumptions_name_the_person_and_the_amount(organization, member):
    audit_record(
        actor=None,
        action="credits.consumed",
        organization=organization,
        target="render-11",
        details={"account": member.email, "amount": "12.50", "source": "organization"},
    )
    (line,) = lines_for(AuditEvent.objects.filter(action="credits.consumed"))
    assert line.sentence == (
        f"{member.name} ({member.email}) used 12.50 credits from the pool for render job render-11."
    )


def test_staff_changes_read_as_the_vendors_support(organization, member, staff):
    audit_record(
        actor=staff,
        action="credit_access.changed",
        organization=organization,
        target=member.email,
        details={"from": "unlimited", "to": "disabled", "reason": "removed"},
    )
    (line,) = lines_for(AuditEvent.objects.filter(action="credit_access.changed"))
    assert line.sentence.startswith("Vendor support changed") and staff.email not in line.sentence
    assert "from Unlimited to Disabled" in line.sentence


def test_filters_by_person_and_by_utc_calendar_days_both_ends_included(
    admin_client, organization, member
):
    other = AccountFactory(email="other@x.example")
    for day, target in [(1, member.email), (2, other.email), (3, member.email)]:
        AuditEventFactory(
            organization=organization,
            action="invitation.resent",
            target=target,
            created_at=datetime(2026, 3, day, 23, 59, tzinfo=UTC),
        )
    page = admin_client.get(
        "/organization/activity/",
        {"person": member.email.upper(), "start": "2026-03-02", "end": "2026-03-03"},
    ).content.decode()
    assert page.count('class="event"') == 1 and "3 Mar 2026" in page


def test_bad_filters_are_explained_next_to_the_field_and_filter_nothing(admin_client, organization):
    response = admin_client.get(
        "/organization/activity/", {"start": "2026-13-45", "end": "someday", "kind": "nope"}
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "id_start_error" in html and "id_kind_error" in html
    assert "created the organization" in html  # nothing filtered away


def test_the_end_date_cannot_come_before_the_start(admin_client, organization):
    html = admin_client.get(
        "/organization/activity/", {"start": "2026-03-05", "end": "2026-03-01"}
    ).content.decode()
    assert "The end date comes before the start date." in html
