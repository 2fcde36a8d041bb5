"""Consumption (R22-R25, R30): one call of the `credits_consume` database function
(credits/sql/consume.sql), its answers turned into results and errors. The statement saves
the alerts as a job (R45); `alerts_send` is what the worker runs for it."""

from dataclasses import dataclass
from decimal import Decimal

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from credits.models import (
    CreditAccess,
    EntryKind,
    LedgerEntry,
    QuotaPeriod,
)
from credits.selectors import (
    current_period_start,
)
from credits.services.ledger import _amount, _validate_reference
from organizations.models import Account, Organization, normalize_email
from portal import errors
from portal.amounts import format_amount
from portal.audit import current_channel
from portal.emails import email_send


@dataclass
class ConsumptionResult:
    body: dict
    created: bool


def _consumption_body(entry: LedgerEntry, email: str) -> dict:
    return {
        "reference": entry.reference,
        "account": email,
        "amount": format_amount(-entry.amount),
        "source": "organization" if entry.organization_id else "personal",
        "available_after": format_amount(entry.available_after),
    }


def _replay(entry: LedgerEntry, account, amount: Decimal) -> ConsumptionResult:
    """R25: the same reference answers the first body; a different payload is a conflict."""
    if entry.kind != EntryKind.CONSUMPTION or entry.account_id != account.pk:
        raise errors.ReferenceConflict(field="reference")
    if -entry.amount != amount:
        raise errors.ReferenceConflict(field="reference")
    return ConsumptionResult(body=_consumption_body(entry, account.email), created=False)


def credits_consume(*, account, amount, reference, actor=None) -> ConsumptionResult:
    """Consume `amount` credits for `account` under the caller's `reference` (R22–R25).

    Routing (R23): personal credits when active, else the pool of the organization where the
    account's access is enabled, under that access, else `no_credit_source`. Everything that
    needs no lock (reference, source lookup) happens first; then one transaction locks the
    wallet, the access and the lots, checks quota and pool, writes the entry and the caches.
    A concurrent duplicate reference loses on the unique index and answers the first body.
    """
    amount = _amount(amount)
    _validate_reference(reference)
    return _consume_in_database(
        email=account.email, amount=amount, reference=reference, actor=actor
    )


def credits_consume_for_email(
    *, email, amount, reference, actor=None, token=None
) -> ConsumptionResult:
    """`credits_consume` for the account with this email (the API's door): on PostgreSQL the
    account is looked up inside the one statement, which saves a round trip per request.

    `token`: the API's bearer token not yet looked up (`portal.api.PendingToken`, PostgreSQL
    only); the statement checks it and its scope before anything else (401, 403)."""
    amount = _amount(amount)
    email = normalize_email(email)
    if not email or "\x00" in email:
        raise errors.NotFound("No account with this email.")
    _validate_reference(reference)
    return _consume_in_database(
        email=email, amount=amount, reference=reference, actor=actor, token=token
    )


_CONSUME_SQL = "SELECT * FROM credits_consume(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"


_CONSUME_COLUMNS = [
    "outcome",
    "entry_id",
    "entry_kind",
    "entry_account",
    "entry_amount",
    "entry_organization",
    "available_after",
    "figure",
    "quota_limit",
    "quota_period",
    "used_after",
    "alert_before",
    "alert_after",
    "low_balance",
    "organization_id",
    "account_id",
]


def _consume_in_database(*, email, amount, reference, actor, token=None) -> ConsumptionResult:
    row = consume_statement(
        email=email, amount=amount, reference=reference, actor=actor, token=token
    )
    if row is None:
        # R25: the same reference arrived at the same moment and was recorded first.
        account = Account.objects.get(email=email)
        return _replay(LedgerEntry.objects.get(reference=reference), account, amount)
    result = dict(zip(_CONSUME_COLUMNS, row, strict=True))
    outcome = result["outcome"]
    if outcome == "replay":
        if (
            result["entry_kind"] != EntryKind.CONSUMPTION
            or result["entry_account"] != (result["account_id"])
        ):
            raise errors.ReferenceConflict(field="reference")
        if -result["entry_amount"] != amount:
            raise errors.ReferenceConflict(field="reference")
        created = False
    elif outcome == "hold_reference":
        # R38: a hold's reference is never a consumption's, captured or not.
        raise errors.ReferenceConflict(
            "This reference belongs to a hold; capture the hold instead.", field="reference"
        )
    elif outcome == "created":
        created = True
    else:
        raise refusal(result, token)
    body = {
        "reference": reference,
        "account": email,
        "amount": format_amount(-result["entry_amount"]),
        "source": "organization" if result["entry_organization"] else "personal",
        "available_after": format_amount(result["available_after"]),
    }
    return ConsumptionResult(body=body, created=created)


