"""The Users page of the Organization tab: find, add, invite, import, remove (R6–R10).

Each view: parse → access check (`org_admin_required`, objects fetched scoped to the
organization: 404 for "missing" and "not yours" alike) → service → render. htmx requests get
the page's fragment; every action also works as a plain form post or link.
"""

from datetime import timedelta
from functools import cache
from html import escape

from django.contrib import messages
from django.core.files.uploadhandler import FileUploadHandler, SkipFile
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import timesince_filter
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import dateformat, timezone
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.safestring import mark_safe
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import trigger_client_event

from console import activity
from console import selectors as console_selectors
from organizations import selectors, services
from organizations.forms import MemberAddForm, MemberImportForm
from organizations.permissions import (
    invitation_for_admin_or_404,
    membership_for_admin_or_404,
    org_admin_required,
)
from portal import errors
from portal.links import csrf_input, url_maker

USERS = "organizations/users.html"
# The list's orders as the phone's "Sort by" names them (the table's headers do it on wider
# screens).
SORT_LABELS = {
    "name": ("Name, A to Z", "Name, Z to A"),
    "email": ("Email, A to Z", "Email, Z to A"),
    "role": ("Administrator first", "Administrator last"),
    "status": ("Invitations first", "Members first"),
    "since": ("Oldest first", "Newest first"),
    "credit": ("Credit access", "Credit access, reversed"),
}
ORDERS = [
    (prefix + key, labels[descending])
    for key, labels in SORT_LABELS.items()
    for descending, prefix in ((0, ""), (1, "-"))
]


def _list_params(request) -> dict:
    """The list's state from the query string, cleaned to known values."""
    sort = request.GET.get("sort", "name")
    if sort not in console_selectors.MEMBER_SORTS:
        sort = "name"
    try:
        per_page = int(request.GET.get("per_page", console_selectors.MEMBER_DEFAULT_PAGE_SIZE))
    except ValueError:
        per_page = console_selectors.MEMBER_DEFAULT_PAGE_SIZE
    if per_page not in console_selectors.MEMBER_PAGE_SIZES:
        per_page = console_selectors.MEMBER_DEFAULT_PAGE_SIZE
    show = request.GET.get("show", "")
    # The phone's "Sort by" list sends both at once ("name", "-since"); it follows every swap,
    # so when present it is the list's current order.
    order = request.GET.get("order", "")
    if order.lstrip("-") in console_selectors.MEMBER_SORTS:
        sort = order.lstrip("-")
        request_dir = "desc" if order.startswith("-") else "asc"
    else:
        request_dir = "desc" if request.GET.get("dir") == "desc" else "asc"
    return {
        "q": request.GET.get("q", "").strip()[:100],
        "show": show if show in console_selectors.MEMBER_SHOWS else "",
        "sort": sort,
        "dir": request_dir,
        "per_page": per_page,
    }


def _list_position(request, params: dict) -> dict:
    """Where in the list the page starts: after or before a row (a token naming its place in
    the current order), or the last page; anything else, garbage included, is the first page.
    """
    after = request.GET.get("after", "")
    before = request.GET.get("before", "")
    sort = params["sort"]
    if after:
        cursor = console_selectors.member_cursor_parse(token=after, sort=sort)
        if cursor is not None:
            return {"after": cursor}
    elif before:
        cursor = console_selectors.member_cursor_parse(token=before, sort=sort)
        if cursor is not None:
            return {"before": cursor}
    elif request.GET.get("page") == "last":
        return {"last": True}
    return {}


