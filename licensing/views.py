"""Pages: My licenses (R14, R16, R31), the organization's licenses (R13, R15), checkouts.

Parse → access check → service → render. The organization pages are for its administrator
only (`org_admin_required`: 404 for anyone else); every seat is fetched through the
organization, so another organization's seat is a 404 too.
"""

from datetime import timedelta
from functools import cache, lru_cache
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.template.defaultfilters import pluralize
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import dateformat, timezone
from django.utils.formats import date_format
from django.utils.html import escape
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import trigger_client_event

from billing.checkout import (
    Review,
    add_form_error,
    checkout_form,
    checkout_render,
    review_or_error,
)
from licensing import selectors, services
from licensing.forms import (
    ApplyForm,
    AssignForm,
    LicensePurchaseForm,
    SeatPurchaseForm,
)
from licensing.models import Product
from licensing.permissions import product_or_404, seat_for_admin_or_404
from licensing.services import TERM_CHOICES, order_total
from organizations.permissions import org_admin_required
from portal import errors
from portal.links import csrf_input, url_maker
from portal.pagination import page_number
from portal.text import money

SEATS_PER_PAGE = 25
ENDED_PER_PAGE = 20
BULK_MEMBERS_PER_PAGE = 25
BULK_WINDOW_AHEAD = 10  # pages counted past the one shown, as `WindowPaginator` counts
MAX_BULK = 100


# --- My licenses ----------------------------------------------------------------------------


@login_required
@require_GET
def my_licenses(request):
    """R31: every account sees its personal licenses and the seats assigned to it, with
    source, kind and expiry; applies for trials and betas (R16); buys licenses (R15)."""
    account = request.user
    context = {
        **selectors.my_licenses(account=account),
        "catalog": selectors.catalog_for_account(account=account),
        "purchase_form": LicensePurchaseForm(),
    }
    return render(request, "licensing/my_licenses.html", context)


@login_required
@require_POST
def apply(request):
    """R16: apply for a trial or a beta; refusals say why (e.g. an organization seat)."""
    form = ApplyForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose an available product and a trial or a beta.")
        return redirect("licensing:my_licenses")
    product, kind = form.cleaned_data["product"], form.cleaned_data["kind"]
    try:
        lic = services.license_apply(account=request.user, product=product, kind=kind)
    except errors.DomainError as exc:
        messages.error(request, exc.message)
    else:
        what = "30-day trial" if kind == "trial" else "beta"
        extra = ""
        if getattr(lic, "trial_credits", None) is not None:
            extra = f" You also received {lic.trial_credits.amount} trial cloud credits."
        messages.success(
            request,
            f"Your {what} of {product.name} has started; it runs until "
            f"{lic.ends_at:%-d %B %Y}.{extra}",
        )
    return redirect("licensing:my_licenses")


@login_required
@require_http_methods(["GET", "POST"])
def personal_checkout(request):
    """R15, R39: a personal license: choose, review, then place a paid order."""
    form = LicensePurchaseForm(request.POST if request.method == "POST" else request.GET or None)
    if request.method == "POST":
        token_form = checkout_form(request, form)
        if form.is_valid() and token_form.is_valid():
            try:
                order = services.license_purchase(
                    actor=request.user,
                    product=form.cleaned_data["product"],
                    term_days=form.cleaned_data["term"],
                    checkout_token=token_form.cleaned_data["checkout_token"],
                )
            except errors.DomainError as exc:
                add_form_error(form, exc)
            else:
                messages.success(
                    request,
                    f"Order #{order.pk} is paid: a {form.cleaned_data['product'].name} license "
                    f"for {TERM_CHOICES[form.cleaned_data['term']]} is now yours. The receipt "
                    "is on its way to your email.",
                )
                return redirect("licensing:my_licenses")
    review = None
    if request.method == "GET" and form.is_bound and form.is_valid():
        review = review_or_error(form, _license_review(request, form.cleaned_data), field="term")
    return checkout_render(
        request,
        form=form,
        review=review,
        heading="Buy a personal license",
        intro="Buy a personal license for your own account.",
        back_url=reverse("licensing:my_licenses"),
        action=reverse("licensing:checkout"),
    )