def consume_statement(*, email, amount, reference, actor, token=None, hold_expires_at=None):
    """R22-R25 through the `credits_consume` database function (credits/sql/consume.sql).

    The rules and the portal's lock order in one statement: outside a transaction it
    runs in autocommit, so the pool's wallet row stays locked only while the statement runs
    and commits, never across a round trip to Python. Inside a caller's transaction it runs
    in a savepoint, so that a lost race on the reference leaves that transaction usable.
    Alerts (R30) are a job that the statement saves with the consumption (R45).
    """
    now = timezone.now()
    args = [
        email,
        amount,
        reference,
        now,
        current_period_start(QuotaPeriod.MONTHLY, now),
        current_channel(),
        actor.pk if getattr(actor, "pk", None) else None,
        token.digest if token is not None else None,
        token.scope if token is not None else None,
        hold_expires_at,
    ]
    try:
        if connection.in_atomic_block:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(_CONSUME_SQL, args)
                row = cursor.fetchone()
        else:
            with connection.cursor() as cursor:
                cursor.execute(_CONSUME_SQL, args)
                row = cursor.fetchone()
    except IntegrityError as exc:
        if "reference" not in str(exc):
            raise
        return None
    return row


def refusal(result, token=None) -> errors.DomainError:
    """The error for a refused statement (R22, R35, R36), from its outcome and figure."""
    outcome, figure = result["outcome"], result["figure"]
    if outcome == "unauthenticated":
        return errors.Unauthenticated()
    if outcome == "forbidden":
        return errors.Forbidden(f"This token lacks the scope {token.scope}.")
    if outcome == "no_account":
        return errors.NotFound("No account with this email.")
    if outcome == "no_source":
        return errors.NoCreditSource(
            "This account has no personal credits and no organizational credit access."
        )
    if outcome == "access_disabled":
        return errors.NoCreditSource("This account's organizational credit access was disabled.")
    if outcome == "insufficient_personal":
        return errors.InsufficientCredits(
            f"Only {format_amount(figure)} personal credits are available.", field="amount"
        )
    if outcome == "quota_exceeded":
        monthly = result["quota_period"] == QuotaPeriod.MONTHLY
        return errors.QuotaExceeded(
            f"This would exceed the quota: {format_amount(figure)} of "
            f"{format_amount(result['quota_limit'])} left" + (" this month." if monthly else "."),
            field="amount",
        )
    if outcome == "insufficient_pool":
        return errors.InsufficientCredits(
            f"Only {format_amount(figure)} credits are available in the pool.", field="amount"
        )
    raise AssertionError(f"unknown consumption outcome {outcome!r}")


def alerts_send(*, account_id, organization_id, quota_level, used_after, pool_after) -> None:
    """R30 from what the consumption statement saved in its job: a quota threshold crossed
    (`quota_level`, 80 or 100), the pool fallen below the organization's threshold
    (`pool_after`). Run by the worker; the emails are jobs of their own (R45)."""
    access = (
        CreditAccess.objects.select_related("organization__administrator", "account")
        .filter(account_id=account_id, organization_id=organization_id)
        .first()
    )
    if access is None:
        # The member left the organization meanwhile; the pool's alert still matters.
        organization = Organization.objects.select_related("administrator").get(pk=organization_id)
    else:
        organization = access.organization
    with transaction.atomic():
        if quota_level and access is not None:
            _alert_quota(access, access.account, quota_level, Decimal(used_after))
        if pool_after is not None:
            _alert_low_balance(organization, Decimal(pool_after))


def _alert_quota(access, account, level, used_after) -> None:
    """R30: the member and the administrator hear once per crossing of 80% and of 100%."""
    organization = access.organization
    context = {
        "account": account,
        "organization": organization,
        "level": level,
        "limit": format_amount(access.limit),
        "used": format_amount(used_after),
        "monthly": access.period == QuotaPeriod.MONTHLY,
    }
    recipients = [account.email]
    if organization.administrator.email != account.email:
        recipients.append(organization.administrator.email)
    email_send(
        to=recipients,
        subject=f"Credit quota {level}% used: {account.email}",
        template="quota_alert",
        context=context,
    )


def _alert_low_balance(organization, pool_after) -> None:
    email_send(
        to=organization.administrator.email,
        subject=f"Low credit balance: {organization.name}",
        template="pool_low_balance",
        context={
            "organization": organization,
            "available": format_amount(pool_after),
            "threshold": format_amount(organization.low_balance_threshold),
        },
    )