def _list_context(request, params: dict | None = None) -> dict:
    organization = request.organization
    params = params or _list_params(request)
    rows = console_selectors.member_rows_for_org(
        organization=organization,
        query=params["q"],
        sort=params["sort"],
        desc=params["dir"] == "desc",
        show=params["show"],
    )
    position = _list_position(request, params)
    page = rows.page(size=params["per_page"], **position)
    # A list that fits on one page is counted by its rows: a search then reads its matches
    # once, not a second time to count them.
    count = rows.count() if page.has_previous or page.has_next else len(page.rows)
    base = {k: v for k, v in params.items() if v and k != "page"}
    users_url = reverse("organizations:users")
    list_url = users_url + "?" + urlencode(base)
    sort_headers = {}
    for key in console_selectors.MEMBER_SORTS:
        active = params["sort"] == key
        direction = "desc" if active and params["dir"] == "asc" else "asc"
        sort_headers[key] = {
            "url": users_url + "?" + urlencode({**base, "sort": key, "dir": direction}),
            "aria_sort": ("descending" if params["dir"] == "desc" else "ascending")
            if active
            else "",
        }
    # The page's own place, so that an action on one of its rows answers with the same page.
    if "after" in position:
        here = {"after": request.GET["after"]}
    elif "before" in position:
        here = {"before": request.GET["before"]}
    elif "last" in position:
        here = {"page": "last"}
    else:
        here = {}
    links = {}
    if page.has_previous:
        links["first"] = list_url
        links["previous"] = f"{list_url}&{urlencode({'before': page.first_token})}"
    if page.has_next:
        links["next"] = f"{list_url}&{urlencode({'after': page.last_token})}"
        links["last"] = f"{list_url}&page=last"
    loaded = console_selectors.member_page_load(page.rows)
    here_query = urlencode({**base, **here})
    _add_row_urls(loaded, query=here_query)
    just_now = timezone.now() - timedelta(minutes=1)
    _add_row_html(loaded, csrf=csrf_input(request), just_now=just_now)
    return {
        "organization": organization,
        "page": page,
        "count": count,
        "shown_from": page.start,
        "shown_to": page.start + len(page.rows) - 1 if page.start else None,
        "links": links,
        "rows": loaded,
        "just_now": just_now,
        "params": params,
        "page_sizes": console_selectors.MEMBER_PAGE_SIZES,
        "sort_headers": sort_headers,
        "orders": ORDERS,
        "order": ("-" if params["dir"] == "desc" else "") + params["sort"],
        "here_query": here_query,
        "list_url": list_url,
        "here_url": users_url + "?" + here_query,
    }


def _add_row_urls(rows: list[dict], *, query: str) -> None:
    detail = url_maker("organizations:member_detail")
    remove = url_maker("organizations:member_remove")
    resend = url_maker("organizations:invitation_resend")
    cancel = url_maker("organizations:invitation_cancel")
    for row in rows:
        if row["kind"] == "member":
            pk = row["membership"].pk
            row["detail_url"], row["remove_url"] = detail(pk), remove(pk)
        else:
            pk = row["invitation"].pk
            # The list's state travels along so that the answer is the same list.
            row["resend_url"], row["cancel_url"] = f"{resend(pk)}?{query}", f"{cancel(pk)}?{query}"


