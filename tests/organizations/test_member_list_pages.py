"""The members list read a page at a time (R10, rules.md "Performance"): keyset pages over
members and invitations in every order, the trigger-kept sort keys and member tallies, and
addresses edited by hand."""

import base64
import json
import re
from datetime import timedelta
from html import unescape

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from console import selectors as console_selectors
from organizations import services
from organizations.models import (
    Account,
    Invitation,
    InvitationState,
    Membership,
    MemberTally,
    Role,
)
from tests.factories import AccountFactory, add_member

USERS = "/organization/users/"
ORDERS = [(sort, desc) for sort in sorted(console_selectors.MEMBER_SORTS) for desc in (False, True)]


def _mixed(organization, org_admin):
    """Members and invitations with ties on every sort key: repeated names, one moment of
    joining for many, an invitation to a member's own email, several roles and access
    modes."""
    from credits.models import CreditAccess

    moment = timezone.now() - timedelta(days=3)
    members = []
    for i in range(17):
        membership = add_member(
            organization, email=f"m{i:02}@x.example", name=f"Name {i % 4}" if i % 5 else ""
        )
        members.append(membership)
    Membership.objects.filter(pk__in=[m.pk for m in members[::2]]).update(created_at=moment)
    CreditAccess.objects.filter(membership__in=members[::3]).update(mode="unlimited")
    for i in range(8):
        services.member_add(actor=org_admin, organization=organization, email=f"i{i}@x.example")
    Invitation.objects.filter(organization=organization).update(created_at=moment)
    # The same email as a member's: a tie on the email broken by the kind of row.
    Invitation.objects.create(
        organization=organization,
        email="m03@x.example",
        token_hash="f" * 64,
        expires_at=timezone.now() + timedelta(days=3),
        created_at=moment,
    )


def _key(row):
    return (row["row_kind"], row["row_id"])


def _walk(rows, size):
    """Every page forwards by 'Next', then backwards from the last page by 'Previous'."""
    forwards, page, seen = [], rows.page(size=size), 0
    while True:
        forwards += [_key(r) for r in page.rows]
        seen += 1
        assert seen < 100
        if not page.has_next:
            break
        after = console_selectors.member_cursor_parse(token=page.last_token, sort=rows.sort)
        page = rows.page(size=size, after=after)
    backwards, page = [], rows.page(size=size, last=True)
    while True:
        backwards = [_key(r) for r in page.rows] + backwards
        if not page.has_previous:
            break
        before = console_selectors.member_cursor_parse(token=page.first_token, sort=rows.sort)
        page = rows.page(size=size, before=before)
    return forwards, backwards


@pytest.mark.parametrize(("sort", "desc"), ORDERS)
@pytest.mark.parametrize("show", ["", "members", "invited"])
def test_walking_the_pages_visits_every_row_once_in_order(
    org_admin, organization, sort, desc, show
):
    _mixed(organization, org_admin)
    rows = console_selectors.member_rows_for_org(
        organization=organization, sort=sort, desc=desc, show=show
    )
    whole = [_key(r) for r in rows]
    assert len(whole) == len(set(whole)) == rows.count()
    assert len(whole) == {"": 27, "members": 18, "invited": 9}[show]
    for size in (4, 10):
        forwards, backwards = _walk(rows, size)
        assert forwards == whole
        assert backwards == whole


def test_the_sort_keys_break_ties_by_kind_and_id(org_admin, organization):
    _mixed(organization, org_admin)
    rows = list(console_selectors.member_rows_for_org(organization=organization, sort="email"))
    twins = [r for r in rows if r["row_email"] == "m03@x.example"]
    assert [r["row_kind"] for r in twins] == ["invited", "member"]
    since = list(console_selectors.member_rows_for_org(organization=organization, sort="since"))
    keys = [(r["row_since"], r["row_kind"], r["row_id"]) for r in since]
    assert keys == sorted(keys)


def test_a_search_pages_by_keyset_too(org_admin, organization):
    _mixed(organization, org_admin)
    rows = console_selectors.member_rows_for_org(organization=organization, query="x.example")
    forwards, backwards = _walk(rows, 4)
    assert forwards == backwards == [_key(r) for r in rows]
    assert rows.count() == 26


