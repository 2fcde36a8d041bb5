"""Wallets, lots, the append-only ledger, credit access and quotas (R17–R30).

Amounts are `Decimal` with two places, stored as NUMERIC (R17). A wallet is the balance row of
one owner: an organization's pool or one account's personal credits. It is the row every
movement locks first (DESIGN-NOTES: serialize per owner, lock in one order: wallet, then
access, then lots by id).
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

AMOUNT = {"max_digits": 16, "decimal_places": 2}


class Wallet(models.Model):
    """The balance row of an organization's pool or of one account's personal credits.

    `balance` caches the sum of the remaining amounts of the owner's lots that have no expiry
    entry yet; `verify_ledger` checks it against the ledger (R27).
    """

    organization = models.OneToOneField(
        "organizations.Organization",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="wallet",
    )
    account = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="wallet",
    )
    balance = models.DecimalField(**AMOUNT, default=0)
    # R30: set when the low-balance alert went out; cleared when the pool is topped up again.
    low_balance_alerted = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(Q(organization__isnull=False) & Q(account__isnull=True))
                | (Q(organization__isnull=True) & Q(account__isnull=False)),
                name="wallet_exactly_one_owner",
            ),
            models.CheckConstraint(condition=Q(balance__gte=0), name="wallet_balance_not_negative"),
        ]

    def __str__(self):
        if self.organization_id:
            return f"Pool of {self.organization}"
        return f"Personal credits of {self.account}"


class EntryKind(models.TextChoices):
    PURCHASE = "purchase", "Purchase"
    GRANT = "grant", "Grant"
    TRIAL = "trial", "Trial"
    CONSUMPTION = "consumption", "Consumption"
    REFUND = "refund", "Refund"
    EXPIRY = "expiry", "Expiry"
    CORRECTION = "correction", "Correction"
    # R35-R37: credits taken into a hold (opened or raised), and given back from it.
    HOLD = "hold", "Set aside for a running job"
    RELEASE = "release", "Given back by a finished job"


class LedgerEntry(models.Model):
    """One movement of credits (R27). Never updated or deleted.

    `amount` is the signed change of the wallet: positive for purchases, grants, trials and
    refunds; negative for consumptions and expiries; either for corrections.
    """

    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="entries")
    kind = models.CharField(max_length=12, choices=EntryKind.choices)
    amount = models.DecimalField(**AMOUNT)
    # Whose credits moved: the consumer for consumptions and refunds, the owner otherwise.
    account = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="ledger_entries",
    )
    # Organization of the pool, copied from the wallet so that usage queries need no join.
    organization = models.ForeignKey(
        "organizations.Organization",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="ledger_entries",
    )
    # R25: the caller's idempotency key, unique across the portal.
    reference = models.CharField(max_length=200, null=True, blank=True, unique=True)
    # R26: a refund points at its consumption; one refund per consumption.
    refund_of = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="refunds"
    )
    # What the account could spend right after this entry, answered again on a replay (R25).
    available_after = models.DecimalField(**AMOUNT, null=True, blank=True)
    # R22: for a consumption under a quota, the limit in force and the usage right after it,
    # so that "no quota was ever overdrawn" is a database fact that `verify_ledger` re-checks.
    quota_limit = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    quota_used_after = models.DecimalField(**AMOUNT, null=True, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    note = models.CharField(max_length=255, blank=True)
    # R35-R37: the hold this entry belongs to (its opening, raises, captured consumption and
    # what it gave back); the hold's reference is on its captured consumption only.
    hold = models.ForeignKey(
        "Hold", on_delete=models.PROTECT, null=True, blank=True, related_name="entries"
    )
    # R40: a purchase points at its order (its receipt); grants carry a note instead.
    order = models.ForeignKey(
        "billing.Order",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="ledger_entries",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "ledger entries"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["refund_of"],
                condition=Q(refund_of__isnull=False),
                name="ledger_one_refund_per_consumption",
            ),
            models.CheckConstraint(condition=~Q(amount=0), name="ledger_amount_not_zero"),
            models.CheckConstraint(
                condition=Q(kind__in=["consumption", "expiry", "hold"], amount__lt=0)
                | Q(kind__in=["purchase", "grant", "trial", "refund", "release"], amount__gt=0)
                | Q(kind="correction"),
                name="ledger_amount_sign_matches_kind",
            ),
            models.CheckConstraint(
                condition=Q(kind="consumption", reference__isnull=False) | ~Q(kind="consumption"),
                name="ledger_consumption_has_reference",
            ),
            models.CheckConstraint(
                condition=Q(quota_limit__isnull=True) | Q(quota_used_after__lte=F("quota_limit")),
                name="ledger_quota_never_overdrawn",
            ),
        ]
        indexes = [
            models.Index(fields=["wallet", "-created_at", "-id"]),
            models.Index(fields=["account", "organization", "created_at"]),
            # An account's own history, newest first (My credits): a render farm's service
            # account draws hundreds of thousands of entries, which were sorted on each page.
            models.Index(fields=["account", "-created_at", "-id"], name="ledger_account_newest"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {self.amount} ({self.wallet})"


class HoldStatus(models.TextChoices):
    OPEN = "open", "Open"
    CAPTURED = "captured", "Captured"
    RELEASED = "released", "Released"
    EXPIRED = "expired", "Expired"


class Hold(models.Model):
    """Credits held for a running render job (R35-R38), written only by the database
    functions in credits/sql/consume.sql. `amount` is what is held now (or was, when
    settled); the credits themselves left their lots in the hold's ledger entries."""

    reference = models.CharField(max_length=200, unique=True)
    account = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="credit_holds"
    )
    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="holds")
    # The pool's organization; empty for personal credits.
    organization = models.ForeignKey(
        "organizations.Organization",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="credit_holds",
    )
    opening_amount = models.DecimalField(**AMOUNT)
    amount = models.DecimalField(**AMOUNT)
    status = models.CharField(max_length=10, choices=HoldStatus.choices, default="open")
    captured = models.DecimalField(**AMOUNT, null=True, blank=True)
    # R37: the quota period the hold counts in (a monthly access's month; else empty).
    period_start = models.DateTimeField(null=True, blank=True)
    opened_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    settled_at = models.DateTimeField(null=True, blank=True)
    # R38: a repeated capture or release answers what the first one answered.
    capture_requested = models.DecimalField(**AMOUNT, null=True, blank=True)
    settled_available_after = models.DecimalField(**AMOUNT, null=True, blank=True)
    # Why staff released it from the admin (audited too).
    release_reason = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["-opened_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="hold_amount_positive"),
            models.CheckConstraint(
                condition=Q(captured__isnull=True)
                | (Q(captured__gt=0) & Q(captured__lte=F("amount"))),
                name="hold_capture_within_amount",
            ),
        ]
        indexes = [
            models.Index(
                fields=["wallet", "expires_at"],
                condition=Q(status="open"),
                name="hold_open_by_wallet",
            ),
            models.Index(
                fields=["organization", "-opened_at"],
                condition=Q(status="open"),
                name="hold_open_by_org",
            ),
        ]

    def __str__(self):
        return f"Hold {self.reference}: {self.amount} ({self.status})"


