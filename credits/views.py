"""Credit pages: My credits (R31) and the organization's Cloud credits page (R19–R22, R29).

Views parse, check access, call a service and render; for htmx requests the same view renders
only the fragment that changed.
"""

import functools
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from html import escape
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import dateformat, timezone
from django.utils.formats import date_format
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_http_methods, require_POST

from billing.checkout import (
    Review,
    add_form_error,
    checkout_form,
    checkout_render,
    review_or_error,
)
from billing.pricing import credit_price
from credits import selectors, services
from credits.forms import AccessForm, CreditRequestForm, PurchaseForm, add_domain_error
from credits.models import LotOrigin
from credits.permissions import (
    access_for_admin_or_404,
    credit_request_for_admin_or_404,
    own_open_credit_request_or_404,
)
from organizations.permissions import org_admin_required
from portal import errors
from portal.amounts import format_amount
from portal.links import csrf_input, url_maker
from portal.text import money

MEMBERS_PER_PAGE = 25
HISTORY_PER_PAGE = 20
HOLDS_PER_PAGE = 10
LOTS_SHOWN = 10
REQUESTS_SHOWN = 50
MY_REQUESTS_SHOWN = 5
# The usage chart goes back month by month to here; further is not a date anyone means.
CHART_FIRST_MONTH = date(2000, 1, 1)


# --- Rows written out in Python -----------------------------------------------------------
# A page's tables have dozens of rows; through the template each row costs a few hundred
# variable lookups and filters, most of the page's rendering. Each kind of row is written
# here once per page with plain string work, every value from the database escaped (the
# standard library's `escape`, which `django.utils.html.escape` calls: `format_html` checked
# each value for laziness and safety first, a tenth of the page), and the template keeps the
# row as a partial that is never rendered on the page: tests/credits/test_rows.py checks that
# both write the same markup, escaping included.

_CENT = Decimal("0.01")


def _figure(amount) -> str:
    """What `|floatformat:"2g"` writes of an amount: rounded half up to cents, grouped by
    thousands (the portal is in English only), never "-0.00". tests/credits/test_rows.py
    compares the two."""
    cents = Decimal(amount).quantize(_CENT, ROUND_HALF_UP)
    return f"{cents if cents else abs(cents):,.2f}"


@functools.lru_cache(maxsize=1024)
def _day(day: date) -> str:
    """`|date:"j M Y"`: a page shows a few days many times."""
    return dateformat.format(day, "j M Y")


def _when(moment) -> str:
    """`<time datetime="{{ x|date:'c' }}">{{ x|date:"j M Y, H:i" }}</time>`, in the current
    time zone."""
    local = timezone.localtime(moment)
    return (
        f'<time datetime="{local.isoformat()}">'
        f"{_day(local.date())}, {local.hour:02d}:{local.minute:02d}</time>"
    )


def _signed(amount) -> str:
    """The Credits cell of a history row: sign, colour and amount."""
    return (
        '<td data-label="Credits" class="num amount '
        f'{"amount--out" if amount < 0 else "amount--in"}">'
        f"{'+' if amount > 0 else ''}{_figure(amount)}</td>"
    )


def _history_row_html(entry: selectors.HistoryRow, receipt, *, personal: bool) -> str:
    """A row of the history: the pool's (`history-row` of org_credits.html) or, with
    `personal`, an account's (`history-row` of my_credits.html)."""
    if entry.order_id and not (personal and entry.organization is not None):
        extra = f' <a class="small" href="{receipt(entry.order_id)}">Order #{entry.order_id}</a>'
    elif entry.note:
        extra = f' <span class="muted small">{escape(entry.note)}</span>'
    else:
        extra = ""
    if personal:
        who_label = "Source"
        who = escape(entry.organization) if entry.organization is not None else "Personal"
    else:
        who_label = "Member"
        who = escape(entry.email) if entry.email else "—"
    reference = (
        f'<span class="code">{escape(entry.reference)}</span>'
        if entry.reference is not None
        else "—"
    )
    return (
        "<tr>\n"
        f'  <td data-label="When">{_when(entry.created_at)}</td>\n'
        f'  <td data-label="What">{escape(entry.kind_label)}{extra}</td>\n'
        f'  <td data-label="{who_label}">{who}</td>\n'
        f'  <td data-label="Reference">{reference}</td>\n'
        f"  {_signed(entry.amount)}\n"
        "</tr>\n"
    )


