"""Reads that span organizations, licensing and credits: the members list with each member's
products and credit access, a member's details, the removal confirmation, the API's summary."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.db.models import CharField, F, Prefetch, Q, Sum, Value
from django.db.models.functions import Lower
from django.utils import timezone

from credits.models import MemberUsageMonth, QuotaPeriod
from credits.selectors import exact_cents, pool_available
from licensing.models import License, active_license_q
from organizations.models import Account, Invitation, InvitationState, Membership, Organization
from portal.amounts import format_amount
from portal.models import AuditEvent

ZERO = Decimal("0.00")


def organization_summary(*, organization: Organization) -> dict:
    """`GET /api/v1/org`: members count the administrator, not invitations."""
    return {
        "name": organization.name,
        "customer_number": organization.customer_number,
        "members": Membership.objects.filter(organization=organization).count(),
        "pool_available": format_amount(pool_available(organization=organization)),
    }


# --- Members and invitations (R6–R10) -------------------------------------------------------

MEMBER_SORTS = {
    # sort key: columns of the combined member/invitation rows; ties go by kind and id. The
    # members' side of "name" and "credit" is read along an index of stored sort keys.
    "name": ["row_name"],
    "email": ["row_email"],
    "role": ["row_role", "row_name"],
    "status": ["row_kind", "row_name"],
    "since": ["row_since"],
    "credit": ["row_credit", "row_name"],
}
MEMBER_PAGE_SIZES = (10, 25, 50, 100)
MEMBER_DEFAULT_PAGE_SIZE = 25


def _members_q(organization, query: str):
    members = Membership.objects.filter(organization=organization)
    if query:
        # Two independent sets, each evaluated once (hashed subqueries), rather than a join
        # and a correlated seat lookup for every member: at 10,000 members the difference
        # between a few milliseconds and a few tens.
        accounts = Account.objects.filter(
            Q(email__icontains=query) | Q(name__icontains=query)
        ).values("pk")
        holders = (
            License.objects.filter(organization=organization, assignee__isnull=False)
            .filter(active_license_q())
            .filter(Q(product__code__icontains=query) | Q(product__name__icontains=query))
            .values("assignee_id")
        )
        members = members.filter(Q(account_id__in=accounts) | Q(pk__in=holders))
    return members


def _pending_invitations(organization, query: str):
    invitations = Invitation.objects.filter(
        organization=organization, state=InvitationState.PENDING
    )
    if query:
        invitations = invitations.filter(email__icontains=query)
    return invitations


MEMBER_SHOWS = ("", "members", "invited")


def member_rows_for_org(
    *, organization, query: str = "", sort: str = "name", desc=False, show: str = ""
):
    """Members and pending invitations as ONE sorted list of rows (R10).

    Both kinds of rows have the same columns, so that sorting and pagination run in the
    database over both; the page's objects are loaded afterwards by `member_page_load`.
    """
    # NUL cannot be stored or searched in PostgreSQL text; it is never part of a real search.
    query = (query or "").replace("\x00", "").strip()[:100]
    sort = sort if sort in MEMBER_SORTS else "name"
    columns = ("row_kind", "row_id", "row_email", "row_name", "row_role", "row_since")
    members = (
        _members_q(organization, query)
        .annotate(
            row_kind=Value("member", output_field=CharField()),
            row_id=F("id"),
            row_email=F("account__email"),
            row_name=F("sort_name"),
            row_role=F("role"),
            row_since=F("created_at"),
            row_credit=F("credit_mode"),
        )
        .values(*columns, "row_credit")
    )
    invitations = (
        _pending_invitations(organization, query)
        .annotate(
            row_kind=Value("invited", output_field=CharField()),
            row_id=F("id"),
            row_email=F("email"),
            row_name=Lower("email"),
            row_role=Value("member", output_field=CharField()),
            row_since=F("created_at"),
            row_credit=Value("", output_field=CharField()),
        )
        .values(*columns, "row_credit")
    )
    ordering = [f"-{c}" if desc else c for c in [*MEMBER_SORTS[sort], "row_kind", "row_id"]]
    counted_members = _members_q(organization, query)
    counted_invitations = _pending_invitations(organization, query)
    # "Members" or "Invitations" only: the other side is empty, and so is its count.
    if show == "members":
        invitations, counted_invitations = invitations.none(), counted_invitations.none()
    elif show == "invited":
        members, counted_members = members.none(), counted_members.none()
    return MemberRows(
        members,
        invitations,
        ordering,
        counts=(counted_members, counted_invitations),
        # A search keeps few rows: they are sorted whole. Walked along the sort index, a
        # rare match would mean reading most of the organization to find a page of it.
        cut_sides=not query,
    )


class MemberRows:
    """The combined rows, sliced by the paginator.

    A page is the first rows of the members' side and of the invitations' side, each sorted
    and cut at the end of the page, then merged and cut again in the database: with the
    stored sort keys the members' side walks an index and stops, instead of sorting every
    member of a large organization (rules.md "Performance"). A search's few matches sort the
    union whole.
    The count adds two plain counts rather than counting the union.
    """

    def __init__(self, members, invitations, ordering, *, counts, cut_sides=True):
        self.members = members
        self.invitations = invitations
        self.ordering = ordering
        self.cut_sides = cut_sides
        self._counts = counts
        self._count = None

    def count(self) -> int:
        if self._count is None:
            self._count = sum(qs.count() for qs in self._counts)
        return self._count

    def __len__(self):
        return self.count()

    def _union(self, stop=None):
        members, invitations = self.members, self.invitations
        if stop is not None and self.cut_sides:
            members = members.order_by(*self.ordering)[:stop]
            invitations = invitations.order_by(*self.ordering)[:stop]
        return members.union(invitations, all=True).order_by(*self.ordering)

    def __getitem__(self, key):
        if isinstance(key, slice):
            return self._union(key.stop)[key]
        return self._union(key + 1)[key]

    def __iter__(self):
        return iter(self._union())


def member_page_load(rows) -> list[dict]:
    """Turn one page of `member_rows_for_org` into rows carrying their objects.

    A fixed number of queries whatever the page size: memberships with account and credit
    access, their active seats (prefetched), the invitations, and one usage aggregate.
    """
    rows = list(rows)
    member_ids = [r["row_id"] for r in rows if r["row_kind"] == "member"]
    invitation_ids = [r["row_id"] for r in rows if r["row_kind"] == "invited"]
    memberships = {}
    if member_ids:
        memberships = (
            Membership.objects.select_related("account", "credit_access")
            .prefetch_related(
                Prefetch(
                    "seats",
                    queryset=License.objects.filter(active_license_q())
                    .select_related("product")
                    .order_by("product__name", "id"),
                    to_attr="active_seats",
                )
            )
            .in_bulk(member_ids)
        )
    invitations = Invitation.objects.in_bulk(invitation_ids) if invitation_ids else {}
    usage = credit_usage_for(list(memberships.values()))
    result = []
    for row in rows:
        if row["row_kind"] == "member":
            membership = memberships.get(row["row_id"])
            if membership is None:  # removed between the two queries
                continue
            result.append(
                {
                    "kind": "member",
                    "membership": membership,
                    "email": membership.account.email,
                    "access": membership.credit_access,
                    "used": usage.get(membership.pk, ZERO),
                    "seats": membership.active_seats,
                }
            )
        else:
            invitation = invitations.get(row["row_id"])
            if invitation is None:
                continue
            result.append({"kind": "invited", "invitation": invitation, "email": invitation.email})
    return result


def month_start(moment=None):
    moment = moment or timezone.now()
    return moment.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def credit_usage_for(memberships) -> dict:
    """Usage per membership as the members list shows it (the API's `used`).

    Monthly quotas: the cached usage of the current calendar month (0 once a new month has
    begun). Everything else: all-time usage in this organization, consumptions minus refunds
    (R22), from the monthly usage rollups that `verify_ledger` checks against the ledger: a
    member's year is twelve rows, however many consumptions it holds. One grouped query for
    the whole page.
    """
    usage = {}
    all_time = {}
    start = month_start()
    for membership in memberships:
        access = membership.credit_access
        if access.mode == "quota" and access.period == QuotaPeriod.MONTHLY:
            current = access.period_start is not None and access.period_start >= start
            usage[membership.pk] = access.used if current else ZERO
        else:
            all_time.setdefault(membership.organization_id, {})[membership.account_id] = (
                membership.pk
            )
    for organization_id, by_account in all_time.items():
        sums = (
            MemberUsageMonth.objects.filter(
                organization_id=organization_id, account_id__in=list(by_account)
            )
            .values("account_id")
            .annotate(total=Sum("consumed"))
        )
        for row in sums:
            usage[by_account[row["account_id"]]] = max(exact_cents(row["total"]), ZERO)
    return usage


def member_detail(*, membership) -> dict:
    """Seats, credit access and recent activity of one member (R9, R10, R34)."""
    seats = list(
        License.objects.filter(assignee=membership)
        .filter(active_license_q())
        .select_related("product")
        .order_by("product__name", "id")
    )
    events = activity_for_org(
        organization=membership.organization, person=membership.account.email
    )[:20]
    return {
        "membership": membership,
        "seats": seats,
        "access": membership.credit_access,
        "used": credit_usage_for([membership]).get(membership.pk, ZERO),
        "events": events,
    }


def memberships_for_removal(*, organization, ids) -> list[Membership]:
    """The selected members with what removing them revokes (R9 confirmation)."""
    return list(
        Membership.objects.filter(organization=organization, pk__in=list(ids))
        .select_related("account", "credit_access")
        .prefetch_related(
            Prefetch(
                "seats",
                queryset=License.objects.select_related("product").order_by("product__name"),
                to_attr="assigned_seats",
            )
        )
        .order_by("account__email")
    )


def activity_for_org(
    *,
    organization: Organization,
    kinds: tuple[str, ...] = (),
    person: str = "",
    start=None,
    end=None,
):
    """The organization's audit events (R34), newest first: of the actions starting with one
    of `kinds`, by or about `person` (an email: the actor, the target, or the account a
    consumption was for), between the UTC calendar days `start` and `end`, both included."""
    events = AuditEvent.objects.filter(organization=organization).select_related("actor")
    if kinds:
        by_kind = Q()
        for prefix in kinds:
            by_kind |= Q(action__startswith=prefix)
        events = events.filter(by_kind)
    if person:
        events = events.filter(
            Q(actor__email=person) | Q(target=person) | Q(details__account=person)
        )
    if start is not None:
        events = events.filter(created_at__gte=_utc_midnight(start))
    if end is not None:
        events = events.filter(created_at__lt=_utc_midnight(end + timedelta(days=1)))
    return events.order_by("-created_at", "-id")


def _utc_midnight(day):
    return datetime(day.year, day.month, day.day, tzinfo=UTC)
