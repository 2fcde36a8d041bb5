"""Reads of licenses, scoped by account or organization (R12, R14, R31).

Every list here is either bounded (a page, a catalog) or returned as a queryset for the
caller to paginate, so that pages run a fixed number of queries whatever the data size.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from django.db import connection
from django.db.models import Count, Q, Sum
from django.utils import timezone

from licensing.models import License, LicenseKind, Product, SeatTally, active_license_q
from organizations.models import Membership

EXPIRING_SOON_DAYS = 30
PAST_LICENSES_SHOWN = 50


def my_licenses(*, account, now=None) -> dict:
    """R31: what My licenses shows. Current = active or starting later; an organizational
    seat counts only while active (R13: an ended seat stops counting at once even before the
    sweep unassigns it). Past = ended or cancelled personal licenses, newest first."""
    now = now or timezone.now()
    active = active_license_q(now)
    current = list(
        License.objects.filter(
            (Q(account=account) & (active | Q(starts_at__gt=now, cancelled_at__isnull=True)))
            | (Q(assignee__account=account) & active)
        )
        .select_related("product", "organization")
        .order_by("product__name", "starts_at", "id")
    )
    past = list(
        License.objects.filter(account=account)
        .filter(Q(cancelled_at__isnull=False) | Q(ends_at__lte=now))
        .select_related("product")
        .order_by("-ends_at", "-id")[:PAST_LICENSES_SHOWN]
    )
    for lic in current:
        lic.state = "active" if lic.is_active_at(now) else "upcoming"
        lic.expiring_soon = bool(
            lic.ends_at and lic.state == "active" and lic.ends_at - now <= _soon()
        )
    return {"current": current, "past": past}


def _soon() -> timedelta:
    return timedelta(days=EXPIRING_SOON_DAYS)


def catalog_for_account(*, account, now=None) -> list[dict]:
    """Active products with what `account` may still do with each (R15, R16): buy, apply
    for a trial or beta, or why not. Reasons are shown beside the buttons; the services
    refuse the same cases on their own."""
    now = now or timezone.now()
    products = list(Product.objects.filter(active=True).order_by("name"))
    had = set(
        License.objects.filter(
            account=account, kind__in=[LicenseKind.TRIAL, LicenseKind.BETA]
        ).values_list("product_id", "kind")
    )
    seat_from = dict(
        License.objects.filter(assignee__account=account)
        .filter(active_license_q(now))
        .values_list("product_id", "organization__name")
    )
    # A product already held under a personal license of another kind is not offered as a
    # trial or beta: there is nothing to try (docs/licensing.md).
    owned = set(
        License.objects.filter(account=account)
        .exclude(kind__in=[LicenseKind.TRIAL, LicenseKind.BETA])
        .filter(active_license_q(now))
        .values_list("product_id", flat=True)
    )
    rows = []
    for product in products:
        seat_org = seat_from.get(product.pk)
        offer = not seat_org and product.pk not in owned
        rows.append(
            {
                "product": product,
                "seat_org": seat_org,
                "owned": product.pk in owned,
                "trial_used": (product.pk, LicenseKind.TRIAL) in had,
                "beta_used": (product.pk, LicenseKind.BETA) in had,
                "can_trial": product.trial_available
                and offer
                and (product.pk, LicenseKind.TRIAL) not in had,
                "can_beta": product.beta_available
                and offer
                and (product.pk, LicenseKind.BETA) not in had,
            }
        )
    return rows


def entitlements_for_account(*, account, now=None) -> list[dict]:
    """R14: the products of the account's active personal licenses and of the active
    organizational seats assigned to it, each with its sources. One query."""
    now = now or timezone.now()
    licenses = (
        License.objects.filter(Q(account=account) | Q(assignee__account=account))
        .filter(active_license_q(now))
        .select_related("product")
        .order_by("product__code", "id")
    )
    products: dict[str, dict] = {}
    for lic in licenses:
        entry = products.setdefault(
            lic.product.code, {"product": lic.product.code, "name": lic.product.name, "sources": []}
        )
        entry["sources"].append(
            {
                "source": "organization" if lic.organization_id else "personal",
                "license_id": lic.pk,
                "kind": lic.kind,
                "valid_until": lic.ends_at,
            }
        )
    return list(products.values())


# --- Organization seats -------------------------------------------------------------------


def seat_summary_for_org(*, organization, now=None) -> list[dict]:
    """Per product: active seats, assigned, free, expiring soon, not yet valid, ended.

    Added up from the seat tallies (a few rows per order, kept by triggers on the seats; see
    `SeatTally`) rather than from every seat, named from the products in the same statement.
    """
    return seat_products_for_org(organization=organization, now=now).summary


@dataclass(frozen=True)
class SeatProducts:
    """What the Licenses page knows of the products: the seat summary (`seat_summary_for_org`),
    the products for sale as (code, name) in name order, and the product asked for by its
    code, if there is one."""

    summary: list[dict]
    for_sale: list[tuple[str, str]]
    named_id: int | None
    read: dict[int, tuple]  # id: (id, code, name, active) of every product read

    def selected(self) -> Product | None:
        """The product whose seats the page shows: the one asked for, else the summary's
        first; as a model with the fields read (the others deferred)."""
        pk = self.named_id or (self.summary[0]["product_id"] if self.summary else None)
        if pk is None:
            return None
        return Product.from_db(connection.alias, ["id", "code", "name", "active"], self.read[pk])


# The seat tallies added up per product, beside every product that has tallies in the
# organization, is for sale, or is the one asked for by its code: one statement for the
# summary, the buy form's choices and the selected product.
_SEAT_PRODUCTS_SQL = """
    SELECT p.id, p.code, p.name, p.active, t.product_id IS NOT NULL,
           t.total, t.assigned, t.expiring, t.upcoming, t.ended
      FROM licensing_product p
      LEFT JOIN (
           SELECT product_id,
                  COALESCE(SUM(live) FILTER (WHERE valid), 0) AS total,
                  COALESCE(SUM(assigned) FILTER (WHERE valid), 0) AS assigned,
                  COALESCE(SUM(live) FILTER (WHERE valid AND ends_at <= %(soon)s), 0)
                      AS expiring,
                  COALESCE(SUM(live) FILTER (WHERE starts_at > %(now)s), 0) AS upcoming,
                  COALESCE(SUM(cancelled), 0)
                      + COALESCE(SUM(live) FILTER (WHERE ends_at <= %(now)s), 0) AS ended
             FROM (SELECT product_id, starts_at, ends_at, live, cancelled, assigned,
                          starts_at <= %(now)s AND (ends_at IS NULL OR ends_at > %(now)s)
                              AS valid
                     FROM licensing_seattally
                    WHERE organization_id = %(organization)s) tally
            GROUP BY product_id
      ) t ON t.product_id = p.id
     WHERE t.product_id IS NOT NULL OR p.active OR p.code = %(code)s
     ORDER BY p.name, p.id