def _history_html(entries, *, personal: bool = False) -> str:
    """The rows of a page of history, written out."""
    receipt = url_maker("billing:receipt")
    return mark_safe(
        "".join(_history_row_html(entry, receipt, personal=personal) for entry in entries)
    )


def _hold_row_html(hold: selectors.HoldRow, *, personal: bool) -> str:
    """A running job: the pool's (`hold-row` of org_credits.html: member, then job) or, with
    `personal`, the account's own (`hold-row` of my_credits.html: job, then where from)."""
    job = f'<td data-label="Job"><span class="code">{escape(hold.reference)}</span></td>'
    if personal:
        source = escape(hold.organization) if hold.organization is not None else "Personal"
        first = f'{job}\n  <td data-label="From">{source}</td>'
    else:
        first = f'<td data-label="Member">{escape(hold.email)}</td>\n  {job}'
    return (
        "<tr>\n"
        f"  {first}\n"
        f'  <td data-label="Set aside" class="num">{_figure(hold.amount)}</td>\n'
        f'  <td data-label="Started">{_when(hold.opened_at)}</td>\n'
        f'  <td data-label="Deadline">{_when(hold.expires_at)}</td>\n'
        "</tr>\n"
    )


def _holds_html(holds, *, personal: bool = False) -> str:
    return mark_safe("".join(_hold_row_html(hold, personal=personal) for hold in holds))


def _lot_row_html(lot: selectors.LotRow, *, personal: bool, now=None) -> str:
    """A lot with credits left: the pool's (`lot-row` of org_credits.html) or, with
    `personal`, one of the account's own (`lot-row` of my_credits.html, spent and expired
    ones included). Indented as the template's loop wrote it."""
    expires = lot.expires_at
    if expires is None:
        ends = "Never"
    elif personal and expires < now:
        ends = '<span class="badge badge--bad">Expired</span>'
    else:
        ends = _day(timezone.localtime(expires).date())
    if personal:
        amounts = (
            '<td data-label="Remaining" class="num"><span>'
            f'{_figure(lot.remaining)} <span class="muted small">of {_figure(lot.amount)}'
            "</span></span></td>"
        )
    else:
        amounts = (
            f'<td data-label="Amount" class="num">{_figure(lot.amount)}</td>\n'
            f'          <td data-label="Remaining" class="num">{_figure(lot.remaining)}</td>'
        )
    return (
        "\n        <tr>\n"
        f'          <td data-label="Arrived">{_day(timezone.localtime(lot.arrived_at).date())}'
        "</td>\n"
        f'          <td data-label="Origin">{escape(lot.origin_label)}</td>\n'
        f"          {amounts}\n"
        f'          <td data-label="Expires">{ends}</td>\n'
        "        </tr>\n        "
    )


def _lots_html(lots, *, personal: bool = False, now=None) -> str:
    return mark_safe("".join(_lot_row_html(lot, personal=personal, now=now) for lot in lots))


def _day_row_html(day) -> str:
    """A line of the chart's daily figures (`chart-day` of org_credits.html)."""
    return f'<tr><td>{_day(day["day"])}</td><td class="num">{_figure(day["total"])}</td></tr>'


def _bar_html(bar, chart) -> str:
    """A day's bar and its label in the chart (`chart-bar` of org_credits.html)."""
    rect = (
        f'<rect class="chart__s0" x="{bar["x"]:.2f}" y="{bar["y"]:.2f}"'
        f' width="{chart["bar_width"]:.2f}" height="{bar["height"]:.2f}">'
        f"<title>{escape(bar['title'])}</title></rect>"
        if bar["height"]
        else ""
    )
    label = (
        f'<text class="chart__label" x="{bar["label_x"]:.2f}" y="{chart["axis_y"]}"'
        f' text-anchor="middle">{escape(bar["label"])}</text>'
        if bar["label"]
        else ""
    )
    return f"{rect}\n{label}\n"