def _license_review(request, data) -> Review:
    product, term = data["product"], data["term"]
    years = term // 365
    until = timezone.now() + timedelta(days=term)
    return Review(
        title=product.name,
        subtitle=f"Personal license for {request.user.email}",
        rows=[
            ("Price per year", money(product.price, settings.PORTAL_CURRENCY)),
            ("Licenses", "1"),
            ("Term", f"{TERM_CHOICES[term]}, until {date_format(until, 'j M Y')}"),
        ],
        total=order_total(product=product, quantity=1, term_days=term),
        formula=f"{money(product.price, settings.PORTAL_CURRENCY)} × 1 × {years} "
        f"year{pluralize(years)}",
        outcome="gives you the license at once",
        hidden={"product": product.code, "term": str(term)},
        change_url=reverse("licensing:my_licenses"),
    )


# --- Organization licenses ------------------------------------------------------------------


class KnownCountPaginator(Paginator):
    """A paginator given its count when it is already known (from the seat tallies), so
    that a page does not count the seats again; without one it counts as usual."""

    def __init__(self, object_list, per_page, *, count: int | None = None, **kwargs):
        super().__init__(object_list, per_page, **kwargs)
        if count is not None:
            self.count = count  # replaces the cached property's count query


class _ReadPage:
    """A list for a paginator whose page asked for was read already, with its count: a slice
    is that page, or else (a page number past the end) read by `read(offset, limit)`."""

    def __init__(self, offset: int, rows: list, read):
        self.offset, self.rows, self.read = offset, rows, read

    def __getitem__(self, index: slice) -> list:
        start = index.start or 0
        if start == self.offset:
            return self.rows[: index.stop - start]
        return self.read(start, index.stop - start)


def _seat_filters(request) -> dict:
    state = request.GET.get("state", "all")
    return {
        "state": state if state in selectors.SEAT_FILTERS else "all",
        "q": request.GET.get("q", "").strip()[:100],
    }


def _licenses_context(request, partial: str | None = None) -> tuple[str | None, dict]:
    """The part to render and its context: for an htmx `partial`, only what that part shows
    (the product and the addresses always); None and everything for the whole page, which
    is also what a table's part gets when there is no product to show."""
    organization = request.organization
    now = timezone.now()
    # The product whose seats are shown: `?product=CODE`, else the first with seats.
    products = selectors.seat_products_for_org(
        organization=organization, now=now, code=request.GET.get("product", "").strip()[:50]
    )
    summary, product = products.summary, products.selected()
    if product is None and partial != "seat-summary":
        partial = None
    context = {
        "organization": organization,
        "summary": summary,
        "product": product,
        "filters": _seat_filters(request),
    }
    if partial is None:
        context["buy_fields"] = _buy_fields(
            tuple(products.for_sale), product.code if product else None
        )
    if product is None or partial == "seat-summary":
        return partial, context
    row = next((r for r in summary if r["product_id"] == product.pk), None)
    filters = context["filters"]
    base = {"product": product.code}
    seat_params = {**base, **{k: v for k, v in filters.items() if v and v != "all"}}
    bulk_q = request.GET.get("bulk_q", "").strip()[:100]
    context.update(
        row=row,
        bulk_q=bulk_q,
        page_url=reverse("licensing:org_licenses"),
        seat_query=urlencode(seat_params) + "&",
        ended_query=urlencode(base) + "&",
        bulk_query=urlencode({**base, "bulk_q": bulk_q} if bulk_q else base) + "&",
    )
    if partial == "seat-count":
        return partial, context
    if partial in (None, "seat-table"):
        # The seat counts come from the seat tallies the summary already read, not from
        # counting a product's seats again (20,000 at 100,000 seats): every current seat
        # when no filter is set (none without a tally). A filtered table is counted.
        unfiltered = filters["state"] == "all" and not filters["q"]
        seat_page = KnownCountPaginator(
            selectors.seat_rows_for_org(
                organization=organization,
                product=product,
                state=filters["state"],
                query=filters["q"],
                now=now,
            ),
            SEATS_PER_PAGE,
            count=(row["total"] + row["upcoming"] if row else 0) if unfiltered else None,
        ).get_page(request.GET.get("page"))
        context.update(
            seat_page=seat_page,
            seat_rows=_seat_rows_html(seat_page.object_list, product, now, csrf_input(request)),
        )
    if partial in (None, "ended-table"):
        # Every ended seat is counted by the tallies too.
        ended_page = KnownCountPaginator(
            selectors.ended_seat_rows_for_org(organization=organization, product=product, now=now),
            ENDED_PER_PAGE,
            count=row["ended"] if row else 0,
        ).get_page(request.GET.get("ended_page"))
        context.update(ended_page=ended_page, ended_rows=_ended_rows_html(ended_page.object_list))
    if partial in (None, "bulk-members"):
        bulk_page = _bulk_page(request, organization, product, bulk_q, now)
        context.update(bulk_page=bulk_page, bulk_rows=_bulk_rows_html(bulk_page.object_list))
    if partial is None:
        context.update(quick_assign_field=_quick_assign_field(), quick_assign_list=QUICK_LIST)
    return partial, context


