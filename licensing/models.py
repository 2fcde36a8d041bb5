"""Product catalog and licenses (seats) (R11–R16); orders live in `billing`."""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from organizations.models import AccountKind


class Product(models.Model):
    """A catalog entry (R11). An inactive product is neither sold nor granted any more."""

    code = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=150)
    active = models.BooleanField(default=True)
    # Simulated checkout (R15) shows a price per seat-year; no payment provider is called.
    price = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("120.00"))
    # R16: which products take trial and beta applications on My licenses.
    trial_available = models.BooleanField(
        default=True, help_text="Accounts may apply for a 30-day trial."
    )
    beta_available = models.BooleanField(
        default=False, help_text="A beta programme is open; accounts may join it."
    )

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return f"{self.name} ({self.code})"


# A license has the same kinds as accounts (R12).
LicenseKind = AccountKind


class License(models.Model):
    """One seat of one product (R12), owned by one account or one organization.

    An organizational seat may be assigned to one member (`assignee`, R13). The unique
    constraint on (assignee, product) carries "one organizational seat per product per
    member"; a seat that ends or is cancelled is unassigned by the services, so an inactive
    seat never blocks a new assignment for long.
    """

    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="licenses")
    organization = models.ForeignKey(
        "organizations.Organization",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="licenses",
    )
    account = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="personal_licenses",
    )
    kind = models.CharField(max_length=16, choices=LicenseKind.choices, default="commercial")
    starts_at = models.DateTimeField(default=timezone.now)
    ends_at = models.DateTimeField(null=True, blank=True, help_text="Empty: perpetual.")
    cancelled_at = models.DateTimeField(null=True, blank=True)
    assignee = models.ForeignKey(
        "organizations.Membership",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="seats",
    )
    assigned_at = models.DateTimeField(null=True, blank=True)
    order_line = models.ForeignKey(
        "billing.OrderLine",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="licenses",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["product__name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(organization__isnull=False) & Q(account__isnull=True))
                | (Q(organization__isnull=True) & Q(account__isnull=False)),
                name="license_exactly_one_owner",
            ),
            models.CheckConstraint(
                condition=Q(assignee__isnull=True) | Q(organization__isnull=False),
                name="license_only_org_seats_assigned",
            ),
            models.CheckConstraint(
                condition=Q(ends_at__isnull=True) | Q(ends_at__gt=F("starts_at")),
                name="license_ends_after_start",
            ),
            # R13: a member holds at most one organizational seat per product.
            models.UniqueConstraint(
                fields=["assignee", "product"],
                condition=Q(assignee__isnull=False),
                name="license_one_seat_per_product_per_member",
            ),
            # R16: a trial, and a beta, once per product per account.
            models.UniqueConstraint(
                fields=["account", "product", "kind"],
                condition=Q(kind__in=["trial", "beta"]) & Q(account__isnull=False),
                name="license_trial_beta_once_per_product",
            ),
        ]
        indexes = [
            # Seats of one product, and their counts (overview, licenses page) from the
            # index alone: at 10,000 seats an index-only scan instead of reading every row.
            models.Index(
                fields=["organization", "product"],
                include=["cancelled_at", "starts_at", "ends_at", "assignee"],
                name="license_org_product_counts",
            ),
            # The licenses page's seat table, in seat order: read along this index rather
            # than along every organization's seats by id, skipping the others'.
            models.Index(
                fields=["organization", "product", "id"], name="license_org_product_by_id"
            ),
            # The ended seats' list, latest end first: the cancelled ones, and the others by
            # end (those up to now have run out), each read in order without the current ones.
            models.Index(
                fields=["organization", "product", "ends_at", "id"],
                condition=Q(cancelled_at__isnull=False),
                name="license_cancelled_by_end",
            ),
            models.Index(
                fields=["organization", "product", "ends_at", "id"],
                condition=Q(cancelled_at__isnull=True),
                name="license_live_by_end",
            ),
        ]

    def __str__(self):
        owner = self.organization.name if self.organization_id else self.account
        return f"{self.product.code} #{self.pk} ({owner})"

    def is_active_at(self, moment) -> bool:
        """R12: active while `moment` is within the validity and it was not cancelled."""
        return (
            self.cancelled_at is None
            and self.starts_at <= moment
            and (self.ends_at is None or moment < self.ends_at)
        )

    @property
    def is_active(self) -> bool:
        return self.is_active_at(timezone.now())


class SeatTally(models.Model):
    """How many of an organization's seats of one product share one validity window, as an
    append-only log of changes (rules.md "Performance").

    Database triggers on the seats write it (licensing/sql/seat_tally_*.sql): one row per
    statement and window (a purchase of 50 seats is one row), insert, update and delete
    alike, whoever writes. `seat_tallies_compact` (run by
    `expire_seats`) folds the log into one row per window. The seat summary adds up these rows
    (a few per order) instead of reading every seat, and `verify_ledger` compares them with
    the seats. Counts: `live` seats not cancelled, `cancelled`, `assigned` (not cancelled
    and assigned); rows of a change are signed.
    """

    organization = models.ForeignKey(
        "organizations.Organization", on_delete=models.CASCADE, related_name="+"
    )
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField(null=True, blank=True)
    live = models.IntegerField(default=0)
    cancelled = models.IntegerField(default=0)
    assigned = models.IntegerField(default=0)

    class Meta:
        verbose_name_plural = "seat tallies"
        indexes = [
            models.Index(
                fields=["organization"],
                include=["product", "starts_at", "ends_at", "live", "cancelled", "assigned"],
                name="seat_tally_by_org",
            )
        ]

    def __str__(self):
        return f"{self.product_id} {self.starts_at:%Y-%m-%d}: {self.live}/{self.assigned}"


def active_license_q(moment=None, prefix: str = "") -> Q:
    """The R12 "active" condition as a query filter, for selectors and services alike."""
    moment = moment or timezone.now()
    return (
        Q(**{f"{prefix}cancelled_at__isnull": True})
        & Q(**{f"{prefix}starts_at__lte": moment})
        & (Q(**{f"{prefix}ends_at__isnull": True}) | Q(**{f"{prefix}ends_at__gt": moment}))
    )