class LotOrigin(models.TextChoices):
    PURCHASE = "purchase", "Purchase"
    TRIAL = "trial", "Trial"
    GRANT = "grant", "Grant"
    REFUND = "refund", "Refund"


class Lot(models.Model):
    """Credits that arrived together (R18). `remaining` never leaves 0…amount."""

    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="lots")
    origin = models.CharField(max_length=10, choices=LotOrigin.choices)
    amount = models.DecimalField(**AMOUNT)
    remaining = models.DecimalField(**AMOUNT)
    arrived_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Empty: never expires.")
    # The entry that brought the lot in; its expiry entry once expired (R28).
    entry = models.ForeignKey(LedgerEntry, on_delete=models.PROTECT, related_name="created_lots")
    expired_entry = models.OneToOneField(
        LedgerEntry,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="expired_lot",
    )

    class Meta:
        ordering = ["expires_at", "arrived_at", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="lot_amount_positive"),
            models.CheckConstraint(
                condition=Q(remaining__gte=0) & Q(remaining__lte=F("amount")),
                name="lot_remaining_within_amount",
            ),
        ]
        indexes = [
            # Burn order (R23): soonest expiry, then oldest arrival, then id.
            models.Index(
                fields=["wallet", "expires_at", "arrived_at", "id"],
                condition=Q(remaining__gt=0),
                name="lot_burn_order",
            ),
        ]

    def __str__(self):
        return f"Lot #{self.pk}: {self.remaining}/{self.amount} ({self.get_origin_display()})"


class LotMovement(models.Model):
    """What one ledger entry took from or gave back to one lot (negative: taken)."""

    entry = models.ForeignKey(LedgerEntry, on_delete=models.PROTECT, related_name="movements")
    lot = models.ForeignKey(Lot, on_delete=models.PROTECT, related_name="movements")
    amount = models.DecimalField(**AMOUNT)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["entry", "lot"], name="lot_movement_once"),
            models.CheckConstraint(condition=~Q(amount=0), name="lot_movement_not_zero"),
        ]

    def __str__(self):
        return f"{self.amount} on lot #{self.lot_id}"


class AccessMode(models.TextChoices):
    DISABLED = "disabled", "Disabled"
    UNLIMITED = "unlimited", "Unlimited"
    QUOTA = "quota", "Quota"


class QuotaPeriod(models.TextChoices):
    NONE = "none", "All time"
    MONTHLY = "monthly", "Monthly"