def _bulk_page(request, organization, product, query, now):
    """Members without a seat of the product: at 100,000 members, counting them all is an
    anti-join of the whole organization; a window of pages is counted instead (as
    `WindowPaginator` does), in the statement that reads the page."""
    number = page_number(request.GET.get("bulk_page"))
    offset = (number - 1) * BULK_MEMBERS_PER_PAGE
    window = (number + BULK_WINDOW_AHEAD) * BULK_MEMBERS_PER_PAGE + 1

    def read(offset, limit):
        return selectors.members_without_seat(
            organization=organization,
            product=product,
            query=query,
            now=now,
            offset=offset,
            limit=limit,
            window=window,
        )

    seen, rows = read(offset, BULK_MEMBERS_PER_PAGE)
    paginator = KnownCountPaginator(
        _ReadPage(offset, rows, lambda start, limit: read(start, limit)[1]),
        BULK_MEMBERS_PER_PAGE,
        count=seen,
    )
    paginator.capped = seen >= window
    return paginator.get_page(number)


PARTIALS = {
    "seat-summary": "seat-summary",
    # Asked for with hx-select by the count above the seat table: the paragraph alone.
    "seat-count": "seat-count",
    "seat-table": "seat-table",
    "ended-table": "ended-table",
    "bulk-members": "bulk-members",
}


@org_admin_required
@require_GET
def org_licenses(request):
    """Seats by product: totals, the seats with assignee and validity, assign / revoke /
    reassign, bulk assignment, ended seats apart, and buying seats (R13, R15)."""
    partial, context = _licenses_context(
        request, PARTIALS.get(request.htmx.target) if request.htmx else None
    )
    template = "licensing/org_licenses.html"
    return render(request, f"{template}#{partial}" if partial else template, context)


def _back(product: Product | None) -> str:
    url = reverse("licensing:org_licenses")
    return f"{url}?{urlencode({'product': product.code})}" if product else url


@org_admin_required
@require_GET
def member_search(request):
    """Members of THIS organization matching typed text, as <option>s for a datalist."""
    query = request.GET.get("q") or request.GET.get("email") or ""
    members = selectors.members_search(organization=request.organization, query=query[:100])
    return render(request, "licensing/member_options.html", {"members": members})


