"""Reads that span organizations, licensing and credits: the members list with each member's
products and credit access, a member's details, the removal confirmation, the API's summary."""

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.db.models import BooleanField, CharField, F, Func, Prefetch, Q, Sum, Value
from django.db.models.functions import Lower
from django.utils import timezone

from credits.models import MemberUsageMonth, QuotaPeriod
from credits.selectors import exact_cents, pool_available
from licensing.models import License, active_license_q
from organizations.models import (
    Account,
    Invitation,
    InvitationState,
    Membership,
    MemberTally,
    Organization,
    Role,
)
from portal.amounts import format_amount
from portal.models import AuditEvent

ZERO = Decimal("0.00")


def organization_summary(*, organization: Organization) -> dict:
    """`GET /api/v1/org`: members count the administrator, not invitations."""
    return {
        "name": organization.name,
        "customer_number": organization.customer_number,
        "members": member_counts(organization=organization)["members"],
        "pool_available": format_amount(pool_available(organization=organization)),
    }


# --- Members and invitations (R6–R10) -------------------------------------------------------

MEMBER_SORTS = {
    # sort key: columns of the combined member/invitation rows; ties go by kind and id. Each
    # order is read along an index of stored sort keys on either side (Membership's
    # membership_by_* indexes, Invitation's invitation_pending_by_* ones), forwards or
    # backwards.
    "name": ["row_name"],
    "email": ["row_email"],
    "role": ["row_role", "row_name"],
    "status": ["row_kind", "row_name"],
    "since": ["row_since"],
    "credit": ["row_credit", "row_name"],
}
MEMBER_PAGE_SIZES = (10, 25, 50, 100)
MEMBER_DEFAULT_PAGE_SIZE = 25
MEMBER_KINDS = ("invited", "member")
# Which columns are the same for every row of one side: the keyset condition decides them
# here rather than in the database, so that what is left is a comparison along that side's
# index.
_SIDE_CONSTANTS = {
    "member": {"row_kind": "member"},
    "invited": {"row_kind": "invited", "row_role": "member", "row_credit": ""},
}


def _members_q(organization, query: str):
    members = Membership.objects.filter(organization=organization)
    if query:
        # The matching accounts' memberships in this organization and the members holding a
        # matching product, as one set of ids found from the matches (trigram indexes, then
        # the membership's (organization, account) key), so that a search reads its matches
        # and not every member of a large organization.
        accounts = Account.objects.filter(
            Q(email__icontains=query) | Q(name__icontains=query)
        ).values("pk")
        by_account = Membership.objects.filter(
            organization=organization, account_id__in=accounts
        ).values("pk")
        holders = (
            License.objects.filter(organization=organization, assignee__isnull=False)
            .filter(active_license_q())
            .filter(Q(product__code__icontains=query) | Q(product__name__icontains=query))
            .order_by()
            .values("assignee_id")
        )
        members = members.filter(pk__in=by_account.union(holders))
    return members


def _pending_invitations(organization, query: str):
    invitations = Invitation.objects.filter(
        organization=organization, state=InvitationState.PENDING
    )
    if query:
        invitations = invitations.filter(email__icontains=query)
    return invitations


MEMBER_SHOWS = ("", "members", "invited")


def member_counts(*, organization) -> dict:
    """Members and pending invitations of an organization, from the member tallies (a few
    rows whatever its size) rather than counting every member."""
    totals = MemberTally.objects.filter(organization=organization).aggregate(
        members=Sum("members"), invitations=Sum("invitations")
    )
    return {"members": totals["members"] or 0, "invitations": totals["invitations"] or 0}


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
            row_email=F("sort_email"),
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
    if query:
        # A search's count is its matches, found from the trigram indexes: exact, and as
        # bounded as the search itself.
        counts = (_members_q(organization, query), _pending_invitations(organization, query))
    else:
        counts = None
    # "Members" or "Invitations" only: the other side is empty, and so is its count.
    sides = {"member": members, "invited": invitations}
    if show == "members":
        sides["invited"] = invitations.none()
    elif show == "invited":
        sides["member"] = members.none()
    return MemberRows(
        sides,
        sort=sort,
        desc=bool(desc),
        organization=organization,
        show=show,
        counts=counts,
        # A search keeps few rows: they are sorted whole. Walked along the sort index, a
        # rare match would mean reading most of the organization to find a page of it.
        cut_sides=not query,
    )


def _row_compare(columns: list[str], values: list, op: str):
    """`(a, b, id) > (x, y, 7)`: a row comparison, which PostgreSQL reads along an index
    whose columns are `a, b, id` (both directions), starting at the cursor."""
    left = Func(*[F(c) for c in columns], template="(%(expressions)s)")
    right = Func(*[Value(v) for v in values], template="(%(expressions)s)")
    return Func(
        left, right, arg_joiner=f" {op} ", template="%(expressions)s", output_field=BooleanField()
    )


def _cursor_values(row: dict, sort: str) -> list:
    return [row[c] for c in [*MEMBER_SORTS[sort], "row_kind", "row_id"]]