def _chart_text_html(chart) -> dict:
    """The chart's scale (`chart-axis` and `chart-grid` of org_credits.html) and its top
    members (`chart-leaders`), indented as the template's loops wrote them."""
    labels = [
        f'<text class="chart__label" x="{chart["label_x"]}" y="{line["label_y"]:.2f}"'
        f' text-anchor="end">{escape(line["label"])}</text>'
        for line in chart["grid"]
    ]
    grid = "".join(
        f'\n      <line class="chart__grid" x1="{chart["plot_left"]}" x2="{chart["plot_right"]}"'
        f' y1="{line["y"]:.2f}" y2="{line["y"]:.2f}"></line>\n      {label}\n      '
        for line, label in zip(chart["grid"], labels, strict=True)
    )
    leaders = []
    for leader in chart["leaders"]:
        person = leader["account"]
        email = escape(person.email)
        name = (
            f'{escape(person.name)} <span class="muted small">{email}</span>'
            if person.name
            else email
        )
        leaders.append(
            f'\n        <li><span>{name}</span> <span class="num">'
            f"{Decimal(leader['total']):,.2f}</span></li>\n        "
        )
    return {
        "axis_html": mark_safe("".join(labels)),
        "grid_html": mark_safe(grid),
        "leaders_html": mark_safe("".join(leaders)),
    }


@functools.cache
def _empty_form_html(partial: str) -> str:
    """The fields of a form shown empty on every view (buy credits, apply to selected, ask
    for credits): the same for everyone, so rendered once per process. The CSRF token is not
    part of them; a form sent back with errors is rendered as usual."""
    forms = {
        "purchase_form": PurchaseForm(prefix="buy"),
        "bulk_form": _empty_bulk_form(),
        "request_form": CreditRequestForm(prefix="ask"),
    }
    return render_to_string(partial, forms)


def _empty_bulk_form() -> AccessForm:
    return AccessForm(prefix="bulk", initial={"mode": "quota", "period": "monthly"})


# --- My credits (R31) ---------------------------------------------------------------------


def _my_context(request, **forms):
    now = timezone.now()
    data = selectors.my_credits_page(
        account_id=request.user.pk,
        now=now,
        # A window of pages is counted, not the whole history (rules.md "Performance").
        history_page=request.GET.get("page"),
        history_per_page=HISTORY_PER_PAGE,
        holds_shown=HOLDS_PER_PAGE + 1,
        requests_shown=MY_REQUESTS_SHOWN,
    )
    summary = data["summary"]
    access = summary["access"]
    quota = summary["quota"]
    lots = data["lots"]
    holds = data["holds"]
    return {
        "summary": summary,
        # R35: the account's jobs still rendering, with what they set aside.
        "holds": holds,
        "hold_rows": _holds_html(holds[:HOLDS_PER_PAGE], personal=True),
        "access": access,
        "quota": quota,
        "quota_meter": _meter(quota["used"], quota["limit"]) if quota else None,
        "lots": lots,
        "lot_rows": _lots_html(lots, personal=True, now=now),
        "trial_available": access is None
        and not any(lot.origin == LotOrigin.TRIAL for lot in lots),
        "history": data["history"],
        "history_rows": _history_html(data["history"].object_list, personal=True),
        "request_organization": summary["organization"] or data["member_of"],
        # R21: the pools this account could be given, but not while it has personal credits.
        "closed_pools": data["closed_pools"],
        "my_requests": data["requests"],
        # A form sent back with errors is rendered; else its empty fields, rendered once.
        "purchase_form": forms.get("purchase_form"),
        "purchase_fields": None
        if forms.get("purchase_form")
        else _empty_form_html("credits/my_credits.html#purchase-fields"),
        "credit_price": credit_price(),
        "request_form": forms.get("request_form"),
        "request_fields": None
        if forms.get("request_form")
        else _empty_form_html("credits/my_credits.html#request-fields"),
        "trial_credits": settings.TRIAL_CREDITS,
        "now": now,
    }


def _meter(used: Decimal, limit: Decimal) -> dict:
    """Share of a quota used, for an SVG bar (no inline style under the CSP)."""
    share = 1 if limit <= 0 else min(used / limit, 1)
    percent = int(share * 100)
    level = "bad" if share >= 1 else ("warn" if share >= Decimal("0.8") else "ok")
    return {"width": round(float(share) * 100, 1), "percent": percent, "level": level}


