"""Setup requests (R3): filed by a non-commercial account, confirmed or rejected by staff."""

from django.db import IntegrityError, transaction
from django.utils import timezone

from organizations.models import (
    Account,
    AccountKind,
    Organization,
    SetupRequest,
    SetupRequestState,
    normalize_email,
)
from organizations.services.accounts import organization_create
from portal import errors
from portal.audit import audit_record
from portal.emails import email_send
from portal.names import visible_name


def setup_request_create(
    *, requester: Account, organization_name: str, admin_email: str, admin_customer_number: str
) -> SetupRequest:
    """File a setup request. The named account and its customer number must match (R3)."""
    if requester.kind == AccountKind.COMMERCIAL:
        raise errors.InvalidRequest("Commercial accounts already have an organization.")
    organization_name = visible_name(organization_name, field="organization_name", required=True)
    admin_email = normalize_email(admin_email)
    admin_customer_number = (admin_customer_number or "").strip()
    admin = Account.objects.filter(email=admin_email).first()
    if admin is None or admin.customer_number != admin_customer_number:
        raise errors.InvalidRequest(
            "The email and customer number do not belong to the same account.",
            field="admin_customer_number",
            fields={"admin_customer_number": "does not match the email"},
        )
    if Organization.objects.filter(administrator=admin).exists():
        raise errors.AlreadyAdministers(
            f"{admin.email} already administers an organization.", field="admin_email"
        )
    try:
        with transaction.atomic():
            request = SetupRequest.objects.create(
                requester=requester,
                organization_name=organization_name or admin.name or admin.email,
                admin_email=admin.email,
                admin_customer_number=admin.customer_number,
                admin_account=admin,
            )
            audit_record(
                actor=requester,
                action="setup_request.created",
                target=request.organization_name,
                details={"administrator": admin.email},
            )
            staff = Account.objects.filter(is_staff=True, is_active=True).values_list(
                "email", flat=True
            )
            if staff:
                email_send(
                    to=sorted(staff),
                    subject=f"New organization setup request: {request.organization_name}",
                    template="setup_requested",
                    context={"request": request},
                )
    except IntegrityError as exc:
        raise errors.InvalidRequest("You already have a pending setup request.") from exc
    return request


def setup_request_confirm(*, actor: Account, request: SetupRequest) -> SetupRequest:
    """Staff confirm: the organization is created with the named administrator (R3)."""
    with transaction.atomic():
        request = SetupRequest.objects.select_for_update().get(pk=request.pk)
        if request.state != SetupRequestState.PENDING:
            raise errors.InvalidRequest(f"This request is already {request.state}.")
        organization = organization_create(
            actor=actor, administrator=request.admin_account, name=request.organization_name
        )
        request.state = SetupRequestState.CONFIRMED
        request.decided_at = timezone.now()
        request.decided_by = actor
        request.organization = organization
        request.save(update_fields=["state", "decided_at", "decided_by", "organization"])
        audit_record(
            actor=actor,
            action="setup_request.confirmed",
            organization=organization,
            target=request.organization_name,
            details={"requester": request.requester.email},
        )
        recipients = sorted({request.requester.email, request.admin_account.email})
        email_send(
            to=recipients,
            subject=f"Your organization {organization.name} is ready",
            template="setup_confirmed",
            context={"request": request, "organization": organization},
        )
    return request


def setup_request_reject(*, actor: Account, request: SetupRequest, reason: str) -> SetupRequest:
    reason = (reason or "").strip()
    if not reason:
        raise errors.InvalidRequest("Give a reason for the rejection.", field="reason")
    with transaction.atomic():
        request = SetupRequest.objects.select_for_update().get(pk=request.pk)
        if request.state != SetupRequestState.PENDING:
            raise errors.InvalidRequest(f"This request is already {request.state}.")
        request.state = SetupRequestState.REJECTED
        request.rejection_reason = reason
        request.decided_at = timezone.now()
        request.decided_by = actor
        request.save(update_fields=["state", "rejection_reason", "decided_at", "decided_by"])
        audit_record(
            actor=actor,
            action="setup_request.rejected",
            target=request.organization_name,
            details={"requester": request.requester.email, "reason": reason},
        )
        email_send(
            to=request.requester.email,
            subject="Your organization setup request was not confirmed",
            template="setup_rejected",
            context={"request": request},
        )
    return request


def setup_request_withdraw(*, account: Account, request: SetupRequest) -> SetupRequest:
    """R3: the requester takes back a request staff have not looked at yet."""
    with transaction.atomic():
        locked = SetupRequest.objects.select_for_update().filter(pk=request.pk).first()
        if locked is None or locked.requester_id != account.pk:
            raise errors.NotFound("No such request.")
        if locked.state != SetupRequestState.PENDING:
            raise errors.Conflict("Staff have already answered this request.")
        locked.state = SetupRequestState.WITHDRAWN
        locked.save(update_fields=["state"])
        audit_record(
            actor=account,
            action="setup_request.withdrawn",
            target=locked.organization_name,
            details={"administrator": locked.admin_account.email},
        )
    return locked
