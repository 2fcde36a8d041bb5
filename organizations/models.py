"""Accounts, organizations, memberships, invitations and setup requests (R1–R9)."""

import secrets

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.contrib.postgres.indexes import GinIndex, OpClass
from django.contrib.sessions.base_session import AbstractBaseSession
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower, Upper
from django.urls import reverse
from django.utils import timezone
from django_otp.models import Device


class AccountKind(models.TextChoices):
    COMMERCIAL = "commercial", "Commercial"
    TRIAL = "trial", "Trial"
    BETA = "beta", "Beta"
    ALPHA = "alpha", "Alpha"
    PLE = "ple", "Personal learning edition"
    STUDENT = "student", "Student"
    EDUCATOR = "educator", "Educator"


def generate_customer_number() -> str:
    """Ten digits, not starting with 0, not guessable from the account's age (R1)."""
    return str(secrets.randbelow(9_000_000_000) + 1_000_000_000)


def normalize_email(email: str) -> str:
    """Emails are compared case-insensitively (R1); they are stored lower-cased and trimmed."""
    return (email or "").strip().lower()


class AccountManager(BaseUserManager):
    use_in_migrations = True

    def get_by_natural_key(self, username):
        return self.get(email=normalize_email(username))

    def create_user(self, email, password=None, **extra_fields):
        """Plain row creation; use `organizations.services.account_create` for the R2 rule."""
        if not email:
            raise ValueError("An account needs an email address.")
        account = self.model(email=normalize_email(email), **extra_fields)
        account.set_password(password)
        account.save(using=self._db)
        return account

    def create_superuser(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", True)
        extra_fields.setdefault("is_superuser", True)
        return self.create_user(email, password, **extra_fields)


class Account(AbstractBaseUser, PermissionsMixin):
    """A person who signs in. Login is the email (R1)."""

    email = models.EmailField(max_length=254, unique=True)
    name = models.CharField(max_length=150, blank=True)
    kind = models.CharField(max_length=16, choices=AccountKind.choices, default=AccountKind.TRIAL)
    customer_number = models.CharField(
        max_length=10, unique=True, default=generate_customer_number, editable=False
    )
    is_staff = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=timezone.now)
    # R42: wrong second-factor codes count per account (whichever device or address they come
    # from); past the limit the account's second step is closed until `locked_until`.
    second_factor_failures = models.PositiveSmallIntegerField(default=0, editable=False)
    second_factor_locked_until = models.DateTimeField(null=True, blank=True, editable=False)

    objects = AccountManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["name"]

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("email"), name="account_email_ci_unique"),
        ]
        # The members search (R10) is `icontains`, UPPER(col) LIKE UPPER('%…%'), which no
        # B-tree serves: trigram indexes on the same expressions answer it (pg_trgm).
        indexes = [
            GinIndex(OpClass(Upper("email"), name="gin_trgm_ops"), name="account_email_trgm"),
            GinIndex(OpClass(Upper("name"), name="gin_trgm_ops"), name="account_name_trgm"),
        ]

    def __str__(self):
        return self.email

    def save(self, *args, **kwargs):
        self.email = normalize_email(self.email)
        super().save(*args, **kwargs)

    @property
    def display_name(self) -> str:
        return self.name or self.email

    def get_full_name(self):
        return self.display_name

    def get_short_name(self):
        return self.name or self.email.split("@")[0]


class Organization(models.Model):
    """A customer organization (R2–R5).

    `administrator` makes "exactly one administrator" and "administers at most one
    organization" database facts (R4, R5). `customer_number` is the number of the account the
    organization was created for and never changes, even when the role is transferred (R2).
    """

    name = models.CharField(max_length=150)
    customer_number = models.CharField(max_length=10, unique=True)
    administrator = models.OneToOneField(
        Account, on_delete=models.PROTECT, related_name="administered_organization"
    )
    # R30: the administrator is alerted when the pool falls below this amount.
    low_balance_threshold = models.DecimalField(
        max_digits=14, decimal_places=2, null=True, blank=True
    )
    created_at = models.DateTimeField(default=timezone.now)
    # R42: members must sign in with a second factor.
    require_second_factor = models.BooleanField(default=False)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return f"{self.name} ({self.customer_number})"


class Role(models.TextChoices):
    ADMIN = "admin", "Administrator"
    MEMBER = "member", "Member"