@login_required
def my_credits(request):
    """R31: source, what can be spent now (R22), quota and usage, lots, history."""
    template = "credits/my_credits.html#history" if request.htmx else "credits/my_credits.html"
    return render(request, template, _my_context(request))


@login_required
@require_http_methods(["GET", "POST"])
def my_credits_buy(request):
    """Personal credits: choose, review, place (R39); refused with org access enabled (R21)."""
    form = PurchaseForm(
        request.POST if request.method == "POST" else request.GET or None, prefix="buy"
    )
    if request.method == "POST":
        token_form = checkout_form(request, form)
        if form.is_valid() and token_form.is_valid():
            try:
                lot = services.personal_credits_purchase(
                    actor=request.user,
                    amount=form.cleaned_data["amount"],
                    checkout_token=token_form.cleaned_data["checkout_token"],
                )
            except errors.OrgCreditAccessEnabled as exc:
                # The purchase form is not shown to such accounts; say it above the page.
                messages.error(request, exc.message)
                return redirect("credits:my_credits")
            except errors.DomainError as exc:
                add_form_error(form, exc)
            else:
                messages.success(request, _bought_message(lot, "You bought"))
                return redirect("credits:my_credits")
    review = None
    if request.method == "GET" and form.is_bound and form.is_valid():
        review = review_or_error(
            form,
            _credits_review(
                form.cleaned_data["amount"],
                subtitle=f"Personal credits for {request.user.email}",
                change_url=reverse("credits:my_credits"),
            ),
            field="amount",
        )
    return checkout_render(
        request,
        form=form,
        review=review,
        heading="Buy credits",
        intro="Buy cloud credits for your own account.",
        back_url=reverse("credits:my_credits"),
        action=reverse("credits:my_credits_buy"),
    )


def _bought_message(lot, start: str) -> str:
    return (
        f"{start} {lot.amount:,.2f} credits (order #{lot.entry.order_id}); they expire on "
        f"{lot.expires_at:%d %b %Y}. The receipt is on its way to your email."
    )


def _credits_review(amount: Decimal, *, subtitle: str, change_url: str) -> Review:
    price = money(credit_price(), settings.PORTAL_CURRENCY)
    line = services.credits_line(amount=amount)
    return Review(
        title="Cloud credits",
        subtitle=subtitle,
        rows=[
            ("Price per credit", price),
            ("Credits", f"{amount:,.2f}"),
            (
                "Expire on",
                date_format(timezone.now() + timedelta(days=settings.CREDIT_LOT_DAYS), "j M Y"),
            ),
        ],
        total=line.total,
        formula=f"{price} × {amount:,.2f} credits",
        outcome="adds the credits at once",
        hidden={"buy-amount": format_amount(amount)},
        change_url=change_url,
    )


@login_required
@require_POST
def my_credits_trial(request):
    """R16: trial credits once, only without organizational credit access."""
    try:
        lot = services.trial_credits_grant(actor=request.user, account=request.user)
    except errors.DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            f"{format_amount(lot.amount)} trial credits were added; they expire on "
            f"{lot.expires_at:%d %b %Y}.",
        )
    return redirect("credits:my_credits")


@login_required
@require_POST
def my_credits_ask(request):
    """R29: ask the administrator for more credits; they are emailed."""
    form = CreditRequestForm(request.POST, prefix="ask")
    if form.is_valid():
        try:
            services.credit_request_create(account=request.user, **form.cleaned_data)
        except errors.DomainError as exc:
            add_domain_error(form, exc)
        else:
            messages.success(request, "Your request was sent to your administrator.")
            return redirect("credits:my_credits")
    return render(request, "credits/my_credits.html", _my_context(request, request_form=form))


# --- The organization's Cloud credits page ------------------------------------------------


def _options(choices, selected) -> str:
    return format_html_join(
        "",
        '\n  <option value="{}"{}>{}</option>',
        ((value, " selected" if value == selected else "", label) for value, label in choices),
    )