"""


def seat_products_for_org(*, organization, now=None, code: str = "") -> SeatProducts:
    """The seat summary of `organization`, the products for sale, and the product whose code
    is `code` (any product, retired ones included). One query."""
    now = now or timezone.now()
    rows = _fetch(
        _SEAT_PRODUCTS_SQL,
        {"organization": organization.pk, "now": now, "soon": now + _soon(), "code": code},
    )
    summary, for_sale, named_id = [], [], None
    for pk, p_code, name, active, tallied, total, assigned, expiring, upcoming, ended in rows:
        if tallied and (total or upcoming or ended):
            summary.append(
                {
                    "product_id": pk,
                    "product__code": p_code,
                    "product__name": name,
                    "product__active": active,
                    "total": total,
                    "assigned": assigned,
                    "free": total - assigned,
                    "expiring": expiring,
                    "upcoming": upcoming,
                    "ended": ended,
                }
            )
        if active:
            for_sale.append((p_code, name))
        if code and p_code == code:
            named_id = pk
    # In the order the summary always had (names as Python compares them), while the products
    # for sale keep the database's order of names, as the buy form always listed them.
    summary.sort(key=lambda row: (row["product__name"], row["product_id"]))
    read = {row[0]: row[:4] for row in rows}
    return SeatProducts(summary=summary, for_sale=for_sale, named_id=named_id, read=read)


def seat_tally_problems() -> list[str]:
    """The seat tallies against the seats, per organization, product and window (checked by
    `verify_ledger` with the ledger's caches)."""
    key = ("organization_id", "product_id", "starts_at", "ends_at")
    counted = {
        tuple(row[k] for k in key): (row["live"], row["cancelled"], row["assigned"])
        for row in License.objects.filter(organization__isnull=False)
        .values(*key)
        .annotate(
            live=Count("id", filter=Q(cancelled_at__isnull=True)),
            cancelled=Count("id", filter=Q(cancelled_at__isnull=False)),
            assigned=Count("id", filter=Q(cancelled_at__isnull=True, assignee__isnull=False)),
        )
        .order_by()
    }
    tallied = {
        tuple(row[k] for k in key): (row["live"], row["cancelled"], row["assigned"])
        for row in SeatTally.objects.values(*key)
        .annotate(live=Sum("live"), cancelled=Sum("cancelled"), assigned=Sum("assigned"))
        .order_by()
    }
    problems = []
    for window in sorted(set(counted) | set(tallied), key=str):
        seats, tally = counted.get(window, (0, 0, 0)), tallied.get(window, (0, 0, 0))
        if seats != tally:
            org_id, product_id, starts, ends = window
            problems.append(
                f"seat tally of organization #{org_id}, product #{product_id}, "
                f"{starts:%Y-%m-%d %H:%M}–{f'{ends:%Y-%m-%d %H:%M}' if ends else 'perpetual'}: "
                f"live, cancelled, assigned {tally} != seats {seats}"
            )
    return problems


SEAT_FILTERS = {"all", "free", "assigned", "expiring", "upcoming"}

# The Licenses page's lists are read as plain rows by statements written out here: built by
# the ORM, their query building and model instances cost more than the statements themselves.
_ACTIVE = (
    "{0}.cancelled_at IS NULL AND {0}.starts_at <= %(now)s"
    " AND ({0}.ends_at IS NULL OR {0}.ends_at > %(now)s)"
)
# What `icontains` asks, the way the ORM writes it (the trigram indexes on UPPER(email) and
# UPPER(name) answer it).
_ACCOUNT_MATCHES = (
    "(UPPER(a.email::text) LIKE UPPER(%(like)s) OR UPPER(a.name::text) LIKE UPPER(%(like)s))"
)
_SEATS_FROM = f"""
      FROM licensing_license l
      LEFT JOIN organizations_membership m ON m.id = l.assignee_id
      LEFT JOIN organizations_account a ON a.id = m.account_id
     WHERE l.organization_id = %(organization)s AND l.product_id = %(product)s
       AND (({_ACTIVE.format("l")}) OR (l.cancelled_at IS NULL AND l.starts_at > %(now)s))
"""
_SEAT_STATES = {
    "all": "",
    "free": f" AND {_ACTIVE.format('l')} AND l.assignee_id IS NULL",
    "assigned": " AND l.assignee_id IS NOT NULL",
    "expiring": f" AND {_ACTIVE.format('l')} AND l.ends_at <= %(soon)s",
    "upcoming": " AND l.starts_at > %(now)s",
}


class SeatRow(NamedTuple):
    """A current seat as the seat table shows it, with its assignee's account if any."""

    pk: int
    starts_at: datetime
    ends_at: datetime | None
    assignee_id: int | None
    name: str | None
    email: str | None


class EndedSeatRow(NamedTuple):
    """A cancelled seat, or one that ran out."""

    pk: int
    starts_at: datetime
    ends_at: datetime | None
    cancelled_at: datetime | None


class MemberRow(NamedTuple):
    """A membership with its account's name and email."""

    pk: int
    name: str
    email: str

    @property
    def display_name(self) -> str:
        return self.name or self.email


class SqlRows:
    """A list read one page at a time, for a paginator: a slice runs `sql` with its LIMIT and
    OFFSET (and `upto`, where the page ends), `count()` runs `count_sql` (asked only when the
    count is not known already)."""

    def __init__(self, sql: str, count_sql: str, params: dict, row):
        self.sql, self.count_sql, self.params, self.row = sql, count_sql, params, row

    def count(self) -> int:
        return _fetch(self.count_sql, self.params)[0][0]

    def __getitem__(self, index: slice) -> list:
        start = index.start or 0
        limit = max(0, index.stop - start)
        if not limit:  # an empty list's only page, as the ORM answers it: without a query
            return []
        params = {**self.params, "limit": limit, "offset": start, "upto": start + limit}
        return [self.row(*values) for values in _fetch(self.sql, params)]


def _fetch(sql: str, params: dict) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _like(query: str) -> str:
    return f"%{connection.ops.prep_for_like_query(query)}%"


def seat_rows_for_org(
    *, organization, product, state: str = "all", query: str = "", now=None
) -> SqlRows:
    """The seats of one product that are active or not yet valid, in seat order, for a
    paginated table, filtered by state and by the assignee's email or name. Ended and
    cancelled seats are listed apart (`ended_seat_rows_for_org`)."""
    now = now or timezone.now()
    where = (
        _SEATS_FROM + _SEAT_STATES.get(state, "") + (f" AND {_ACCOUNT_MATCHES}" if query else "")
    )
    return SqlRows(
        "SELECT l.id, l.starts_at, l.ends_at, l.assignee_id, a.name, a.email"
        + where
        + " ORDER BY l.id LIMIT %(limit)s OFFSET %(offset)s",
        "SELECT COUNT(*)" + where,
        {
            "organization": organization.pk,
            "product": product.pk,
            "now": now,
            "soon": now + _soon(),
            "like": _like(query) if query else "",
        },
        SeatRow,
    )


# Cancelled seats, and seats that ran out, latest end first. Asked as two parts, each read in
# order from its own index (`license_cancelled_by_end`, `license_live_by_end`) up to the end
# of the page asked for, then merged, so that a page reads its 20 seats and not every ended
# seat of the product: with one condition "cancelled or ended" the product's 20,000 current
# seats were read and dropped.
_ENDED_SEATS_SQL = """
    (SELECT id, starts_at, ends_at, cancelled_at FROM licensing_license
      WHERE organization_id = %(organization)s AND product_id = %(product)s
        AND cancelled_at IS NOT NULL
      ORDER BY ends_at DESC, id DESC LIMIT %(upto)s)
    UNION ALL
    (SELECT id, starts_at, ends_at, cancelled_at FROM licensing_license
      WHERE organization_id = %(organization)s AND product_id = %(product)s
        AND cancelled_at IS NULL AND ends_at <= %(now)s
      ORDER BY ends_at DESC, id DESC LIMIT %(upto)s)
    ORDER BY ends_at DESC, id DESC LIMIT %(limit)s OFFSET %(offset)s
"""
_ENDED_SEATS_COUNT_SQL = """
    SELECT (SELECT COUNT(*) FROM licensing_license
             WHERE organization_id = %(organization)s AND product_id = %(product)s
               AND cancelled_at IS NOT NULL)
         + (SELECT COUNT(*) FROM licensing_license
             WHERE organization_id = %(organization)s AND product_id = %(product)s
               AND cancelled_at IS NULL AND ends_at <= %(now)s)
"""


def ended_seat_rows_for_org(*, organization, product, now=None) -> SqlRows:
    """Cancelled seats and seats that ran out, latest end first."""
    return SqlRows(
        _ENDED_SEATS_SQL,
        _ENDED_SEATS_COUNT_SQL,
        {"organization": organization.pk, "product": product.pk, "now": now or timezone.now()},
        EndedSeatRow,
    )


def annotate_seat_states(seats, now=None):
    now = now or timezone.now()
    for seat in seats:
        if seat.cancelled_at:
            seat.state = "cancelled"
        elif seat.starts_at > now:
            seat.state = "upcoming"
        elif seat.ends_at and seat.ends_at <= now:
            seat.state = "expired"
        else:
            seat.state = "active"
        seat.expiring_soon = bool(
            seat.state == "active" and seat.ends_at and seat.ends_at - now <= _soon()
        )
    return seats


def members_search(*, organization, query: str, limit: int = 10) -> list[Membership]:
    """Members of THIS organization whose email or name contains `query` (assign pickers)."""
    query = (query or "").strip()
    if not query:
        return []
    return list(
        Membership.objects.filter(organization=organization)
        .filter(Q(account__email__icontains=query) | Q(account__name__icontains=query))
        .select_related("account")
        .order_by("account__email")[:limit]
    )


def member_email_for_input(*, organization, text: str) -> str:
    """What the administrator typed in a "Name or email" picker, as the member's email.

    An email is taken as it is (the service says if it is not a member). Otherwise the one
    member of THIS organization whose name or email contains the text; when none or several
    match, the text is returned unchanged and the service's refusal names it.
    """
    text = (text or "").strip()
    if "@" in text:
        return text
    matches = members_search(organization=organization, query=text, limit=2)
    return matches[0].account.email if len(matches) == 1 else text


# Members holding no active seat of the product: who a bulk assignment can serve. The count
# is of a window of rows (`limit` bounds it, as `WindowPaginator` does) and comes with the page
# in the same statement.
_WITHOUT_SEAT = f"""
     WHERE m.organization_id = %(organization)s
       AND NOT EXISTS (SELECT 1 FROM licensing_license u
                        WHERE u.assignee_id = m.id AND u.product_id = %(product)s
                          AND {_ACTIVE.format("u")})
"""
_MEMBERS_WITHOUT_SEAT_SQL = """
    SELECT seen.n, page.id, page.name, page.email
      FROM (SELECT COUNT(*) AS n
              FROM (SELECT 1 FROM organizations_membership m {count_join} {where}
                     LIMIT %(window)s) w) seen
      LEFT JOIN (SELECT m.id, a.name, a.email
                   FROM organizations_membership m
                   JOIN organizations_account a ON a.id = m.account_id
                   {where}
                  ORDER BY a.email LIMIT %(limit)s OFFSET %(offset)s) page ON TRUE
     ORDER BY page.email
"""


def members_without_seat(
    *, organization, product, query: str = "", now=None, offset: int, limit: int, window: int
) -> tuple[int, list[MemberRow]]:
    """Members holding no active seat of `product`, by email, matching `query` in email or
    name: how many there are up to `window`, and `limit` of them from `offset`. One query."""
    query = (query or "").strip()
    where = _WITHOUT_SEAT + (f" AND {_ACCOUNT_MATCHES}" if query else "")
    # The count reads the accounts only to match a search.
    count_join = "JOIN organizations_account a ON a.id = m.account_id" if query else ""
    rows = _fetch(
        _MEMBERS_WITHOUT_SEAT_SQL.format(where=where, count_join=count_join),
        {
            "organization": organization.pk,
            "product": product.pk,
            "now": now or timezone.now(),
            "like": _like(query) if query else "",
            "window": window,
            "limit": limit,
            "offset": offset,
        },
    )
    return rows[0][0], [MemberRow(*row[1:]) for row in rows if row[1] is not None]


def org_licenses_for_api(*, organization, product_code: str = ""):
    seats = License.objects.filter(organization=organization)
    if product_code:
        seats = seats.filter(product__code=product_code)
    return seats.select_related("product", "assignee__account").order_by("id")


def license_api_row(seat: License, now=None) -> dict:
    """The API's license item. An inactive seat has no effective assignee (R13), even before
    the sweep clears the stored one."""
    now = now or timezone.now()
    active = seat.is_active_at(now)
    return {
        "id": seat.pk,
        "product": seat.product.code,
        "kind": seat.kind,
        "valid_until": seat.ends_at,
        "active": active,
        "assignee": seat.assignee.account.email if (active and seat.assignee_id) else None,
    }