# The `member-row` and `invitation-row` partials of users.html, written out once per page
# because a page has up to 100 of them: through the template they were most of the page's
# rendering. tests/organizations/test_member_list_pages.py compares the two.
_MEMBER_ROW = (
    "<tr>\n"
    '  <td data-label="Select" class="members-table__check">{check}</td>\n'
    '  <td data-label="Name"><span><a href="{detail}">{name}</a>{admin}</span></td>\n'
    '  <td data-label="Email" class="members-table__email">{email}</td>\n'
    '  <td data-label="Status"><span><span class="badge badge--ok">Member</span>'
    ' <span class="muted small nowrap">since {since}</span></span></td>\n'
    '  <td data-label="Products"><span>{seats}</span></td>\n'
    '  <td data-label="Credit access"><span>{access}</span></td>\n'
    '  <td data-label="Actions"><div class="members-table__actions">\n'
    '    <a href="{detail}" class="button button--small button--secondary">Details</a>\n'
    "    {remove}\n"
    "  </div></td>\n"
    "</tr>\n"
)
_INVITATION_ROW = (
    '<tr class="members-table__invited">\n'
    '  <td data-label="Select" class="members-table__check"><input type="checkbox"'
    ' name="invitations" value="{pk}" form="bulk-form"'
    ' aria-label="Select the invitation of {email}"></td>\n'
    '  <td data-label="Name"><span class="muted">—</span></td>\n'
    '  <td data-label="Email" class="members-table__email">{email}</td>\n'
    '  <td data-label="Status"><span>{status}</span></td>\n'
    '  <td data-label="Products"><span class="muted">—</span></td>\n'
    '  <td data-label="Credit access"><span class="muted">after joining</span></td>\n'
    '  <td data-label="Actions"><div class="members-table__actions">\n'
    '    <form method="post" action="{resend}" hx-post="{resend}" hx-target="#member-table"'
    ' hx-swap="outerHTML">\n'
    '      {csrf}<button type="submit" class="button button--small button--secondary"'
    ' aria-label="Resend the invitation to {email}">Resend</button>\n'
    "    </form>\n"
    '    <form method="post" action="{cancel}" hx-post="{cancel}" hx-target="#member-table"'
    ' hx-swap="outerHTML" hx-confirm="Cancel the invitation of {email}? The link in their'
    ' email stops working.">\n'
    '      {csrf}<button type="submit" class="button button--small button--danger"'
    ' aria-label="Cancel the invitation of {email}">Cancel</button>\n'
    "    </form>\n"
    "  </div></td>\n"
    "</tr>\n"
)
_NO_SEAT = '<span class="muted">—</span>'
_ADMIN_BADGE = ' <span class="badge badge--accent">Administrator</span>'


def _amount(value) -> str:
    """What `|floatformat:"2g"` writes of an amount in cents (the tests compare the two)."""
    return f"{value:,.2f}"


def _access_html(access, used) -> str:
    mode = access.mode if access is not None else None
    if mode == "quota":
        return (
            '<span class="badge badge--accent">Quota</span> <span class="small">'
            f"{_amount(used)} of {_amount(access.limit)}"
            f"{' this month' if access.period == 'monthly' else ' in all'}</span>"
        )
    if mode == "unlimited":
        return (
            '<span class="badge badge--ok">Unlimited</span>'
            f' <span class="small">{_amount(used)} used</span>'
        )
    if used:
        return (
            '<span class="badge">Disabled</span>'
            f' <span class="small muted">{_amount(used)} used</span>'
        )
    return '<span class="badge">Disabled</span>'


def _member_row_html(row: dict, since) -> str:
    """One member's row. Plain string work with every value escaped: a page writes up to a
    hundred of them, where format_html's checks per value were a tenth of the page."""
    membership = row["membership"]
    account = membership.account
    email = escape(account.email)
    admin = membership.is_admin
    seats = "".join(
        f'<span class="badge" title="{escape(seat.code)}">{escape(seat.name)}</span> '
        for seat in row["seats"]
    )
    return _MEMBER_ROW.format(
        check=""
        if admin
        else f'<input type="checkbox" name="selected" value="{membership.pk}" form="bulk-form"'
        f' aria-label="Select {email}">',
        detail=escape(row["detail_url"]),
        name=escape(account.name or "—"),
        admin=_ADMIN_BADGE if admin else "",
        email=email,
        since=since(membership.created_at),
        seats=seats or _NO_SEAT,
        access=_access_html(row["access"], row["used"]),
        remove=""
        if admin
        else '<a href="{}" class="button button--small button--danger">Remove</a>'.format(
            escape(row["remove_url"])
        ),
    )


def _invitation_row_html(row: dict, *, csrf: str, just_now) -> str:
    invitation = row["invitation"]
    sent = invitation.sent_at
    if invitation.is_expired:
        status = format_html(
            '<span class="badge badge--bad">Invitation expired</span>'
            ' <span class="muted small nowrap">sent {} ago</span>',
            timesince_filter(sent),
        )
    else:
        status = format_html(
            '<span class="badge badge--warn">Invited</span>'
            ' <span class="muted small nowrap">{}</span>',
            "just now" if sent >= just_now else f"{timesince_filter(sent)} ago",
        )
    return format_html(
        _INVITATION_ROW,
        pk=invitation.pk,
        email=invitation.email,
        status=status,
        resend=row["resend_url"],
        cancel=row["cancel_url"],
        csrf=csrf,
    )