@functools.cache
def _options_for(field: str, selected: str) -> str:
    return _options(AccessForm.base_fields[field].choices, selected)


def _access_fields_html(access) -> str:
    """The row's three inputs with the markup components/field.html gives AccessForm. Written
    here because a page has 25 rows: through the form renderer's templates they cost most of
    the page, and even as a template partial half of it. tests/credits/test_views.py compares
    this with the form's rendering; a row with errors goes through the form instead."""
    p = f"id_a{access.pk}"
    pk = access.pk
    value = f' value="{escape(access.limit_text)}"' if access.limit_text else ""
    return (
        '<div class="field">\n'
        f'  <label for="{p}-mode">Access <span class="required" aria-hidden="true">*</span>'
        "</label>\n"
        f'  <select name="a{pk}-mode" id="{p}-mode">{_options_for("mode", access.mode)}\n'
        "</select>\n</div>\n"
        '<div class="field">\n'
        f'  <label for="{p}-limit">Limit</label>\n'
        f'  <input type="text" name="a{pk}-limit"{value} inputmode="decimal" autocomplete="off"'
        f' maxlength="16" id="{p}-limit">\n</div>\n'
        '<div class="field">\n'
        f'  <label for="{p}-period">Period</label>\n'
        f'  <select name="a{pk}-period" id="{p}-period">{_options_for("period", access.period)}'
        "\n</select>\n</div>"
    )


_ADMIN_BADGE = '<span class="badge badge--accent">Administrator</span>'
_NO_ACCESS = '<span class="badge">No access</span>'


def _access_row_html(access: selectors.AccessRow, csrf: str) -> str:
    """The whole row as the `access-row` partial renders it (without errors), written out
    because a page has 25 of them: through the template they were a third of the page's
    rendering. tests/credits/test_views.py compares the two."""
    pk = access.pk
    email = escape(access.email)
    url = escape(access.update_url)
    name = (
        f'<span class="muted small member-name">{escape(access.name)}</span>' if access.name else ""
    )
    spendable = _NO_ACCESS if access.mode == "disabled" else _figure(access.spendable)
    return (
        f'<tr id="access-{pk}">\n'
        '  <td data-label="Select" class="select-cell"><input type="checkbox" name="selected"'
        f' value="{pk}" form="bulk-access" aria-label="Select {email}"></td>\n'
        '  <td data-label="Member">\n'
        '    <div class="member-cell">\n'
        f'      <span class="member-email">{email}</span>\n'
        f"      {_ADMIN_BADGE if access.role == 'admin' else ''}\n"
        f"      {name}\n"
        "    </div>\n"
        "  </td>\n"
        '  <td data-label="Credit access">\n'
        f'    <form method="post" action="{url}" class="inline-form access-form"\n'
        f'          hx-post="{url}" hx-target="#access-{pk}" hx-swap="outerHTML" novalidate>\n'
        f"      {csrf}\n"
        f"      {access.fields_html}\n"
        '      <button type="submit" class="button button--small button--secondary">Save</button>\n'
        "    </form>\n"
        "  </td>\n"
        f'  <td data-label="Used" class="num"><div>{_figure(access.used_now)}'
        '<span class="muted small used-period">'
        f"{'this month' if access.period == 'monthly' else 'all time'}</span></div></td>\n"
        f'  <td data-label="Can spend now" class="num">{spendable}</td>\n'
        "</tr>\n"
    )


def _access_rows(accesses: list[selectors.AccessRow], csrf: str | None = None):
    """The member rows of the access table with their inputs and links ready; with `csrf`,
    each row's whole markup too (`row_html`), for the full table."""
    update_url = url_maker("credits:org_access_update")
    for access in accesses:
        access.update_url = update_url(access.pk)
        access.limit_text = format_amount(access.limit) or ""
        access.fields_html = mark_safe(_access_fields_html(access))
        if csrf is not None:
            access.row_html = mark_safe(_access_row_html(access, csrf))
    return accesses