def member_cursor_token(*, row: dict, sort: str) -> str:
    """A row's place in the list as a short opaque token for the page's links."""
    values = [v.isoformat() if isinstance(v, datetime) else v for v in _cursor_values(row, sort)]
    raw = json.dumps(values, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def member_cursor_parse(*, token: str, sort: str) -> list | None:
    """The values of a token from `member_cursor_token` for this order, or None for anything
    else (a link from another order, an edited address, garbage): the list then starts at its
    beginning rather than failing."""
    if not token or len(token) > 1400:
        return None
    try:
        values = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, TypeError):
        return None
    columns = [*MEMBER_SORTS[sort], "row_kind", "row_id"]
    if not isinstance(values, list) or len(values) != len(columns):
        return None
    parsed = []
    for column, value in zip(columns, values, strict=True):
        if column == "row_id":
            if type(value) is not int or not 0 < value < 2**63:
                return None
        elif column == "row_since":
            try:
                value = datetime.fromisoformat(value)
            except (TypeError, ValueError):
                return None
            if value.tzinfo is None:
                return None
        elif column == "row_kind":
            if value not in MEMBER_KINDS:
                return None
        elif not isinstance(value, str) or len(value) > 254 or "\x00" in value:
            return None
        parsed.append(value)
    return parsed


@dataclass
class MemberPage:
    """One page of the list: its raw rows (for `member_page_load`), where it is, and the
    tokens of its first and last rows for the links around it."""

    rows: list
    has_previous: bool
    has_next: bool
    # 1-based position of the first row when known (the first and the last page), else None.
    start: int | None
    first_token: str = ""
    last_token: str = ""


class MemberRows:
    """The combined rows, read a page at a time (keyset pagination).

    A page is the rows after (or before) a cursor, the sort key values of a row: on each
    side (members, invitations) the rows past the cursor in the order, cut at the end of the
    page, then merged and cut again in the database. With a stored sort key and an index for
    every order, each side starts at the cursor in its index and stops after a page, so that
    the first, any middle and the last page cost the same at any size (rules.md
    "Performance"). A search's few matches sort whole.
    The count comes from the member tallies, or from the matches of a search.
    """

    def __init__(self, sides, *, sort, desc, organization, show="", counts=None, cut_sides=True):
        self.sides = sides
        self.sort = sort
        self.desc = desc
        self.organization = organization
        self.show = show
        self.cut_sides = cut_sides
        self._counts = counts
        self._count = None

    def _sides(self):
        """The sides that can hold rows ("Members" or "Invitations" only leave one)."""
        return [(kind, qs) for kind, qs in self.sides.items() if not qs.query.is_empty()]

    @property
    def ordering(self) -> list[str]:
        return self._ordering(self.desc)

    def _ordering(self, desc: bool) -> list[str]:
        return [f"-{c}" if desc else c for c in [*MEMBER_SORTS[self.sort], "row_kind", "row_id"]]

    def count(self) -> int:
        if self._count is None:
            if self._counts is not None:
                members, invitations = (qs.count() for qs in self._counts)
            else:
                tally = member_counts(organization=self.organization)
                members, invitations = tally["members"], tally["invitations"]
            self._count = {"members": members, "invited": invitations, "": members + invitations}[
                self.show if self.show in MEMBER_SHOWS else ""
            ]
        return self._count

    def __len__(self):
        return self.count()

    def _side_after(self, kind: str, qs, cursor: list, desc: bool):
        """This side's rows past `cursor` in the order, or None when it has none."""
        constants = _SIDE_CONSTANTS[kind]
        columns, values = [], []
        for column, value in zip(
            [*MEMBER_SORTS[self.sort], "row_kind", "row_id"], cursor, strict=True
        ):
            if column not in constants:
                columns.append(column)
                values.append(value)
                continue
            mine = constants[column]
            if mine == value:
                continue
            # The constant decides past this column: the rest of this side's key only has
            # to reach the cursor's (when this side comes after it) or pass it.
            beyond = mine < value if desc else mine > value
            if beyond:
                return (
                    qs.filter(_row_compare(columns, values, "<=" if desc else ">="))
                    if columns
                    else qs
                )
            return (
                qs.filter(_row_compare(columns, values, "<" if desc else ">")) if columns else None
            )
        return qs.filter(_row_compare(columns, values, "<" if desc else ">"))

    def _rows(self, *, cursor, desc: bool, limit: int) -> list[dict]:
        ordering = self._ordering(desc)
        parts = []
        for kind, qs in self._sides():
            if cursor is not None:
                qs = self._side_after(kind, qs, cursor, desc)
                if qs is None:
                    continue
            parts.append(qs)
        if not parts:
            return []
        if len(parts) == 1:
            return list(parts[0].order_by(*ordering)[:limit])
        if self.cut_sides:
            parts = [qs.order_by(*ordering)[:limit] for qs in parts]
        return list(parts[0].union(*parts[1:], all=True).order_by(*ordering)[:limit])

    def page(self, *, size: int, after=None, before=None, last=False) -> MemberPage:
        """The page after the row `after`, before the row `before`, the last page, or the
        first page (cursors from `member_cursor_parse`). A page that would come out empty
        because rows went away falls back to the last or the first page; the first page
        reached by 'Previous' may be short (so that no row shows twice)."""
        backwards = before is not None or last
        cursor = before if before is not None else (None if last else after)
        rows = self._rows(cursor=cursor, desc=self.desc != backwards, limit=size + 1)
        more = len(rows) > size
        rows = rows[:size]
        if backwards:
            if before is not None and not rows:
                return self.page(size=size)
            rows.reverse()
            has_previous, has_next = more, before is not None
        else:
            if after is not None and not rows:
                return self.page(size=size, last=True)
            has_previous, has_next = after is not None, more
        start = None
        if not has_previous:
            start = 1
        elif not has_next:
            start = max(self.count() - len(rows) + 1, 1)
        page = MemberPage(rows, has_previous, has_next, start if rows else 0)
        if rows:
            page.first_token = member_cursor_token(row=rows[0], sort=self.sort)
            page.last_token = member_cursor_token(row=rows[-1], sort=self.sort)
        return page

    # Offset slicing, for the API's numbered pages of 100 sorted by email.
    def _union(self, stop=None):
        ordering = self.ordering
        parts = [qs for _kind, qs in self._sides()] or [self.sides["member"]]
        if len(parts) == 1:
            return parts[0].order_by(*ordering)
        if stop is not None and self.cut_sides:
            parts = [qs.order_by(*ordering)[:stop] for qs in parts]
        return parts[0].union(*parts[1:], all=True).order_by(*ordering)

    def __getitem__(self, key):
        if isinstance(key, slice):
            return self._union(key.stop)[key]
        return self._union(key + 1)[key]

    def __iter__(self):
        return iter(self._union())


