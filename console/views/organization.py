"""The organization's overview (members, seats, the pool, recent activity) and its activity
feed."""

from django.shortcuts import render

from console import selectors as console_selectors
from console.activity import lines_for
from console.forms import ActivityFilterForm
from credits.selectors import pool_available
from licensing.selectors import seat_summary_for_org
from organizations.permissions import org_admin_required
from portal.pagination import WindowPaginator


@org_admin_required
def overview(request):
    """Members, seats used/total per product, pool, recent activity (rules.md "Pages")."""
    organization = request.organization
    seats = seat_summary_for_org(organization=organization)
    counts = console_selectors.member_counts(organization=organization)
    context = {
        "organization": organization,
        # From the member tallies: a few rows whatever the organization's size.
        "member_count": counts["members"],
        "invited_count": counts["invitations"],
        "seats": [row for row in seats if row["total"]],
        "pool_available": pool_available(organization=organization),
        "events": lines_for(console_selectors.activity_for_org(organization=organization)[:10]),
    }
    return render(request, "organizations/overview.html", context)


ACTIVITY_PAGE_SIZE = 25


@org_admin_required
def activity(request):
    """The organization's audit feed (R34), newest first, one sentence per event, filtered by
    kind of change, person and date range."""
    organization = request.organization
    form = ActivityFilterForm(request.GET or None)
    if form.is_bound:
        form.is_valid()
    events = console_selectors.activity_for_org(organization=organization, **form.filters())
    number = request.GET.get("page")
    page = WindowPaginator(events, ACTIVITY_PAGE_SIZE, number=number).get_page(number)
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "organization": organization,
        "form": form,
        "page": page,
        "lines": lines_for(page.object_list),
        "query_prefix": query.urlencode() + "&" if query else "",
        "filtered": any(form.filters().values()),
    }
    template = "organizations/activity.html#event-list" if request.htmx else None
    return render(request, template or "organizations/activity.html", context)
