"""Reads of licenses, scoped by account or organization (R12, R14, R31).

Every list here is either bounded (a page, a catalog) or returned as a queryset for the
caller to paginate, so that pages run a fixed number of queries whatever the data size.
"""

from datetime import timedelta

from django.db.models import Count, Exists, OuterRef, Q, Sum
from django.db.models.functions import Coalesce
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
    `SeatTally`) rather than from every seat, then named from the few products.
    """
    now = now or timezone.now()
    valid = Q(starts_at__lte=now) & (Q(ends_at__isnull=True) | Q(ends_at__gt=now))

    def total(field, condition=None):
        return Coalesce(Sum(field, filter=condition), 0)

    rows = list(
        SeatTally.objects.filter(organization=organization)
        .values("product_id")
        .annotate(
            total=total("live", valid),
            assigned=total("assigned", valid),
            expiring=total("live", valid & Q(ends_at__lte=now + _soon())),
            upcoming=total("live", Q(starts_at__gt=now)),
            ended=total("cancelled") + total("live", Q(ends_at__lte=now)),
        )
        .order_by()
    )
    rows = [row for row in rows if any(row[k] for k in ("total", "upcoming", "ended"))]
    products = Product.objects.in_bulk([row["product_id"] for row in rows])
    for row in rows:
        product = products[row["product_id"]]
        row.update(
            {
                "product__code": product.code,
                "product__name": product.name,
                "product__active": product.active,
                "free": row["total"] - row["assigned"],
            }
        )
    return sorted(rows, key=lambda row: (row["product__name"], row["product_id"]))


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


def seats_for_org(*, organization, product, state: str = "all", query: str = "", now=None):
    """The seats of one product that are active or not yet valid, for a paginated table.
    Ended and cancelled seats are listed apart (`ended_seats_for_org`)."""
    now = now or timezone.now()
    seats = License.objects.filter(organization=organization, product=product).filter(
        active_license_q(now) | Q(cancelled_at__isnull=True, starts_at__gt=now)
    )
    if state == "free":
        seats = seats.filter(active_license_q(now), assignee__isnull=True)
    elif state == "assigned":
        seats = seats.filter(assignee__isnull=False)
    elif state == "expiring":
        seats = seats.filter(active_license_q(now), ends_at__lte=now + _soon())
    elif state == "upcoming":
        seats = seats.filter(starts_at__gt=now)
    if query:
        seats = seats.filter(
            Q(assignee__account__email__icontains=query)
            | Q(assignee__account__name__icontains=query)
        )
    return seats.select_related("product", "assignee__account").order_by("id")


def ended_seats_for_org(*, organization, product, now=None):
    """Cancelled seats, and seats that ran out, latest end first. Asked as two parts, each
    read in order from its own index (`license_cancelled_by_end`, `license_live_by_end`) and
    merged, so that a page reads its 20 seats and not every seat of the product: with one
    condition "cancelled or ended" the product's 20,000 current seats were read and dropped."""
    now = now or timezone.now()
    seats = License.objects.filter(organization=organization, product=product)
    cancelled = seats.filter(cancelled_at__isnull=False).order_by()
    ran_out = seats.filter(cancelled_at__isnull=True, ends_at__lte=now).order_by()
    return cancelled.union(ran_out, all=True).order_by("-ends_at", "-id")


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


def members_without_seat(*, organization, product, query: str = "", now=None):
    """Members holding no active seat of `product`: who a bulk assignment can serve."""
    now = now or timezone.now()
    holds = License.objects.filter(assignee=OuterRef("pk"), product=product).filter(
        active_license_q(now)
    )
    members = (
        Membership.objects.filter(organization=organization)
        .exclude(Exists(holds))
        .select_related("account")
        .order_by("account__email")
    )
    query = (query or "").strip()
    if query:
        members = members.filter(
            Q(account__email__icontains=query) | Q(account__name__icontains=query)
        )
    return members


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
