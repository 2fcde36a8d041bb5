"""Requests for more credits (R29): a queue the administrator answers.

A member has at most one open request (a partial unique index settles a race). The
administrator approves it (the quota is raised by the amount, or a disabled member gets a
quota of that amount for all time, through `access_set` and so under R21), denies it with an
optional reason, or closes it (the only answer for an unlimited member); the member is emailed
the outcome and may withdraw a request still open.
"""

from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from credits.models import AccessMode, CreditAccess, CreditRequest, CreditRequestState, QuotaPeriod
from credits.services.access import access_set
from credits.services.ledger import _amount, _enabled_access
from portal import errors
from portal.amounts import format_amount
from portal.audit import audit_record
from portal.emails import email_send


class RequestAlreadyOpen(errors.Conflict):
    code = "request_already_open"


class TooManyRequests(errors.Conflict):
    code = "too_many_requests"


# Each request emails the administrator: a withdraw-and-ask-again loop cannot flood them.
REQUESTS_PER_DAY = 5


class RequestNotOpen(errors.Conflict):
    code = "request_not_open"
    default_message = "This request was answered or withdrawn meanwhile."


def credit_request_create(*, account, amount, message: str = "") -> CreditRequest:
    """R29: a member asks their organization's administrator for more credits."""
    amount = _amount(amount)
    access = _enabled_access(account)
    organization = access.organization if access is not None else None
    if organization is None:
        membership = account.memberships.filter(role="member").select_related("organization")
        membership = membership.first()
        organization = membership.organization if membership is not None else None
    if organization is None:
        raise errors.NotAMember("You are not a user of an organization.", field="amount")
    message = (message or "").strip()[:2000]
    already = RequestAlreadyOpen(
        "You already have a request waiting for an answer: withdraw it first to ask again.",
        field="amount",
    )
    if CreditRequest.objects.filter(account=account, state=CreditRequestState.OPEN).exists():
        raise already
    since = timezone.now() - timedelta(days=1)
    if CreditRequest.objects.filter(account=account, created_at__gte=since).count() >= (
        REQUESTS_PER_DAY
    ):
        raise TooManyRequests(
            f"You have asked {REQUESTS_PER_DAY} times in the last day; ask again tomorrow.",
            field="amount",
        )
    try:
        with transaction.atomic():
            request = CreditRequest.objects.create(
                organization=organization, account=account, amount=amount, message=message
            )
    except IntegrityError as exc:
        raise already from exc
    with transaction.atomic():
        audit_record(
            actor=account,
            action="credits.requested",
            organization=organization,
            target=account.email,
            details={"amount": format_amount(amount)},
        )
        email_send(
            to=organization.administrator.email,
            subject=f"{account.email} asks for {format_amount(amount)} credits",
            template="credit_request",
            context={
                "account": account,
                "organization": organization,
                "amount": format_amount(amount),
                "message": message,
            },
        )
    return request


def _open_locked(credit_request: CreditRequest) -> CreditRequest:
    locked = (
        CreditRequest.objects.select_for_update(of=("self",))
        .select_related("organization", "account")
        .get(pk=credit_request.pk)
    )
    if locked.state != CreditRequestState.OPEN:
        raise RequestNotOpen()
    return locked


def _settle(*, actor, locked: CreditRequest, state: str, action: str, reason: str = "") -> None:
    locked.state = state
    locked.closed_at = timezone.now()
    locked.decided_by = actor if getattr(actor, "pk", None) else None
    locked.reason = (reason or "").strip()[:500]
    locked.save(update_fields=["state", "closed_at", "decided_by", "reason"])
    details = {"amount": format_amount(locked.amount)}
    if locked.reason:
        details["reason"] = locked.reason
    audit_record(
        actor=actor,
        action=action,
        organization=locked.organization,
        target=locked.account.email,
        details=details,
    )
    if state != CreditRequestState.WITHDRAWN:
        email_send(
            to=locked.account.email,
            subject=f"Your request for {format_amount(locked.amount)} credits was "
            f"{locked.get_state_display().lower()}",
            template="credit_request_outcome",
            context={"credit_request": locked, "amount": format_amount(locked.amount)},
        )


def credit_request_approve(*, actor, credit_request: CreditRequest) -> CreditRequest:
    """R29: raise the member's quota by the amount, or give a member with disabled access a
    quota of that amount for all time. A refusal (R21, an unlimited member, a member no longer
    there) changes nothing and leaves the request open."""
    with transaction.atomic():
        locked = _open_locked(credit_request)
        access = (
            CreditAccess.objects.filter(organization=locked.organization, account=locked.account)
            .select_related("account", "organization")
            .first()
        )
        if access is None:
            raise errors.NotAMember(f"{locked.account.email} is no longer a member.")
        if access.mode == AccessMode.UNLIMITED:
            raise errors.InvalidRequest(
                f"{locked.account.email} has unlimited access already: close the request instead."
            )
        if access.mode == AccessMode.QUOTA:
            limit, period = access.limit + locked.amount, access.period
        else:
            limit, period = locked.amount, QuotaPeriod.NONE
        access_set(actor=actor, access=access, mode=AccessMode.QUOTA, limit=limit, period=period)
        _settle(
            actor=actor,
            locked=locked,
            state=CreditRequestState.APPROVED,
            action="credits.request_approved",
        )
    return locked


def credit_request_deny(*, actor, credit_request: CreditRequest, reason: str = "") -> CreditRequest:
    """R29: the administrator says no, with an optional reason the member reads."""
    with transaction.atomic():
        locked = _open_locked(credit_request)
        _settle(
            actor=actor,
            locked=locked,
            state=CreditRequestState.DENIED,
            action="credits.request_denied",
            reason=reason,
        )
    return locked


def credit_request_close(*, actor, credit_request: CreditRequest) -> CreditRequest:
    """R29: close a request without changing any access (an unlimited member's request)."""
    with transaction.atomic():
        locked = _open_locked(credit_request)
        _settle(
            actor=actor,
            locked=locked,
            state=CreditRequestState.CLOSED,
            action="credits.request_closed",
        )
    return locked


def credit_request_withdraw(*, account, credit_request: CreditRequest) -> CreditRequest:
    """R29: the member takes back a request still waiting for an answer."""
    if credit_request.account_id != account.pk:
        raise errors.NotFound("No such request.")
    with transaction.atomic():
        locked = _open_locked(credit_request)
        _settle(
            actor=account,
            locked=locked,
            state=CreditRequestState.WITHDRAWN,
            action="credits.request_withdrawn",
        )
    return locked