class Membership(models.Model):
    """An account's place in an organization.

    The administrator has a membership too (role `admin`, R4) so that seats and credit access
    are assigned to memberships alike. Partial unique indexes carry R4 and R5.
    """

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="memberships"
    )
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=8, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(default=timezone.now)
    # Sort keys of the members list, copied here so that a page of it is read along an index
    # instead of sorting every member (rules.md "Performance"): the account's name (its email
    # when it has none), lower-cased, the account's email, and the credit access mode.
    # Database triggers keep them whatever writes the account or the access
    # (organizations/sql/*_sort_name.sql, credits/sql/access_mode_to_membership.sql); the
    # application never sets them.
    sort_name = models.CharField(max_length=254, db_default="", editable=False)
    sort_email = models.CharField(max_length=254, db_default="", editable=False)
    credit_mode = models.CharField(max_length=10, db_default="disabled", editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "account"], name="membership_once_per_org"
            ),
            # R4: one administrator membership per organization.
            models.UniqueConstraint(
                fields=["organization"],
                condition=Q(role="admin"),
                name="membership_one_admin_per_org",
            ),
            # R5: an account administers at most one organization.
            models.UniqueConstraint(
                fields=["account"],
                condition=Q(role="admin"),
                name="membership_admin_of_one_org",
            ),
            # R5: an account is a user in at most one organization besides its own.
            models.UniqueConstraint(
                fields=["account"],
                condition=Q(role="member"),
                name="membership_member_of_one_org",
            ),
        ]
        # One index per order of the members list (both directions read the same index),
        # each ending with the id that breaks ties, so that any page of any order, the last
        # one included, starts where the index says and stops after a page.
        indexes = [
            models.Index(fields=["organization", "created_at", "id"], name="membership_by_since"),
            models.Index(fields=["organization", "sort_name", "id"], name="membership_by_name"),
            models.Index(fields=["organization", "sort_email", "id"], name="membership_by_email"),
            models.Index(
                fields=["organization", "role", "sort_name", "id"], name="membership_by_role"
            ),
            models.Index(
                fields=["organization", "credit_mode", "sort_name", "id"],
                name="membership_by_credit",
            ),
        ]

    def __str__(self):
        return f"{self.account} in {self.organization.name} ({self.role})"

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN


class InvitationState(models.TextChoices):
    PENDING = "pending", "Pending"
    ACCEPTED = "accepted", "Accepted"
    CANCELLED = "cancelled", "Cancelled"


class Invitation(models.Model):
    """An invitation of an unknown email to join an organization (R6).

    Only a hash of the link's token is stored. Single-use, bound to `email`, valid until
    `expires_at`; an expired invitation stays `pending` in the table and is shown as expired.
    """

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="invitations"
    )
    email = models.EmailField(max_length=254)
    token_hash = models.CharField(max_length=64, unique=True)
    state = models.CharField(
        max_length=10, choices=InvitationState.choices, default=InvitationState.PENDING
    )
    invited_by = models.ForeignKey(
        Account, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_account = models.ForeignKey(
        Account, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "email"],
                condition=Q(state="pending"),
                name="invitation_one_pending_per_email",
            ),
        ]
        # The members list's orders over pending invitations (name is the lower-cased
        # email; role, status and credit access are the same for every invitation and
        # follow the name).
        indexes = [
            models.Index(fields=["organization", "state", "created_at"]),
            models.Index(
                "organization",
                Lower("email"),
                "id",
                condition=Q(state="pending"),
                name="invitation_pending_by_name",
            ),
            models.Index(
                fields=["organization", "email", "id"],
                condition=Q(state="pending"),
                name="invitation_pending_by_email",
            ),
            models.Index(
                fields=["organization", "created_at", "id"],
                condition=Q(state="pending"),
                name="invitation_pending_by_since",
            ),
            # The members list's search reads the matching invitations, not all of them.
            GinIndex(
                OpClass(Upper("email"), name="gin_trgm_ops"),
                condition=Q(state="pending"),
                name="invitation_email_trgm",
            ),
        ]

    def __str__(self):
        return f"Invitation of {self.email} to {self.organization.name}"

    @property
    def is_expired(self) -> bool:
        return timezone.now() >= self.expires_at


class MemberTally(models.Model):
    """How many members and pending invitations an organization has, as an append-only log
    of signed changes (rules.md "Performance"), so that the members list and the overview
    count from a few rows instead of every member.

    Database triggers on memberships and invitations write it
    (organizations/sql/member_tally_*.sql): one row per statement and organization, whoever
    writes, so that concurrent additions never wait on one counter row.
    `member_tallies_compact` folds the log into one row per organization.
    """

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    members = models.IntegerField(default=0)
    invitations = models.IntegerField(default=0)

    class Meta:
        verbose_name_plural = "member tallies"
        indexes = [
            models.Index(
                fields=["organization"],
                include=["members", "invitations"],
                name="member_tally_by_org",
            )
        ]

    def __str__(self):
        return f"{self.organization_id}: {self.members:+d} members, {self.invitations:+d} invited"


class SetupRequestState(models.TextChoices):
    PENDING = "pending", "Pending"
    CONFIRMED = "confirmed", "Confirmed"
    REJECTED = "rejected", "Rejected"
    WITHDRAWN = "withdrawn", "Withdrawn"