def _org_context(request, *, purchase_form=None, bulk_form=None):
    organization = request.organization
    now = timezone.now()
    # Everything the page reads, in one statement (credits.selectors.pool_page).
    query = request.GET.get("q", "").strip()[:100]
    data = selectors.pool_page(
        organization_id=organization.pk,
        now=now,
        month=_chart_month(request, now),
        holds_page=request.GET.get("jp"),
        holds_per_page=HOLDS_PER_PAGE,
        # The lots that still hold credits, soonest expiry first (R23's burn order): a pool
        # that buys every week has dozens; the page lists the first few and counts the rest.
        lots_shown=LOTS_SHOWN,
        query=query,
        # Counting every member's access, or a million entries, on each view grows with the
        # organization: a window of pages past the one shown is counted.
        members_page=request.GET.get("page"),
        members_per_page=MEMBERS_PER_PAGE,
        history_page=request.GET.get("hp"),
        history_per_page=HISTORY_PER_PAGE,
        requests_shown=REQUESTS_SHOWN,
    )
    pool = data["available"]
    page = data["members"]
    threshold = organization.low_balance_threshold
    return {
        "organization": organization,
        "pool": pool,
        "held": data["held"],
        "holds": data["holds"],
        "hold_rows": _holds_html(data["holds"].object_list),
        "lots": data["lots"],
        "lot_rows": _lots_html(data["lots"]),
        "lots_more": data["lots_more"],
        "threshold": threshold,
        "below_threshold": threshold is not None and pool < threshold,
        # A form sent back with errors is rendered; else its empty fields, rendered once.
        "purchase_form": purchase_form,
        "purchase_fields": None
        if purchase_form
        else _empty_form_html("credits/org_credits.html#purchase-fields"),
        "credit_price": credit_price(),
        "bulk_form": bulk_form,
        "bulk_fields": None
        if bulk_form
        else _empty_form_html("credits/org_credits.html#bulk-fields"),
        **_member_table(request, page, query),
        "history": data["history"],
        "history_rows": _history_html(data["history"].object_list),
        "chart": _chart_geometry(data["usage"], today=now.date()),
        "requests": data["requests"],
    }


def _member_table_context(request) -> dict:
    """What the access table alone needs (a search or another page of it, through htmx)."""
    query = request.GET.get("q", "").strip()[:100]
    page = selectors.pool_members(
        organization_id=request.organization.pk,
        now=timezone.now(),
        query=query,
        page=request.GET.get("page"),
        per_page=MEMBERS_PER_PAGE,
    )
    return _member_table(request, page, query)


def _member_table(request, page, query: str) -> dict:
    """The access table's context: its page of rows, written out, and the search."""
    rows = _access_rows(page.object_list, csrf_input(request))
    return {
        "page": page,
        "member_rows": mark_safe("".join(access.row_html for access in rows)),
        "query": query,
        "query_prefix": f"q={query}&" if query else "",
    }


@org_admin_required
def org_credits(request):
    """R19–R22, R29: pool, lots, purchase, usage chart, access per member, open requests."""
    if request.htmx and request.htmx.target == "member-table":
        return render(
            request, "credits/org_credits.html#member-table", _member_table_context(request)
        )
    return render(request, "credits/org_credits.html", _org_context(request))


@org_admin_required
@require_http_methods(["GET", "POST"])
def org_credits_buy(request):
    """R19, R39: credits for the pool: choose, review, place (simulated checkout)."""
    form = PurchaseForm(
        request.POST if request.method == "POST" else request.GET or None, prefix="buy"
    )
    if request.method == "POST":
        token_form = checkout_form(request, form)
        if form.is_valid() and token_form.is_valid():
            try:
                lot = services.pool_credits_purchase(
                    actor=request.user,
                    organization=request.organization,
                    amount=form.cleaned_data["amount"],
                    checkout_token=token_form.cleaned_data["checkout_token"],
                )
            except errors.DomainError as exc:
                add_form_error(form, exc)
            else:
                messages.success(request, _bought_message(lot, "The pool received"))
                return redirect("credits:org_credits")
    review = None
    if request.method == "GET" and form.is_bound and form.is_valid():
        review = review_or_error(
            form,
            _credits_review(
                form.cleaned_data["amount"],
                subtitle=f"Credits for the pool of {request.organization.name}",
                change_url=reverse("credits:org_credits"),
            ),
            field="amount",
        )
    return checkout_render(
        request,
        form=form,
        review=review,
        heading="Buy credits for the pool",
        back_url=reverse("credits:org_credits"),
        action=reverse("credits:org_credits_buy"),
        organization=request.organization,
    )