def test_last_and_middle_pages_through_the_page_links(admin_client, org_admin, organization):
    _mixed(organization, org_admin)
    whole = [
        r["row_email"]
        for r in console_selectors.member_rows_for_org(organization=organization, sort="email")
    ]
    first = admin_client.get(USERS, {"sort": "email", "per_page": 10}).content.decode()
    assert "1–10 of 27 rows" in first and "« First</span>" in first
    last_url = unescape(re.search(r'href="([^"]*page=last[^"]*)"', first).group(1))
    last = admin_client.get(last_url).content.decode()
    assert "18–27 of 27 rows" in last and "Last »</span>" in last
    assert whole[-1] in last and whole[16] not in last
    previous = unescape(re.search(r'href="([^"]*before=[^"]*)" [^>]*rel="prev"', last).group(1))
    middle = admin_client.get(previous).content.decode()
    assert all(email in middle for email in whole[7:17])
    # In the middle the position is not counted: only the total.
    assert "27 rows" in middle and "of 27 rows" not in middle


def test_actions_on_a_row_answer_with_the_same_page(admin_client, org_admin, organization):
    _mixed(organization, org_admin)
    html = admin_client.get(USERS, {"sort": "email", "per_page": 4, "page": "last"}).content
    cancel = re.search(r'action="([^"]*/cancel/[^"]*)"', html.decode()).group(1)
    assert "page=last" in unescape(cancel)


@pytest.mark.parametrize(("sort", "desc"), ORDERS)
def test_every_order_and_its_last_page_read_one_bounded_query(
    admin_client, org_admin, organization, sort, desc, django_assert_max_num_queries
):
    """No OFFSET, no count of the members: one query for the page's rows (each side read
    along its index from the cursor) and one of the tallies."""
    _mixed(organization, org_admin)
    params = {"sort": sort, "dir": "desc" if desc else "asc", "per_page": 10}
    for extra in ({}, {"page": "last"}):
        with CaptureQueriesContext(connection) as queries:
            response = admin_client.get(USERS, {**params, **extra})
        assert response.status_code == 200
        statements = [q["sql"] for q in queries.captured_queries]
        assert not any("OFFSET" in s for s in statements)
        assert not any(
            "COUNT(" in s and '"organizations_membership"' in s.split("WHERE")[0]
            for s in statements
        )
        assert sum('"row_kind"' in s for s in statements) == 1
        assert len(statements) <= 11


def test_first_and_last_page_cost_the_same_number_of_queries(admin_client, organization):
    """Pages holding the same kinds of rows run the same queries wherever they are."""
    for i in range(30):
        add_member(organization, email=f"p{i:02}@x.example", name=f"P {i:02}")
    # Once first: the process then holds the current announcements (portal.selectors), which
    # it reads once for every page alike.
    admin_client.get(USERS)
    counts = []
    for extra in ({}, {"page": "last"}):
        with CaptureQueriesContext(connection) as queries:
            admin_client.get(USERS, {"sort": "name", "per_page": 10, **extra})
        counts.append(len(queries.captured_queries))
    assert counts[0] == counts[1]


def _token(values):
    raw = json.dumps(values).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


BAD = [
    {"after": "garbage"},
    {"before": "%%%"},
    {"after": ""},
    {"after": "x" * 5000},
    {"after": _token(["a", "member"])},  # one value short
    {"after": _token(["a", "martian", 3])},
    {"after": _token(["a", "member", "3"])},
    {"after": _token(["a", "member", -1])},
    {"after": _token(["a", "member", 2**70])},
    {"after": _token([None, "member", 3])},
    {"after": _token(["a\x00", "member", 3])},
    {"after": _token({"a": 1})},
    {"after": _token(["not a date", "member", 3]), "sort": "since"},
    {"after": _token(["2024-01-01T00:00:00", "member", 3]), "sort": "since"},
    {"before": _token([1, "member", 3]), "sort": "email"},
    {"page": "-1"},
    {"page": "lastt"},
    {"page": "99999"},
    {"after": base64.urlsafe_b64encode(b"\xff\xfe").decode()},
]


@pytest.mark.parametrize("params", BAD)
def test_bad_cursors_fall_back_to_the_first_page(admin_client, organization, params):
    add_member(organization, email="aaa@x.example", name="Aaa")
    response = admin_client.get(USERS, params)
    assert response.status_code == 200
    assert "aaa@x.example" in response.content.decode()