@org_admin_required
@require_POST
def assign_any(request):
    """Give some free seat of a product to one member (the usual case)."""
    product = product_or_404(code=request.POST.get("product"))
    form = _quick_assign_form(request.POST)
    if form.is_valid():
        try:
            seat = services.seat_assign_any(
                actor=request.user,
                organization=request.organization,
                product=product,
                email=selectors.member_email_for_input(
                    organization=request.organization, text=form.cleaned_data["email"]
                ),
            )
        except errors.DomainError as exc:
            form.add_error("email", exc.message)
        else:
            messages.success(
                request,
                f"Seat #{seat.pk} of {product.name} assigned to {seat.assignee.account.email}.",
            )
            if request.htmx:
                response = render(
                    request,
                    "licensing/org_licenses.html#quick-assign",
                    {
                        "product": product,
                        "quick_assign_field": _quick_assign_field(),
                        "quick_assign_list": QUICK_LIST,
                    },
                )
                # The summary and the seat table both change; which row got the seat is not
                # known to the page, so the table reloads.
                trigger_client_event(response, "seatsChanged")
                return trigger_client_event(response, "seatTableChanged")
            return redirect(_back(product))
    if request.htmx:
        return render(
            request,
            "licensing/org_licenses.html#quick-assign",
            {
                "product": product,
                "quick_assign_field": _field_html(form["email"]),
                "quick_assign_list": QUICK_LIST,
            },
            status=422,
        )
    messages.error(request, "; ".join(form.errors.get("email", ["Enter a member."])))
    return redirect(_back(product))


_SEAT_ROW = (
    '<tr id="seat-{pk}">\n'
    '  <td data-label="Seat">#{pk}</td>\n'
    '  <td data-label="Assigned to">{holder}</td>\n'
    '  <td data-label="Valid" class="seat-valid">{starts} – {ends}</td>\n'
    '  <td data-label="Status">{status}</td>\n'
    '  <td data-label="Actions" class="seat-actions">\n'
    "    {actions}\n"
    "  </td>\n"
    "</tr>\n"
)
_SEAT_ACTIONS = (
    '<div class="actions">\n'
    '      <a class="button button--small button--secondary" href="{assign}" hx-get="{assign}"'
    ' hx-target="#seat-{pk}" hx-swap="outerHTML">{verb}<span class="sr-only"> seat #{pk}</span>'
    "</a>\n"
    "      {revoke}\n"
    "    </div>"
)
_SEAT_REVOKE = (
    '<form method="post" action="{url}" hx-post="{url}" hx-target="#seat-{pk}"'
    ' hx-swap="outerHTML"\n'
    '            hx-confirm="Revoke seat #{pk} from {email}? They can no longer use {product}'
    ' through the organization.">\n'
    '        {csrf}<button type="submit" class="button button--small button--danger">Revoke'
    '<span class="sr-only"> seat #{pk}</span></button>\n'
    "      </form>"
)


class _Days:
    """What `|date:pattern` writes, in the current time zone and escaped, for the rows of one
    page: each moment written once (the seats of one order share their dates)."""

    def __init__(self):
        self.written = {}

    def __call__(self, moment, pattern: str = "j M Y") -> str:
        if not moment:
            return ""
        key = (moment, pattern)
        text = self.written.get(key)
        if text is None:
            text = dateformat.format(timezone.localtime(moment), pattern)
            text = self.written[key] = escape(text)
        return text


# The rows below are written with str.format from values escaped here (names, emails, dates,
# links) or known to be markup: format_html's escaping of every value, 150 times a page, cost
# more than the rest of the rows.
_HOLDER = '<span class="seat-holder"><strong>{}</strong> <span class="muted small">{}</span></span>'
_FREE = '<span class="badge badge--ok">Free</span>'
_STARTS = '<span class="badge badge--accent">Starts {}</span>'
_ASSIGNABLE_FROM = '<span class="muted small">Assignable from {}</span>'
_EXPIRES_SOON = '<span class="badge badge--warn">Expires soon</span>'
_ACTIVE = '<span class="badge">Active</span>'


