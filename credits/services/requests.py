"""Requests for more credits (R29)."""

from django.db import transaction
from django.utils import timezone

from credits.models import (
    CreditRequest,
    CreditRequestState,
)
from credits.services.ledger import _amount, _enabled_access
from portal import errors
from portal.amounts import format_amount
from portal.audit import audit_record
from portal.emails import email_send


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
    with transaction.atomic():
        request = CreditRequest.objects.create(
            organization=organization, account=account, amount=amount, message=message
        )
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


def credit_request_close(*, actor, credit_request: CreditRequest) -> CreditRequest:
    with transaction.atomic():
        locked = CreditRequest.objects.select_for_update().get(pk=credit_request.pk)
        if locked.state == CreditRequestState.CLOSED:
            return locked
        locked.state = CreditRequestState.CLOSED
        locked.closed_at = timezone.now()
        locked.save(update_fields=["state", "closed_at"])
        audit_record(
            actor=actor,
            action="credits.request_closed",
            organization=locked.organization,
            target=locked.account.email,
            details={"amount": format_amount(locked.amount)},
        )
    return locked