def test_a_cursor_of_another_order_or_past_the_end_is_not_an_error(admin_client, organization):
    for i in range(12):
        add_member(organization, email=f"q{i:02}@x.example", name=f"Q {i:02}")
    since = admin_client.get(USERS, {"sort": "since", "per_page": 10}).content.decode()
    after = re.search(r"after=([^&\"]+)", unescape(since)).group(1)
    response = admin_client.get(USERS, {"sort": "role", "after": after, "per_page": 10})
    assert response.status_code == 200
    assert "1–10 of 13 rows" in response.content.decode()
    # Past the last row: the last page rather than an empty one.
    beyond = _token(["~~~~", "member", 2**62])
    html = admin_client.get(USERS, {"after": beyond, "per_page": 10}).content.decode()
    assert "4–13 of 13 rows" in html


# --- The trigger-kept sort keys ------------------------------------------------------------


def test_the_email_sort_key_follows_the_account(organization):
    first = add_member(organization, email="b@x.example")
    second = add_member(organization, email="c@x.example")
    first.refresh_from_db()
    assert first.sort_email == "b@x.example"
    Account.objects.filter(pk=first.account_id).update(email="d@x.example")

    def order():
        rows = console_selectors.member_rows_for_org(organization=organization, sort="email")
        return [r["row_id"] for r in rows if r["row_kind"] == "member"]

    assert order().index(second.pk) < order().index(first.pk)
    account = second.account
    account.email = "z@x.example"
    account.save()
    second.refresh_from_db()
    assert second.sort_email == "z@x.example"
    assert order().index(first.pk) < order().index(second.pk)


def test_the_role_order_follows_an_administrator_transfer(org_admin, organization):
    successor = add_member(organization, email="next@x.example", name="Aaron")
    services.administrator_transfer(
        actor=None, organization=organization, new_administrator=successor.account
    )
    rows = list(console_selectors.member_rows_for_org(organization=organization, sort="role"))
    assert (rows[0]["row_role"], rows[0]["row_id"]) == (Role.ADMIN, successor.pk)


# --- The member tallies --------------------------------------------------------------------


def _real(organization):
    return {
        "members": Membership.objects.filter(organization=organization).count(),
        "invitations": Invitation.objects.filter(
            organization=organization, state=InvitationState.PENDING
        ).count(),
    }


def test_the_tallies_count_every_way_members_and_invitations_change(
    org_admin, organization, outsider
):
    def check():
        assert console_selectors.member_counts(organization=organization) == _real(organization)

    check()
    memberships = [add_member(organization) for _ in range(5)]
    check()
    services.member_remove(actor=org_admin, membership=memberships[0])
    check()
    services.members_remove(
        actor=org_admin, organization=organization, memberships=memberships[1:3]
    )
    check()
    for i in range(4):
        services.member_add(actor=org_admin, organization=organization, email=f"t{i}@x.example")
    check()
    invitation = Invitation.objects.filter(organization=organization).first()
    services.invitation_cancel(actor=org_admin, invitation=invitation)
    check()
    Invitation.objects.filter(organization=organization).update(state=InvitationState.CANCELLED)
    check()
    Invitation.objects.filter(organization=organization).update(state=InvitationState.PENDING)
    check()
    Invitation.objects.filter(organization=organization).delete()
    check()
    # Moved to another organization by a script: out of one, into the other.
    other = outsider.administered_organization
    Membership.objects.filter(pk=memberships[3].pk).update(organization=other)
    check()
    assert console_selectors.member_counts(organization=other) == _real(other)
    AccountFactory._meta.model.objects.filter(pk=memberships[4].account_id).delete()
    check()
    assert MemberTally.objects.filter(organization=organization).count() > 1
    services.member_tallies_compact()
    check()
    assert MemberTally.objects.filter(organization=organization).count() == 1


def test_the_overview_and_the_api_count_from_the_tallies(
    admin_client, org_admin, organization, django_assert_max_num_queries
):
    for _ in range(3):
        add_member(organization)
    services.member_add(actor=org_admin, organization=organization, email="o@x.example")
    summary = console_selectors.organization_summary(organization=organization)
    assert summary["members"] == 4
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get("/organization/")
    assert response.status_code == 200
    assert not any(
        "COUNT(" in q["sql"] and "organizations_membership" in q["sql"]
        for q in queries.captured_queries
    )