def _seat_rows_html(seats, product, now, csrf: str) -> str:
    """The seat table's rows (`selectors.SeatRow`s) as the `seat-row` partial renders them
    (not editing), written out because the table has 25 of them: through the template they
    were half the page's rendering. tests/licensing/test_views.py compares the two."""
    day = _Days()
    assign, revoke = url_maker("licensing:seat_assign"), url_maker("licensing:seat_revoke")
    soon = now + timedelta(days=selectors.EXPIRING_SOON_DAYS)
    product_name = escape(product.name)
    rows = []
    for seat in seats:
        email = escape(seat.email) if seat.assignee_id else ""
        holder = _HOLDER.format(escape(seat.name or seat.email), email) if email else _FREE
        if seat.starts_at > now:  # not yet valid
            status = _STARTS.format(day(seat.starts_at, "j M"))
            actions = _ASSIGNABLE_FROM.format(day(seat.starts_at))
        else:
            status = _EXPIRES_SOON if seat.ends_at and seat.ends_at <= soon else _ACTIVE
            revoke_form = ""
            if email:
                revoke_form = _SEAT_REVOKE.format(
                    url=escape(revoke(seat.pk)),
                    pk=seat.pk,
                    email=email,
                    product=product_name,
                    csrf=csrf,
                )
            actions = _SEAT_ACTIONS.format(
                assign=escape(assign(seat.pk)),
                pk=seat.pk,
                verb="Reassign" if email else "Assign",
                revoke=revoke_form,
            )
        rows.append(
            _SEAT_ROW.format(
                pk=seat.pk,
                holder=holder,
                starts=day(seat.starts_at),
                ends=day(seat.ends_at) or "perpetual",
                status=status,
                actions=actions,
            )
        )
    return mark_safe("".join(rows))


_ENDED_ROW = (
    "\n          <tr>\n"
    '            <td data-label="Seat">#{pk}</td>\n'
    '            <td data-label="Valid">{starts} – {ends}</td>\n'
    '            <td data-label="Status">{status}</td>\n'
    "          </tr>\n          "
)
_CANCELLED = '<span class="badge badge--bad">Cancelled {}</span>'
_EXPIRED = '<span class="badge">Expired</span>'


def _ended_rows_html(seats) -> str:
    """The ended seats' rows (`selectors.EndedSeatRow`) as the `ended-row` partial renders
    them, written out once per page like the current seats' rows: cancelled with its date, or
    expired. tests/licensing/test_views.py compares the two."""
    day = _Days()
    return mark_safe(
        "".join(
            _ENDED_ROW.format(
                pk=seat.pk,
                starts=day(seat.starts_at),
                ends=day(seat.ends_at) or "no end",
                status=_CANCELLED.format(day(seat.cancelled_at)) if seat.cancelled_at else _EXPIRED,
            )
            for seat in seats
        )
    )


_BULK_ROW = (
    "\n            <tr>\n"
    '              <td class="check"><input type="checkbox" name="members" value="{pk}"'
    ' id="bulk-{pk}"></td>\n'
    '              <td><label for="bulk-{pk}"><strong>{name}</strong>'
    ' <span class="muted small">{email}</span></label></td>\n'
    "            </tr>\n            "
)


def _bulk_rows_html(members) -> str:
    """The rows of members without a seat (`selectors.MemberRow`), one checkbox each, as the
    `bulk-row` partial renders them. tests/licensing/test_views.py compares the two."""
    return mark_safe(
        "".join(
            _BULK_ROW.format(
                pk=member.pk, name=escape(member.display_name), email=escape(member.email)
            )
            for member in members
        )
    )