@dataclass(frozen=True, slots=True)
class Seat:
    code: str
    name: str


@dataclass(frozen=True, slots=True)
class ListedAccount:
    email: str
    name: str


@dataclass(frozen=True, slots=True)
class ListedMembership:
    """What a list row shows of a membership: plain values, no model instance."""

    pk: int
    organization_id: int
    account_id: int
    role: str
    created_at: datetime
    account: ListedAccount

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN


@dataclass(frozen=True, slots=True)
class ListedAccess:
    mode: str
    limit: Decimal | None
    period: str
    period_start: datetime | None
    used: Decimal


_LISTED = (
    "pk",
    "organization_id",
    "account_id",
    "role",
    "created_at",
    "account__email",
    "account__name",
    "credit_access__mode",
    "credit_access__limit",
    "credit_access__period",
    "credit_access__period_start",
    "credit_access__used",
)


def member_page_load(rows) -> list[dict]:
    """Turn one page of `member_rows_for_org` into rows carrying what the list, the API and
    the export show of each member.

    A fixed number of queries whatever the page size: the memberships with account and
    credit access, their active seats, the invitations, and one usage aggregate. Values, not
    model instances: a page holds up to a hundred members and an export all of them.
    """
    rows = list(rows)
    member_ids = [r["row_id"] for r in rows if r["row_kind"] == "member"]
    invitation_ids = [r["row_id"] for r in rows if r["row_kind"] == "invited"]
    memberships, accesses, seats = {}, {}, {}
    if member_ids:
        for values in Membership.objects.filter(pk__in=member_ids).values_list(*_LISTED):
            pk, organization_id, account_id, role, created_at, email, name, *access = values
            memberships[pk] = ListedMembership(
                pk, organization_id, account_id, role, created_at, ListedAccount(email, name)
            )
            accesses[pk] = ListedAccess(*access)
        active = (
            License.objects.filter(active_license_q(), assignee_id__in=member_ids)
            .order_by("product__name", "id")
            .values_list("assignee_id", "product__code", "product__name")
        )
        for assignee_id, code, name in active:
            seats.setdefault(assignee_id, []).append(Seat(code, name))
    invitations = Invitation.objects.in_bulk(invitation_ids) if invitation_ids else {}
    usage = _usage(memberships.values(), accesses)
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
                    "access": accesses[membership.pk],
                    "used": usage.get(membership.pk, ZERO),
                    "seats": seats.get(membership.pk, []),
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
    """Usage per membership as the members list shows it (the API's `used`)."""
    memberships = list(memberships)
    return _usage(memberships, {m.pk: m.credit_access for m in memberships})


def _usage(memberships, accesses: dict) -> dict:
    """Usage per membership: monthly quotas, the cached usage of the current calendar month
    (0 once a new month has begun). Everything else: all-time usage in this organization,
    consumptions minus refunds (R22), from the monthly usage rollups that `verify_ledger`
    checks against the ledger: a member's year is twelve rows, however many consumptions it
    holds. One grouped query for the whole page.
    """
    usage = {}
    all_time = {}
    start = month_start()
    for membership in memberships:
        access = accesses[membership.pk]
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
            .values_list("account_id", "total")
        )
        for account_id, total in sums:
            usage[by_account[account_id]] = max(exact_cents(total), ZERO)
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