@org_admin_required
@require_http_methods(["GET", "POST"])
def org_access_update(request, pk: int):
    """R20/R21: change one member's access; htmx swaps the member's row."""
    organization = request.organization
    access = access_for_admin_or_404(user=request.user, pk=pk)
    if request.method == "GET":
        return redirect(
            reverse("credits:org_credits") + "?" + urlencode({"q": access.account.email})
        )
    form = AccessForm(request.POST, prefix=f"a{access.pk}")
    status = 200
    if form.is_valid():
        try:
            access = services.access_set(actor=request.user, access=access, **form.cleaned_data)
        except errors.DomainError as exc:
            add_domain_error(form, exc)
            status = 422
        else:
            messages.success(request, f"Credit access of {access.account.email} saved.")
            if not request.htmx:
                return redirect("credits:org_credits")
    else:
        status = 422
    if not request.htmx:
        for error in form.errors.values():
            messages.error(request, f"{access.account.email}: {' '.join(error)}")
        return redirect("credits:org_credits")
    row = selectors.pool_access_row(
        organization_id=organization.pk, access_id=access.pk, now=timezone.now()
    )
    if row is None:  # the member was removed meanwhile
        raise Http404("No such member.")
    _access_rows([row])
    if status == 422:
        row.form = form
    return render(
        request,
        "credits/org_credits.html#access-row",
        {"access": row},
        status=status,
    )


@org_admin_required
@require_POST
def org_access_bulk(request):
    """R20: set the same access for the selected members; refusals are listed per member."""
    organization = request.organization
    form = AccessForm(request.POST, prefix="bulk")
    ids = [int(pk) for pk in request.POST.getlist("selected") if pk.isdigit()][:500]
    # Refusals of the form itself are shown by the form, next to its fields, not at the top.
    if form.is_valid() and not ids:
        form.add_error(None, "Select at least one member first: tick them in the table below.")
    if not form.is_valid():
        context = _org_context(request, bulk_form=form)
        return render(request, "credits/org_credits.html", context, status=422)
    try:
        done = services.access_set_many(
            actor=request.user, organization=organization, access_ids=ids, **form.cleaned_data
        )
    except services.AccessRefused as exc:
        messages.error(request, "Nothing was changed: " + " ".join(r.message for r in exc.refusals))
    else:
        messages.success(request, f"Credit access saved for {done} member{'s' * (done != 1)}.")
    return redirect("credits:org_credits")


ANSWERS = {
    "approve": (services.credit_request_approve, "approved"),
    "deny": (services.credit_request_deny, "denied"),
    "close": (services.credit_request_close, "closed"),
}


@org_admin_required
@require_POST
def org_request_answer(request, pk: int, answer: str):
    """R29: approve, deny (with an optional reason) or close a member's request. A refusal
    (R21, an unlimited member) leaves the request open and says why next to it."""
    if answer not in ANSWERS:
        raise Http404("No such answer.")
    credit_request = credit_request_for_admin_or_404(user=request.user, pk=pk)
    service, done = ANSWERS[answer]
    extra = {"reason": request.POST.get("reason", "")} if answer == "deny" else {}
    refusal = None
    try:
        service(actor=request.user, credit_request=credit_request, **extra)
    except errors.DomainError as exc:
        refusal = exc.message
    else:
        who = credit_request.account.display_name
        messages.success(request, f"The request of {who} was {done}; they were emailed.")
    if request.htmx:
        context = _requests_context(request.organization, refusals={pk: refusal})
        return render(request, "credits/org_credits.html#requests", context)
    if refusal:
        messages.error(request, refusal)
    return redirect(reverse("credits:org_credits") + "#requests")


def _requests_context(organization, refusals=None) -> dict:
    pending = selectors.pool_requests(organization_id=organization.pk, shown=REQUESTS_SHOWN)
    for credit_request in pending:
        credit_request.refusal = (refusals or {}).get(credit_request.pk)
    return {"requests": pending}