def _add_row_html(rows: list[dict], *, csrf: str, just_now) -> None:
    """Each row's markup as `row["html"]`, as the row partials of users.html render it."""
    dates = {}

    def since(moment) -> str:
        # |date:"j M Y" in the current time zone, once per day shown.
        day = timezone.localtime(moment).date()
        if day not in dates:
            dates[day] = dateformat.format(day, "j M Y")
        return dates[day]

    for row in rows:
        if row["kind"] == "member":
            row["html"] = mark_safe(_member_row_html(row, since))
        else:
            row["html"] = _invitation_row_html(row, csrf=csrf, just_now=just_now)


@org_admin_required
@require_GET
def users(request):
    """R10: members and pending invitations, searchable, sortable, paginated."""
    context = _list_context(request)
    if request.htmx and request.htmx.target == "member-table":
        return render(request, f"{USERS}#member-table", context)
    context["add_form"] = MemberAddForm()
    context["add_field"] = _empty_add_field()
    return render(request, USERS, context)


@cache
def _empty_add_field() -> str:
    """The add form's email field while empty: the same for everyone (no token, nothing per
    user or organization), so rendered once per process instead of through the form renderer
    on every page. The form's CSRF token stays outside it; a form with errors is rendered as
    before."""
    return render_to_string("components/field.html", {"field": MemberAddForm()["email"]})


@org_admin_required
@require_http_methods(["GET", "POST"])
def member_add(request):
    """R6: add one user by email; field-level errors next to the email."""
    form = MemberAddForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            result = services.member_add(
                actor=request.user,
                organization=request.organization,
                email=form.cleaned_data["email"],
            )
        except errors.DomainError as exc:
            form.add_error("email" if exc.field in (None, "email") else None, exc.message)
        else:
            if result.status == "member":
                messages.success(request, f"{result.email} was added and notified by email.")
            else:
                messages.success(
                    request,
                    f"{result.email} has no account yet: an invitation was emailed to them.",
                )
            if request.htmx:
                response = render(request, f"{USERS}#add-form", {"add_form": MemberAddForm()})
                return trigger_client_event(response, "membersChanged")
            return redirect("organizations:users")
    status = 422 if request.method == "POST" else 200
    if request.htmx:
        return render(request, f"{USERS}#add-form", {"add_form": form}, status=status)
    context = _list_context(request)
    context["add_form"] = form
    return render(request, USERS, context, status=status)


@org_admin_required
@require_GET
def member_detail(request, pk: int):
    """A member's seats, credit access and recent activity."""
    membership = membership_for_admin_or_404(user=request.user, pk=pk)
    context = {
        "organization": request.organization,
        **console_selectors.member_detail(membership=membership),
    }
    context["events"] = activity.lines_for(context["events"])
    activity_url = reverse("organizations:activity")
    context["activity_url"] = f"{activity_url}?{urlencode({'person': membership.account.email})}"
    return render(request, "organizations/member_detail.html", context)


def _selected_ids(request) -> list[int]:
    ids = []
    for value in request.POST.getlist("selected")[:1000]:
        if value.isdigit():
            ids.append(int(value))
    return ids


@org_admin_required
@require_http_methods(["GET", "POST"])
def member_remove(request, pk: int):
    """R9: confirm (GET) what will be revoked, then remove (POST)."""
    membership = membership_for_admin_or_404(user=request.user, pk=pk)
    if request.method == "POST":
        return _remove(request, [membership])
    memberships = console_selectors.memberships_for_removal(
        organization=request.organization, ids=[membership.pk]
    )
    return _confirm(request, memberships, action=reverse("organizations:member_remove", args=[pk]))