class SetupRequest(models.Model):
    """A non-commercial account's request for an organization (R3)."""

    requester = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="setup_requests")
    organization_name = models.CharField(max_length=150)
    admin_email = models.EmailField(max_length=254)
    admin_customer_number = models.CharField(max_length=10)
    admin_account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="setup_requests_to_administer"
    )
    state = models.CharField(
        max_length=10, choices=SetupRequestState.choices, default=SetupRequestState.PENDING
    )
    rejection_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        Account, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    organization = models.ForeignKey(
        Organization, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # One open request per requester at a time.
            models.UniqueConstraint(
                fields=["requester"],
                condition=Q(state="pending"),
                name="setup_request_one_pending",
            ),
        ]

    def __str__(self):
        return f"Setup request by {self.requester} ({self.state})"

    def get_absolute_url(self):
        return reverse("organizations:setup")


def invitation_link(token: str) -> str:
    return settings.PORTAL_BASE_URL.rstrip("/") + reverse(
        "organizations:invitation_accept", args=[token]
    )


class MemberImportState(models.TextChoices):
    QUEUED = "queued", "Waiting to start"
    RUNNING = "running", "Adding users"
    DONE = "done", "Done"
    FAILED = "failed", "Stopped by an error"


class MemberImport(models.Model):
    """A CSV bulk add (R7) and its per-row report, kept for later viewing.

    Applied by a background job (R45) in batches: `emails` are the previewed addresses in
    order, `rows_processed` how many of them are done. `rows` holds one dict per processed
    row: `line`, `email`, `status` (`added`, `invited`, `skipped`), and for skipped rows the
    `reason` in plain words.
    """

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="member_imports"
    )
    created_by = models.ForeignKey(
        Account, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    filename = models.CharField(max_length=255, blank=True)
    rows = models.JSONField(default=list)
    added = models.PositiveIntegerField(default=0)
    invited = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    state = models.CharField(
        max_length=10, choices=MemberImportState.choices, default=MemberImportState.QUEUED
    )
    emails = models.JSONField(default=list)
    rows_total = models.PositiveIntegerField(default=0)
    rows_processed = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["organization", "-created_at"])]

    def __str__(self):
        return f"Import of {self.filename or 'a CSV file'} into {self.organization.name}"

    def get_absolute_url(self):
        return reverse("organizations:member_import_report", args=[self.pk])

    @property
    def is_done(self) -> bool:
        return self.state == MemberImportState.DONE


class Passkey(Device):
    """A WebAuthn credential (R42), kept as a django-otp device so that signing in with it
    verifies the session like any other second factor. `name` is the owner's label."""

    # base64url of the credential id the authenticator chose; how sign-in finds the passkey.
    credential_id = models.CharField(max_length=1400, unique=True)
    public_key = models.BinaryField()
    sign_count = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta(Device.Meta):
        verbose_name = "passkey"

    def verify_token(self, token):
        # A passkey answers a WebAuthn challenge (organizations.services.security), never a
        # typed code.
        return False


class AccountSession(AbstractBaseSession):
    """A browser session, with whose it is and where it was last used (R42: an account sees its
    sessions and ends the others). The session store fills the extra columns from the session's
    own data when it saves, so tracking costs no query of its own."""

    account = models.ForeignKey(
        Account, null=True, blank=True, on_delete=models.CASCADE, related_name="sessions"
    )
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    signed_in_at = models.DateTimeField(null=True, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)

    @classmethod
    def get_session_store_class(cls):
        from organizations.sessions import SessionStore

        return SessionStore


class IdentityProvider(models.Model):
    """The organization's OpenID Connect provider (R43). The client secret is kept encrypted
    (organizations.sso.secret_encrypt) and never shown again. `sign_on_required`: members at
    the organization's confirmed domains sign in through the provider only, except the
    administrator."""

    organization = models.OneToOneField(
        Organization, on_delete=models.CASCADE, related_name="identity_provider"
    )
    issuer = models.URLField(max_length=300)
    client_id = models.CharField(max_length=200)
    client_secret_encrypted = models.TextField(editable=False)
    sign_on_required = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return f"{self.issuer} for {self.organization.name}"


class EmailDomain(models.Model):
    """An email domain staff confirmed as the organization's (R43): its people sign in through
    the organization's provider, and that provider signs in nobody outside its domains. One
    organization per domain (lower case, without the @)."""

    domain = models.CharField(max_length=253, unique=True)
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="email_domains"
    )
    confirmed_by = models.ForeignKey(
        Account, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    confirmed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["domain"]
        constraints = [
            models.CheckConstraint(
                condition=Q(domain=Lower("domain")) & ~Q(domain__contains="@"),
                name="email_domain_lower_case",
            )
        ]

    def __str__(self):
        return self.domain
