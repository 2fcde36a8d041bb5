"""CSV exports (R41): members, seats, the pool's credit history and the activity for the
administrator; an account's own credit history for everyone.

Each export streams: rows are read in chunks with a server-side cursor and written as they
come, so memory stays flat whatever the organization's size. Cells are safe to open in a
spreadsheet: text that starts with =, +, -, @, a tab or a carriage return is prefixed with an
apostrophe (it would run as a formula), while amounts, negative ones included, are written as
plain numbers. Every export is audited.
"""

import csv
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from decimal import Decimal

from django.db import transaction
from django.db.models import CharField, F, Func
from django.http import StreamingHttpResponse
from django.utils import timezone
from django.utils.text import slugify

from console import activity
from console.selectors import member_page_load
from credits.models import AccessMode, EntryKind, QuotaPeriod
from credits.selectors import history_for_account, history_for_org
from licensing.models import License
from organizations.models import Membership, Role
from portal.audit import audit_record
from portal.models import AuditEvent

CHUNK = 2000
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value) -> str | Decimal:
    """One CSV cell: numbers as numbers, dates in UTC, text defused."""
    if value is None:
        return ""
    if isinstance(value, Decimal | int):
        return value
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


class _Echo:
    """A file-like object that hands back what csv.writer writes to it."""

    def write(self, value):
        return value


def _stream(header: list[str], rows: Iterable[list]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield "\ufeff" + writer.writerow(header)  # BOM: spreadsheets then read UTF-8
    for row in rows:
        yield writer.writerow([cell(value) for value in row])


def csv_response(
    *, actor, organization, what: str, owner_name: str, header: list[str], rows
) -> StreamingHttpResponse:
    """The streaming download, named after its owner and today, audited as it starts."""
    audit_record(
        actor=actor,
        action="export.downloaded",
        organization=organization,
        target=what,
        details={"what": what},
    )
    name = f"{slugify(owner_name) or 'export'}-{what}-{timezone.now():%Y-%m-%d}.csv"
    response = StreamingHttpResponse(_stream(header, rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def _chunks(queryset, key="pk") -> Iterator[list]:
    """Keyset pages of a queryset in primary-key order: each a bounded list, read with a few
    queries, however large the whole."""
    last = None
    while True:
        page = queryset.order_by(key)
        if last is not None:
            page = page.filter(**{f"{key}__gt": last})
        page = list(page[:CHUNK])
        if not page:
            return
        yield page
        last = getattr(page[-1], key)


def member_rows(organization) -> Iterator[list]:
    ids = Membership.objects.filter(organization=organization).only("pk")
    for chunk in _chunks(ids):
        rows = member_page_load([{"row_kind": "member", "row_id": m.pk} for m in chunk])
        for row in rows:
            membership, access = row["membership"], row["access"]
            yield [
                membership.account.email,
                membership.account.name,
                Role(membership.role).label,
                membership.created_at,
                "; ".join(seat.name for seat in row["seats"]),
                AccessMode(access.mode).label,
                access.limit,
                QuotaPeriod(access.period).label if access.mode == "quota" else "",
                row["used"],
            ]


MEMBER_HEADER = [
    "email",
    "name",
    "role",
    "member since",
    "products",
    "credit access",
    "quota limit",
    "quota period",
    "credits used",
]


def seat_rows(organization) -> Iterator[list]:
    seats = License.objects.filter(organization=organization).select_related(
        "product", "assignee__account"
    )
    now = timezone.now()
    for chunk in _chunks(seats):
        for seat in chunk:
            state = (
                "cancelled"
                if seat.cancelled_at
                else ("ended" if seat.ends_at and seat.ends_at <= now else "active")
            )
            yield [
                seat.product.name,
                seat.get_kind_display(),
                seat.starts_at,
                seat.ends_at,
                state,
                seat.assignee.account.email if seat.assignee_id else "",
            ]


SEAT_HEADER = ["product", "kind", "valid from", "valid until", "state", "assigned to"]


def _ledger_rows(entries) -> Iterator[list]:
    # Plain tuples rather than model instances: a year of a busy pool is millions of rows, and
    # building three models per row (entry, member, hold) was most of the export's time.
    # The time is written out by PostgreSQL in the CSV's own format (UTC), which spares
    # reading it into a datetime and formatting it again for every row.
    kinds = dict(EntryKind.choices)
    moment = Func(
        F("created_at"),
        template="to_char(%(expressions)s AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')",
        output_field=CharField(),
    )
    columns = ("moment", "kind", "account__email", "reference", "hold__reference")
    values = entries.annotate(moment=moment).values_list(
        *columns, "order_id", "note", "amount", "available_after"
    )
    # Inside a transaction the server-side cursor is not declared WITH HOLD: PostgreSQL then
    # sends the first rows at once instead of writing out the whole ledger first (seconds and
    # a temporary file of hundreds of MiB for a million entries).
    with transaction.atomic():
        for (
            moment,
            kind,
            email,
            reference,
            hold,
            order_id,
            note,
            amount,
            available,
        ) in values.iterator(chunk_size=CHUNK):
            yield [
                moment,
                kinds.get(kind, kind),
                email or "",
                reference or hold or (f"Order #{order_id}" if order_id else note),
                amount,
                available,
            ]


LEDGER_HEADER = ["time (UTC)", "what", "member", "reference or note", "credits", "available after"]


def pool_history_rows(organization) -> Iterator[list]:
    return _ledger_rows(history_for_org(organization=organization))


def own_history_rows(account) -> Iterator[list]:
    return _ledger_rows(history_for_account(account=account).select_related("account"))


def activity_rows(organization) -> Iterator[list]:
    events = AuditEvent.objects.filter(organization=organization).select_related("actor")
    for chunk in _chunks(events):
        for line in activity.lines_for(chunk):
            yield [line.when, line.sentence]


ACTIVITY_HEADER = ["time (UTC)", "what happened"]