@org_admin_required
@require_POST
def members_bulk_remove(request):
    """R9 for the rows ticked in the list: a confirmation page first, then the removal."""
    memberships = console_selectors.memberships_for_removal(
        organization=request.organization, ids=_selected_ids(request)
    )
    if not memberships:
        messages.error(request, "Select at least one member to remove.")
        return redirect("organizations:users")
    if request.POST.get("confirm") == "yes":
        return _remove(request, memberships)
    return _confirm(request, memberships, action=reverse("organizations:members_bulk_remove"))


def _confirm(request, memberships, *, action: str):
    context = {
        "organization": request.organization,
        "memberships": memberships,
        "includes_admin": any(m.is_admin for m in memberships),
        "action": action,
        "bulk": action == reverse("organizations:members_bulk_remove"),
    }
    return render(request, "organizations/member_remove.html", context)


def _remove(request, memberships):
    try:
        if len(memberships) == 1:
            services.member_remove(actor=request.user, membership=memberships[0])
        else:
            services.members_remove(
                actor=request.user, organization=request.organization, memberships=memberships
            )
    except errors.DomainError as exc:
        messages.error(request, exc.message)
        if request.htmx:
            return HttpResponse(status=204)
        return redirect("organizations:users")
    if len(memberships) == 1:
        messages.success(request, f"{memberships[0].account.email} was removed.")
    else:
        messages.success(request, f"{len(memberships)} members were removed.")
    return redirect("organizations:users")


def _after_list_action(request):
    """htmx: the refreshed table (the forms carry the list's query string); else the list."""
    if request.htmx:
        return render(request, f"{USERS}#member-table", _list_context(request))
    query = request.META.get("QUERY_STRING", "")
    return redirect(reverse("organizations:users") + (f"?{query}" if query else ""))


@org_admin_required
@require_POST
def invitation_resend(request, pk: int):
    """R6: a new link and a new expiry."""
    invitation = invitation_for_admin_or_404(user=request.user, pk=pk)
    try:
        services.invitation_resend(actor=request.user, invitation=invitation)
    except errors.DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"A new invitation was sent to {invitation.email}.")
    return _after_list_action(request)


@org_admin_required
@require_POST
def invitation_cancel(request, pk: int):
    """R6: the link stops working."""
    invitation = invitation_for_admin_or_404(user=request.user, pk=pk)
    try:
        services.invitation_cancel(actor=request.user, invitation=invitation)
    except errors.DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"The invitation of {invitation.email} was cancelled.")
    return _after_list_action(request)


BULK_INVITATION_ACTIONS = {
    "resend": (services.invitations_resend, "{n} invitation{s} sent again."),
    "cancel": (services.invitations_cancel, "{n} invitation{s} cancelled."),
}


@org_admin_required
@require_POST
def invitations_bulk(request):
    """R6 for the ticked invitations: send them again, or cancel them."""
    action = BULK_INVITATION_ACTIONS.get(request.POST.get("action", ""))
    ids = [int(v) for v in request.POST.getlist("invitations")[:1000] if v.isdigit()]
    if action is None:
        messages.error(request, "Choose whether to resend or cancel the invitations.")
    elif not ids:
        messages.error(request, "Tick the invitations first.")
    else:
        service, done = action
        n = service(actor=request.user, organization=request.organization, invitation_ids=ids)
        messages.success(request, done.format(n=n, s="" if n == 1 else "s"))
    return _after_list_action(request)


# --- Bulk add by CSV (R7) -------------------------------------------------------------------


class CsvSizeLimitHandler(FileUploadHandler):
    """Stops storing an upload once it passes the CSV limit (rules.md "Security": uploads bounded).

    The rest of the request is read and dropped rather than kept in memory or on disk; the view
    then says the file is too large.
    """

    def receive_data_chunk(self, raw_data, start):
        if start + len(raw_data) > services.CSV_MAX_BYTES:
            self.request.csv_upload_too_large = True
            raise SkipFile()
        return raw_data

    def file_complete(self, file_size):
        return None