def _seat_links(seat):
    """A seat (model) ready for the `seat-row` partial: its state and its action links."""
    selectors.annotate_seat_states([seat])
    seat.assign_url = reverse("licensing:seat_assign", args=[seat.pk])
    seat.revoke_url = reverse("licensing:seat_revoke", args=[seat.pk])
    seat.row_url = reverse("licensing:seat_row", args=[seat.pk])
    return seat


QUICK_LIST = "quick-members"


def _quick_assign_form(data=None) -> AssignForm:
    return AssignForm(data, auto_id="quick_%s", datalist_id=QUICK_LIST, label="Give a free seat to")


def _field_html(bound_field) -> str:
    """What `{% include "components/field.html" %}` writes for one field."""
    return render_to_string("components/field.html", {"field": bound_field})


@cache
def _quick_assign_field() -> str:
    """The empty "Give a free seat to" field, the same for every page: written once per
    process."""
    return _field_html(_quick_assign_form()["email"])


@lru_cache(maxsize=64)
def _buy_fields(for_sale: tuple[tuple[str, str], ...], selected: str | None) -> str:
    """The buy form's fields for these products for sale, (code, name), with `selected`
    chosen: the form holds nothing of the request, so it is written once per process for
    each list of products and choice."""
    form = SeatPurchaseForm(initial={"product": selected})
    field = form.fields["product"]
    field.choices = [("", field.empty_label), *for_sale]
    return render_to_string("licensing/org_licenses.html#buy-fields", {"buy_form": form})


def _row_response(request, seat, *, form=None, editing=False, status=200, changed=False):
    _seat_links(seat)
    response = render(
        request,
        "licensing/org_licenses.html#seat-row",
        {
            "seat": seat,
            "form": form
            or AssignForm(auto_id=f"seat{seat.pk}_%s", datalist_id=f"members-{seat.pk}"),
            "editing": editing,
        },
        status=status,
    )
    return trigger_client_event(response, "seatsChanged") if changed else response


@org_admin_required
@require_GET
def seat_row(request, seat_id: int):
    """One seat's row (htmx "Cancel" of an inline form); a full page falls back to the list."""
    seat = seat_for_admin_or_404(user=request.user, pk=seat_id)
    if not request.htmx:
        return redirect(_back(seat.product))
    return _row_response(request, seat)


@org_admin_required
@require_http_methods(["GET", "POST"])
def seat_assign(request, seat_id: int):
    """Assign a free seat, or move an assigned one to another member (R13)."""
    seat = seat_for_admin_or_404(user=request.user, pk=seat_id)
    form = AssignForm(
        request.POST or None, auto_id=f"seat{seat.pk}_%s", datalist_id=f"members-{seat.pk}"
    )
    if request.method == "POST" and form.is_valid():
        previous = seat.assignee.account.email if seat.assignee_id else None
        try:
            seat = services.seat_assign(
                actor=request.user,
                organization=request.organization,
                seat_id=seat.pk,
                email=selectors.member_email_for_input(
                    organization=request.organization, text=form.cleaned_data["email"]
                ),
                allow_reassign=True,
            )
        except errors.DomainError as exc:
            form.add_error("email", exc.message)
        else:
            seat = seat_for_admin_or_404(user=request.user, pk=seat.pk)
            email = seat.assignee.account.email
            if previous and previous != email:
                messages.success(request, f"Seat #{seat.pk} moved from {previous} to {email}.")
            else:
                messages.success(request, f"Seat #{seat.pk} assigned to {email}.")
            if request.htmx:
                return _row_response(request, seat, changed=True)
            return redirect(_back(seat.product))
    if request.htmx:
        status = 422 if form.errors else 200
        return _row_response(request, seat, form=form, editing=True, status=status)
    selectors.annotate_seat_states([seat])
    return render(
        request,
        "licensing/seat_assign.html",
        {"organization": request.organization, "seat": seat, "form": form},
        status=422 if form.errors else 200,
    )


