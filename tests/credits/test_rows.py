"""The rows the credit pages write out in Python equal the template partials they replace,
escaping included (credits/views.py, "Rows written out in Python")."""

import difflib
import re
from datetime import UTC, date, datetime
from decimal import Decimal as D

import pytest
from django.template.loader import render_to_string

from credits import views
from credits.forms import CreditRequestForm, PurchaseForm
from credits.models import EntryKind
from credits.selectors import HistoryRow, HoldRow, LotRow, Person

NASTY = 'Ann "A" <B> & co'
WHEN = datetime(2026, 3, 4, 23, 30, tzinfo=UTC)


def squash(html):
    return re.sub(r">\s+<", "><", re.sub(r"\s+", " ", str(html))).strip()


def assert_same(written, rendered):
    written, expected = squash(written), squash(rendered)
    assert written == expected, [
        d for d in difflib.ndiff(written.split("><"), expected.split("><")) if d[0] in "-+?"
    ]


def _entries():
    """History rows as the pages read them: the pool's shows `email`, an account's own
    `organization` (None: personal)."""
    yield HistoryRow(WHEN, EntryKind.PURCHASE, "Purchase", D("1234.5"), 42, "", None)
    yield HistoryRow(
        WHEN, EntryKind.PURCHASE, "Purchase", D("10"), 43, "", None, organization=NASTY
    )
    yield HistoryRow(
        WHEN,
        EntryKind.CONSUMPTION,
        "Consumption",
        D("-0.5"),
        None,
        "a <note>",
        "ref<&>",
        email="ann+<x>@example.com",
        organization=NASTY,
    )
    # A capture's consumption shows its hold's reference.
    yield HistoryRow(
        WHEN,
        EntryKind.CONSUMPTION,
        "Consumption",
        D("-3"),
        None,
        "",
        'job-<1>"',
        email="ann+<x>@example.com",
    )
    yield HistoryRow(WHEN, EntryKind.GRANT, "Grant", D("0"), None, "n&te", None)
    yield HistoryRow(WHEN, EntryKind.REFUND, "Refund", D("12345.678"), 7, "", "", email="")


@pytest.mark.parametrize("page", ["org_credits", "my_credits"])
@pytest.mark.parametrize("index", range(6))
def test_history_row_matches_the_partial(page, index):
    entry = list(_entries())[index]
    personal = page == "my_credits"
    written = views._history_row_html(entry, views.url_maker("billing:receipt"), personal=personal)
    rendered = render_to_string(f"credits/{page}.html#history-row", {"entry": entry})
    assert_same(written, rendered)
    assert_same(views._history_html([entry], personal=personal), rendered)


@pytest.mark.parametrize("page", ["org_credits", "my_credits"])
@pytest.mark.parametrize("with_organization", [False, True])
def test_hold_row_matches_the_partial(page, with_organization):
    hold = HoldRow(
        reference='job-<1>"',
        amount=D("12345.678"),
        opened_at=WHEN,
        expires_at=datetime(2026, 12, 31, 0, 5, tzinfo=UTC),
        email="ann+<x>@example.com",
        organization=NASTY if with_organization else None,
    )
    written = views._hold_row_html(hold, personal=page == "my_credits")
    rendered = render_to_string(f"credits/{page}.html#hold-row", {"hold": hold})
    assert_same(written, rendered)


@pytest.mark.parametrize("page", ["org_credits", "my_credits"])
@pytest.mark.parametrize(
    "expires",
    [None, datetime(2026, 3, 1, 23, 59, tzinfo=UTC), datetime(2027, 1, 31, 0, 1, tzinfo=UTC)],
)
def test_lot_row_matches_the_partial(page, expires):
    now = datetime(2026, 6, 1, tzinfo=UTC)
    lot = LotRow("purchase", "Purchase", D("1234.5"), D("0.01"), WHEN, expires)
    personal = page == "my_credits"
    written = views._lots_html([lot], personal=personal, now=now)
    rendered = render_to_string(f"credits/{page}.html#lot-row", {"lot": lot, "now": now})
    assert_same(written, rendered)


def test_chart_bars_and_days_match_the_partials():
    days = [
        {"day": date(2026, 3, n), "total": D(total)}
        for n, total in enumerate(["0", "12.5", "1234567.891", "0.01"] + ["3"] * 27, start=1)
    ]
    data = {
        "days": days,
        "month": date(2026, 3, 1),
        "leaders": [
            (Person(NASTY, "ann+<x>@example.com"), D("1234567.5")),
            (Person("", "bo@example.com"), D("0.01")),
        ],
        "total": sum(d["total"] for d in days),
    }
    chart = views._chart_geometry(data, today=date(2026, 3, 20))
    assert any(not bar["height"] for bar in chart["bars"])
    bars = "".join(
        render_to_string("credits/org_credits.html#chart-bar", {"bar": bar, "chart": chart})
        for bar in chart["bars"]
    )
    assert_same(chart["bars_html"], bars)
    rows = "".join(
        render_to_string("credits/org_credits.html#chart-day", {"day": day})
        for day in days
        if day["total"]
    )
    assert_same(chart["days_html"], rows)
    for part in ("axis", "grid", "leaders"):
        rendered = render_to_string(f"credits/org_credits.html#chart-{part}", {"chart": chart})
        assert chart[f"{part}_html"] == rendered, part


@pytest.mark.parametrize(
    "partial",
    [
        "credits/org_credits.html#purchase-fields",
        "credits/org_credits.html#bulk-fields",
        "credits/my_credits.html#purchase-fields",
        "credits/my_credits.html#request-fields",
    ],
)
def test_empty_forms_rendered_once_equal_a_fresh_rendering(partial):
    fresh = render_to_string(
        partial,
        {
            "purchase_form": PurchaseForm(prefix="buy"),
            "bulk_form": views._empty_bulk_form(),
            "request_form": CreditRequestForm(prefix="ask"),
        },
    )
    assert views._empty_form_html(partial) == fresh
    assert 'name="' in fresh and "csrfmiddlewaretoken" not in fresh


def test_the_chart_axis_writes_large_figures_short():
    from decimal import Decimal

    from credits.views import axis_label

    assert axis_label(Decimal("0")) == "0"
    assert axis_label(Decimal("250")) == "250"
    assert axis_label(Decimal("2500")) == "2,500"
    assert axis_label(Decimal("12.50")) == "12.50"
    assert axis_label(Decimal("120000")) == "120k"
    assert axis_label(Decimal("2500000")) == "2.5M"


@pytest.mark.parametrize(
    "amount",
    [
        "0",
        "0.00",
        "-0.00",
        "-0.004",
        "0.005",
        "1",
        "12.5",
        "-12.50",
        "999.995",
        "1000",
        "1234567.891",
        "-1234567.895",
        "100000000000.00",
        "12345.665",
    ],
)
def test_figures_are_written_as_floatformat_writes_them(amount):
    from django.template.defaultfilters import floatformat

    assert views._figure(D(amount)) == floatformat(D(amount), "2g")


@pytest.mark.parametrize("month", range(1, 13))
def test_times_are_written_as_the_date_filter_writes_them(month):
    moment = datetime(2026, month, 9, 7, 5, 3, 120, tzinfo=UTC)
    rendered = render_to_string(
        "credits/org_credits.html#hold-row",
        {"hold": HoldRow("j", D("1"), moment, moment, email="a@example.com")},
    )
    assert views._when(moment) in rendered and "9 " in views._when(moment)
