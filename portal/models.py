"""Cross-cutting records: audit trail (R34), announcements (R33), API tokens."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class AuditEvent(models.Model):
    """One change, made by anyone through any door (R34). Append-only."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # How the change came in: "portal", "api", "admin", "command", "system".
    channel = models.CharField(max_length=10, default="portal")
    organization = models.ForeignKey(
        "organizations.Organization",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="audit_events",
    )
    action = models.CharField(max_length=64)
    target = models.CharField(max_length=255, blank=True)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["organization", "-created_at", "-id"]),
            models.Index(fields=["organization", "action", "-created_at", "-id"]),
        ]

    def __str__(self):
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.action} {self.target}"


class AnnouncementLevel(models.TextChoices):
    INFO = "info", "Information"
    WARNING = "warning", "Warning"
    CRITICAL = "critical", "Critical"


class Announcement(models.Model):
    """A banner shown to every signed-in user while current (R33)."""

    title = models.CharField(max_length=150)
    text = models.TextField(blank=True)
    link = models.URLField(blank=True)
    level = models.CharField(
        max_length=10, choices=AnnouncementLevel.choices, default=AnnouncementLevel.INFO
    )
    starts_at = models.DateTimeField(default=timezone.now)
    ends_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-starts_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__isnull=True) | Q(ends_at__gt=models.F("starts_at")),
                name="announcement_ends_after_start",
            ),
        ]

    def __str__(self):
        return self.title


class AnnouncementDismissal(models.Model):
    announcement = models.ForeignKey(
        Announcement, on_delete=models.CASCADE, related_name="dismissals"
    )
    account = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    dismissed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["announcement", "account"], name="announcement_dismissed_once"
            ),
        ]

    def __str__(self):
        return f"{self.account} dismissed {self.announcement}"


class Scope(models.TextChoices):
    ENTITLEMENTS_READ = "entitlements:read", "entitlements:read"
    CREDITS_READ = "credits:read", "credits:read"
    CREDITS_CONSUME = "credits:consume", "credits:consume"
    ORG_ADMIN = "org:admin", "org:admin"
    # R44: the organization's directory provisions its members at /scim/v2/.
    SCIM = "scim", "scim"


SERVICE_SCOPES = {Scope.ENTITLEMENTS_READ, Scope.CREDITS_READ, Scope.CREDITS_CONSUME}
ORGANIZATION_SCOPES = {Scope.ORG_ADMIN, Scope.SCIM}


class ApiToken(models.Model):
    """A bearer token. Only its SHA-256 is stored; the token is shown once on creation.

    Service tokens (no organization) carry service scopes; organization tokens carry
    `org:admin` or `scim` (or both) and see only their organization.
    """

    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12, help_text="First characters, to recognise it.")
    token_hash = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField(default=list)
    organization = models.ForeignKey(
        "organizations.Organization",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="api_tokens",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class JobError(models.Model):
    """The last error of a background job (R45), shown to staff beside the job in the admin:
    Procrastinate keeps a job's state and events, not why it failed."""

    job_id = models.BigIntegerField(unique=True)
    task_name = models.CharField(max_length=128)
    attempts = models.PositiveIntegerField()
    error = models.TextField()
    failed_at = models.DateTimeField()

    class Meta:
        ordering = ["-failed_at"]

    def __str__(self):
        return f"job {self.job_id}: {self.error[:60]}"