class CreditAccess(models.Model):
    """A member's organizational credit access (R20).

    `account` repeats the membership's account so that "access enabled in at most one
    organization" (R21) is a partial unique index. `used` caches the usage in the period that
    starts at `period_start` (R22), updated with the ledger in one transaction.
    """

    membership = models.OneToOneField(
        "organizations.Membership", on_delete=models.CASCADE, related_name="credit_access"
    )
    account = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    organization = models.ForeignKey(
        "organizations.Organization", on_delete=models.CASCADE, related_name="credit_accesses"
    )
    mode = models.CharField(max_length=10, choices=AccessMode.choices, default=AccessMode.DISABLED)
    limit = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    period = models.CharField(max_length=8, choices=QuotaPeriod.choices, default=QuotaPeriod.NONE)
    period_start = models.DateTimeField(null=True, blank=True)
    used = models.DecimalField(**AMOUNT, default=0)
    # R30: highest alert sent in the current period (0, 80 or 100).
    alert_level = models.PositiveSmallIntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "credit access"
        constraints = [
            models.UniqueConstraint(
                fields=["account"],
                condition=~Q(mode="disabled"),
                name="credit_access_enabled_in_one_org",
            ),
            models.CheckConstraint(
                condition=(Q(mode="quota") & Q(limit__isnull=False) & Q(limit__gte=0))
                | (~Q(mode="quota") & Q(limit__isnull=True)),
                name="credit_access_limit_only_with_quota",
            ),
            models.CheckConstraint(
                condition=Q(used__gte=0), name="credit_access_used_not_negative"
            ),
        ]

    def __str__(self):
        return f"{self.account}: {self.mode}"


class CreditRequestState(models.TextChoices):
    OPEN = "open", "Waiting for an answer"
    APPROVED = "approved", "Approved"
    DENIED = "denied", "Denied"
    CLOSED = "closed", "Closed"
    WITHDRAWN = "withdrawn", "Withdrawn"


class CreditRequest(models.Model):
    """A member asks the administrator for more credits (R29)."""

    organization = models.ForeignKey(
        "organizations.Organization", on_delete=models.CASCADE, related_name="credit_requests"
    )
    account = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    message = models.TextField(blank=True, max_length=2000)
    state = models.CharField(
        max_length=10, choices=CreditRequestState.choices, default=CreditRequestState.OPEN
    )
    created_at = models.DateTimeField(default=timezone.now)
    # When and by whom it was answered (approved, denied, closed) or withdrawn, and why.
    closed_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    reason = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount__gt=0), name="credit_request_amount_positive"
            ),
            # R29: one open request per member at a time, whatever races.
            models.UniqueConstraint(
                fields=["account"],
                condition=Q(state="open"),
                name="credit_request_one_open_per_member",
            ),
        ]
        indexes = [models.Index(fields=["organization", "state", "-created_at"])]

    def __str__(self):
        return f"{self.account} asks {self.amount}"


class PoolUsageDay(models.Model):
    """Net consumption of an organization's pool on one day (UTC): that day's consumptions
    minus their refunds, whenever they come (R22 counts usage in the period of the
    consumption). Kept with every consumption and refund, under the pool's wallet lock, and
    checked against the ledger by `verify_ledger`; the usage chart reads a month as at most 31
    of these rows instead of summing a month of entries."""

    organization = models.ForeignKey(
        "organizations.Organization", on_delete=models.CASCADE, related_name="+"
    )
    day = models.DateField()
    consumed = models.DecimalField(**AMOUNT, default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "day"], name="pool_usage_day_unique"),
            models.CheckConstraint(
                condition=Q(consumed__gte=0), name="pool_usage_day_not_negative"
            ),
        ]

    def __str__(self):
        return f"{self.organization_id} {self.day}: {self.consumed}"


class MemberUsageMonth(models.Model):
    """Net consumption of one member from an organization's pool in one calendar month (UTC),
    counted like `PoolUsageDay`. Its index gives the month's top members without reading
    every member's row."""

    organization = models.ForeignKey(
        "organizations.Organization", on_delete=models.CASCADE, related_name="+"
    )
    account = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    month = models.DateField(help_text="The first day of the month.")
    consumed = models.DecimalField(**AMOUNT, default=0)

    class Meta:
        constraints = [
            # (organization, account, …): also the index of a member's all-time usage.
            models.UniqueConstraint(
                fields=["organization", "account", "month"], name="member_usage_month_unique"
            ),
            models.CheckConstraint(
                condition=Q(consumed__gte=0), name="member_usage_month_not_negative"
            ),
        ]
        indexes = [
            models.Index(
                F("organization"),
                F("month"),
                F("consumed").desc(),
                F("account"),
                name="member_usage_month_top",
            )
        ]

    def __str__(self):
        return f"{self.account_id} {self.month:%Y-%m}: {self.consumed}"