@login_required
@require_POST
def my_request_withdraw(request, pk: int):
    """R29: a member takes back their request while it waits for an answer."""
    credit_request = own_open_credit_request_or_404(user=request.user, pk=pk)
    try:
        services.credit_request_withdraw(account=request.user, credit_request=credit_request)
    except errors.DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Your request was withdrawn.")
    return redirect("credits:my_credits")


# --- The usage chart ----------------------------------------------------------------------

CHART_W, CHART_H = 900, 220
PAD_L, PAD_R, PAD_T, PAD_B = 48, 8, 12, 28


def _nice_ceiling(value: Decimal) -> Decimal:
    if value <= 0:
        return Decimal("10")
    magnitude = Decimal(10) ** (len(str(int(value))) - 1)
    for step in (1, 2, 2.5, 5, 10):
        ceiling = magnitude * Decimal(str(step))
        if ceiling >= value:
            return ceiling
    return magnitude * 10


def _chart_month(request, now) -> date:
    """The month of the usage chart: `?month=YYYY-MM`, not after this month; else this one."""
    this_month = now.date().replace(day=1)
    try:
        asked = datetime.strptime(request.GET.get("month", ""), "%Y-%m").date()
    except ValueError:
        return this_month
    return min(max(asked, CHART_FIRST_MONTH), this_month)


def axis_label(value: Decimal) -> str:
    """A gridline's figure, short enough for the axis: "500", "2,500", "120k", "2.5M" (the
    exact figures are in the bars' titles and the daily table)."""
    if value >= 1_000_000:
        return f"{value / 1_000_000:.4g}M"
    if value >= 10_000:
        return f"{value / 1_000:.4g}k"
    return f"{value:,.0f}" if value == value.to_integral_value() else f"{value:,.2f}"


def _chart_geometry(data: dict, *, today: date) -> dict:
    """Bars per day of the month as numbers for an SVG drawn by the template."""
    days = data["days"]
    month = data["month"]
    top = _nice_ceiling(max((d["total"] for d in days), default=Decimal(0)))
    plot_w, plot_h = CHART_W - PAD_L - PAD_R, CHART_H - PAD_T - PAD_B
    slot = plot_w / max(len(days), 1)
    bar_w = round(slot * 0.72, 2)
    bars = []
    for n, day in enumerate(days):
        x = round(PAD_L + n * slot + (slot - bar_w) / 2, 2)
        height = round(float(day["total"] / top) * plot_h, 2) if day["total"] > 0 else 0
        bars.append(
            {
                "x": x,
                "y": round(PAD_T + plot_h - height, 2),
                "height": height,
                "title": f"{day['day']:%d %b}: {day['total']:,.2f}",
                "label_x": round(x + bar_w / 2, 2),
                # The 1st, 8th, 15th, 22nd and 29th.
                "label": f"{day['day']:%d %b}" if n % 7 == 0 else "",
            }
        )
    grid = []
    for fraction in ("0", "0.5", "1"):
        y = round(PAD_T + plot_h - plot_h * float(fraction), 2)
        grid.append({"y": y, "label_y": y + 4, "label": axis_label(top * Decimal(fraction))})
    this_month = today.replace(day=1)
    chart = {
        "width": CHART_W,
        "height": CHART_H,
        "bar_width": bar_w,
        "bars": bars,
        "grid": grid,
        "plot_left": PAD_L,
        "label_x": PAD_L - 6,
        "plot_right": CHART_W - PAD_R,
        "axis_y": CHART_H - 8,
        "month": month,
        "is_this_month": month == this_month,
        "previous": f"{month - timedelta(days=1):%Y-%m}" if month > CHART_FIRST_MONTH else "",
        "next": f"{selectors.next_month(month):%Y-%m}" if month < this_month else "",
        "leaders": [
            {"account": account, "total": format_amount(total)}
            for account, total in data["leaders"]
        ],
        "total": format_amount(data["total"]),
        "empty": data["total"] <= 0,
        "days": days,
    }
    chart["bars_html"] = mark_safe("".join(_bar_html(bar, chart) for bar in bars))
    chart.update(_chart_text_html(chart))
    chart["days_html"] = mark_safe("".join(_day_row_html(day) for day in days if day["total"]))
    return chart