@csrf_exempt
@org_admin_required
@require_http_methods(["GET", "POST"])
def member_import(request):
    """R7: upload; a malformed file is refused with the reason and changes nothing.

    The size limit must be in place before the body is parsed, hence the CSRF check inside
    (Django's documented pattern for changing upload handlers).
    """
    request.upload_handlers.insert(0, CsvSizeLimitHandler(request))
    return _member_import(request)


@csrf_protect
def _member_import(request):
    too_large = "The file is larger than 1 MiB. Split it into smaller files."
    form = MemberImportForm(*((request.POST, request.FILES) if request.method == "POST" else ()))
    status = 200
    if request.method == "POST":
        status = 422
        if getattr(request, "csv_upload_too_large", False):
            # The file was dropped while it arrived; say why instead of "choose a file".
            form.is_valid()
            form.errors["file"] = form.error_class([too_large])
        elif form.is_valid():
            upload = form.cleaned_data["file"]
            if upload.size > services.CSV_MAX_BYTES:
                form.add_error("file", too_large)
            else:
                try:
                    rows = services.member_import_preview(
                        organization=request.organization,
                        data=upload.read(services.CSV_MAX_BYTES + 1),
                    )
                except services.CsvInvalid as exc:
                    form.add_error("file", exc.message)
                else:
                    return _import_preview(request, rows=rows, filename=upload.name)
    context = {
        "organization": request.organization,
        "form": form,
        "imports": selectors.member_imports_for_org(organization=request.organization)[:10],
        "max_rows": services.CSV_MAX_ROWS,
    }
    return render(request, "organizations/csv_import.html", context, status=status)


def _import_preview(request, *, rows: list[dict], filename: str):
    """R7: what the file will do, row by row, before anything changes."""
    counts = {status: sum(1 for r in rows if r["status"] == status) for status in STATUSES}
    context = {
        "organization": request.organization,
        "rows": rows,
        "counts": counts,
        "filename": filename,
        "emails": "\n".join(r["email"] for r in rows if r["status"] != "skip"),
    }
    return render(request, "organizations/csv_preview.html", context)


STATUSES = ("add", "invite", "skip")


@org_admin_required
@require_POST
def member_import_apply(request):
    """R7: apply the previewed file's valid rows, each as a single add would, in a background
    job; the answer is at once the import's page, which shows the progress."""
    emails = request.POST.get("emails", "").replace("\x00", "").splitlines()
    emails = [email for email in emails if email.strip()][: services.CSV_MAX_ROWS]
    if not emails:
        messages.error(request, "There was nobody to add. Upload the file again.")
        return redirect("organizations:member_import")
    report = services.member_import(
        actor=request.user,
        organization=request.organization,
        emails=emails,
        filename=request.POST.get("filename", "")[:255],
    )
    # A background job applies the rows (R45); the report's page shows its progress.
    return redirect(report)


@org_admin_required
@require_GET
def member_import_template(request):
    """The downloadable CSV template (R7)."""
    response = HttpResponse(
        "email\nfirst.user@example.com\nsecond.user@example.com\n",
        content_type="text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = 'attachment; filename="users-template.csv"'
    return response


def _member_import_or_404(request, pk: int):
    report = (
        selectors.member_imports_for_org(organization=request.organization).filter(pk=pk).first()
    )
    if report is None:
        raise Http404("No such import.")
    return report


@org_admin_required
@require_GET
def member_import_report(request, pk: int):
    """A kept per-row report of an earlier import (R7); while its job runs, the progress."""
    report = _member_import_or_404(request, pk)
    status = request.GET.get("status", "")
    rows = [r for r in report.rows if not status or r.get("status") == status]
    context = {
        "organization": request.organization,
        "report": report,
        "rows": rows,
        "status": status,
    }
    return render(request, "organizations/csv_report.html", context)


@org_admin_required
@require_GET
def member_import_progress(request, pk: int):
    """The report page's part that htmx polls while the import runs: the progress bar, then
    (no longer polling) the report once the job is done."""
    report = _member_import_or_404(request, pk)
    context = {"organization": request.organization, "report": report, "rows": report.rows}
    return render(request, "organizations/csv_import_status.html", context)