@org_admin_required
@require_POST
def seat_revoke(request, seat_id: int):
    seat = seat_for_admin_or_404(user=request.user, pk=seat_id)
    email = seat.assignee.account.email if seat.assignee_id else None
    services.seat_revoke(actor=request.user, organization=request.organization, seat_id=seat.pk)
    if email:
        messages.success(request, f"Seat #{seat.pk} revoked from {email}; it is free again.")
    if request.htmx:
        return _row_response(
            request, seat_for_admin_or_404(user=request.user, pk=seat.pk), changed=True
        )
    return redirect(_back(seat.product))


@org_admin_required
@require_POST
def bulk_assign(request):
    """One seat of a product to each selected member while free seats last; the report
    names who got none and why."""
    product = product_or_404(code=request.POST.get("product"))
    try:
        ids = [int(v) for v in request.POST.getlist("members")][:MAX_BULK]
    except ValueError:
        ids = []
    if not ids:
        messages.error(request, "Select at least one member.")
        return redirect(_back(product) + "#bulk")
    report = services.seats_bulk_assign(
        actor=request.user, organization=request.organization, product=product, membership_ids=ids
    )
    if report.assigned:
        messages.success(
            request,
            f"{len(report.assigned)} {product.name} seat{'s' if len(report.assigned) != 1 else ''} "
            f"assigned: {', '.join(report.assigned)}.",
        )
    for email, reason in report.refused:
        messages.error(request, f"No seat for {email}: {reason}.")
    return redirect(_back(product) + "#bulk")


@org_admin_required
@require_http_methods(["GET", "POST"])
def org_checkout(request):
    """R15, R39: seats for the organization: choose, review, then record a paid order."""
    form = SeatPurchaseForm(request.POST if request.method == "POST" else request.GET or None)
    if request.method == "POST":
        token_form = checkout_form(request, form)
        if form.is_valid() and token_form.is_valid():
            data = form.cleaned_data
            try:
                order = services.seats_purchase(
                    actor=request.user,
                    organization=request.organization,
                    product=data["product"],
                    quantity=data["quantity"],
                    term_days=data["term"],
                    checkout_token=token_form.cleaned_data["checkout_token"],
                )
            except errors.DomainError as exc:
                add_form_error(form, exc)
            else:
                messages.success(
                    request,
                    f"Order #{order.pk} is paid: {data['quantity']} {data['product'].name} "
                    f"seat{'s' if data['quantity'] != 1 else ''} added, unassigned. The "
                    "receipt is on its way to your email.",
                )
                return redirect(_back(data["product"]))
    review = None
    if request.method == "GET" and form.is_bound and form.is_valid():
        review = review_or_error(
            form, _seats_review(request.organization, form.cleaned_data), field="quantity"
        )
    return checkout_render(
        request,
        form=form,
        review=review,
        heading="Buy seats",
        back_url=reverse("licensing:org_licenses"),
        action=reverse("licensing:org_checkout"),
        organization=request.organization,
    )


def _seats_review(organization, data) -> Review:
    product, quantity, term = data["product"], data["quantity"], data["term"]
    years = term // 365
    until = timezone.now() + timedelta(days=term)
    price = money(product.price, settings.PORTAL_CURRENCY)
    return Review(
        title=product.name,
        subtitle=f"Organization seats for {organization.name}, delivered unassigned",
        rows=[
            ("Price per seat per year", price),
            ("Seats", f"{quantity:,}"),
            ("Term", f"{TERM_CHOICES[term]}, until {date_format(until, 'j M Y')}"),
        ],
        total=order_total(product=product, quantity=quantity, term_days=term),
        formula=f"{price} × {quantity:,} seat{pluralize(quantity)} × {years} "
        f"year{pluralize(years)}",
        outcome="adds the seats (unassigned)",
        hidden={"product": product.code, "quantity": str(quantity), "term": str(term)},
        change_url=_back(product),
    )