def test_the_written_rows_match_the_row_partials(admin_client, org_admin, organization):
    """The members table writes its rows out (`members._add_row_html`) instead of rendering a
    partial per row; the markup must stay what the `member-row` and `invitation-row` partials
    give, escaping included."""
    import difflib

    from django.template.loader import render_to_string
    from django.utils import timezone as tz

    from credits.models import CreditAccess
    from licensing.models import License
    from tests.licensing.factories import ProductFactory, make_seat

    tricky = add_member(organization, email="a&b@x.example", name='Ann "A" <b>&amp;')
    plain = add_member(organization, email="plain@x.example", name="")
    monthly = add_member(organization, email="monthly@x.example", name="Mo")
    unlimited = add_member(organization, email="unl@x.example", name="Un")
    CreditAccess.objects.filter(membership=monthly).update(
        mode="quota", period="monthly", limit=1234.5, used=12, period_start=tz.now()
    )
    CreditAccess.objects.filter(membership=tricky).update(mode="quota", period="none", limit=7)
    CreditAccess.objects.filter(membership=unlimited).update(mode="unlimited")
    product = ProductFactory(code='c<"x">', name="Tool & <Co>")
    for membership in (tricky, plain):
        seat = make_seat(organization, product)
        License.objects.filter(pk=seat.pk).update(assignee=membership, assigned_at=tz.now())
    for email in ("o'k&i@x.example", "old@x.example", "gone@x.example"):
        services.member_add(actor=org_admin, organization=organization, email=email)
    Invitation.objects.filter(email="old@x.example").update(sent_at=tz.now() - timedelta(days=2))
    Invitation.objects.filter(email="gone@x.example").update(
        sent_at=tz.now() - timedelta(days=9), expires_at=tz.now() - timedelta(days=1)
    )

    def squash(html):
        return re.sub(r">\s+<", "><", re.sub(r"\s+", " ", html)).strip()

    response = admin_client.get(USERS, secure=True)
    rows = response.context["rows"]
    assert {row["kind"] for row in rows} == {"member", "invited"} and len(rows) == 8
    for row in rows:
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', str(row["html"]))
        rendered = render_to_string(
            f"organizations/users.html#{'member' if row['kind'] == 'member' else 'invitation'}-row",
            {
                "row": row,
                "just_now": response.context["just_now"],
                "csrf_token": token.group(1) if token else "",
            },
        )
        written, expected = squash(str(row["html"])), squash(rendered)
        assert written == expected, [
            d for d in difflib.ndiff(written.split("><"), expected.split("><")) if d[0] in "-+?"
        ]
    page = response.content.decode()
    assert "Ann &quot;A&quot; &lt;b&gt;&amp;amp;" in page and "a&amp;b@x.example" in page


def test_verify_ledger_reports_a_tampered_member_tally(org_admin, organization, outsider):
    """`member_tally_problems` (run by `verify_ledger` beside the seat tallies) is silent
    while the tallies add up, and names the organization whose tally drifted."""
    from io import StringIO

    from django.core.management import CommandError, call_command

    from organizations.selectors import member_tally_problems

    add_member(organization)
    services.member_add(actor=org_admin, organization=organization, email="t@x.example")
    add_member(outsider.administered_organization)
    assert member_tally_problems() == []
    MemberTally.objects.create(organization=organization, members=2, invitations=-1)
    (problem,) = member_tally_problems()
    assert f"organization #{organization.pk}" in problem
    real = _real(organization)
    assert f"({real['members'] + 2}, {real['invitations'] - 1})" in problem
    err = StringIO()
    with pytest.raises(CommandError):
        call_command("verify_ledger", stdout=StringIO(), stderr=err)
    assert problem in err.getvalue()
    MemberTally.objects.create(organization=organization, members=-2, invitations=1)
    services.member_tallies_compact()
    assert member_tally_problems() == []


def test_the_empty_add_field_kept_per_process_is_the_rendered_one(admin_client):
    """The users page writes the empty add form's field from a copy rendered once per process;
    it is the field as the form renders it, and a form sent back with errors still shows its
    own value and message."""
    from django.template.loader import render_to_string

    from organizations.forms import MemberAddForm

    page = admin_client.get(USERS, secure=True).content.decode()
    field = render_to_string("components/field.html", {"field": MemberAddForm()["email"]})
    assert field.strip() and field in page
    response = admin_client.post("/organization/users/add/", {"email": "not an email"})
    assert 'value="not an email"' in response.content.decode()
