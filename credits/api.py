"""Credit endpoints: balances, consumptions, refunds and holds (service), credit access
(org:admin).

Amounts travel as strings (rules.md "JSON API"): numbers are refused by the schema, text goes
through `portal.amounts.parse_amount`, answers carry two decimals.
"""

import json
from datetime import datetime
from typing import Annotated, Literal

from django.http import HttpResponse
from ninja import Field, Router, Schema, Status
from pydantic import AfterValidator, BeforeValidator, StrictInt, StrictStr, WithJsonSchema
from pydantic import ValidationError as PydanticError

from credits import selectors, services
from credits.models import CreditAccess
from credits.services.ledger import REFERENCE_PATTERN, REFERENCE_RE
from organizations.models import Account, normalize_email
from portal import errors
from portal.amounts import format_amount, parse_amount
from portal.api import (
    Amount,
    AmountOrZero,
    AmountOut,
    Email,
    TokenAuth,
    error_answers,
    require_org_token,
    require_scope,
    token_for_statement,
)
from portal.audit import audit_channel
from portal.models import Scope

router = Router(tags=["credits"])
# What the API's renderer answers with.
JSON = "application/json; charset=utf-8"


def _check_reference(value: str) -> str:
    # fullmatch: `re.match` with `$` would take a trailing newline.
    if not REFERENCE_RE.fullmatch(value):
        raise ValueError(f"must match {REFERENCE_PATTERN}")
    return value


# A consumption's reference, chosen by the caller: one namespace for every consumption.
Reference = Annotated[
    StrictStr,
    AfterValidator(_check_reference),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": REFERENCE_PATTERN,
            "minLength": 1,
            "maxLength": 200,
            "description": "1–200 characters of A-Z a-z 0-9 . _ : -",
        }
    ),
]
QuotaPeriodOut = Literal["none", "monthly"]
Source = Literal["personal", "organization"]


class QuotaOut(Schema):
    limit: AmountOut
    used: AmountOut
    period: QuotaPeriodOut


class AccountCreditsOut(Schema):
    account: str
    source: Source | None = Field(description="null: no credits to draw from")
    available: AmountOut
    quota: QuotaOut | None = Field(description="When the account draws under a quota")


class ConsumptionIn(Schema):
    account: Email
    amount: Amount
    reference: Reference


class ConsumptionOut(Schema):
    reference: str
    account: str
    amount: AmountOut
    source: Source
    available_after: AmountOut


class RefundIn(Schema):
    amount: Amount | None = None


class RefundOut(Schema):
    reference: str
    refunded: AmountOut
    available_after: AmountOut


def _no_limit(value):
    if value is not None:
        raise ValueError("only with mode quota")
    return value


NoLimit = Annotated[
    None,
    AfterValidator(_no_limit),
    WithJsonSchema({"type": "null", "description": "Only with quota"}),
]


class QuotaAccessIn(Schema):
    """A quota: `limit` credits, for all time (`none`) or each calendar month (`monthly`)."""

    mode: Literal["quota"]
    limit: AmountOrZero
    period: Literal["none", "monthly"] | None = Field(
        "none", description="Defaults to `none` (all time); null means `none`"
    )


class UnlimitedAccessIn(Schema):
    """Draws from the pool without a limit."""

    mode: Literal["unlimited"]
    limit: NoLimit = None
    period: Literal["none"] | None = Field("none", description="Only `none` (or null)")


class DisabledAccessIn(Schema):
    """Does not draw from the pool."""

    mode: Literal["disabled"]
    limit: NoLimit = None
    period: Literal["none"] | None = Field("none", description="Only `none` (or null)")


CreditAccessIn = Annotated[
    QuotaAccessIn | UnlimitedAccessIn | DisabledAccessIn, Field(discriminator="mode")
]


class CreditAccessOut(Schema):
    email: str
    mode: Literal["disabled", "unlimited", "quota"]
    limit: AmountOut | None = Field(description="With `quota` only")
    period: QuotaPeriodOut
    used: AmountOut


def _account_or_404(email: str) -> Account:
    account = Account.objects.filter(email=normalize_email(email)).first()
    if account is None:
        raise errors.NotFound("No account with this email.")
    return account


@router.get(
    "/accounts/{email}/credits",
    response=AccountCreditsOut,
    summary="An account's credits",
    openapi_extra=error_answers(errors.NotFound, not_found="No account with this email."),
)
def account_credits(request, email: Email):
    """R22/R23: the account's source and what it can spend now; the quota when it draws
    from an organization's pool under one."""
    require_scope(request, Scope.CREDITS_READ)
    summary = selectors.account_spendable(_account_or_404(email))
    quota = summary["quota"]
    return {
        "account": summary["account"],
        "source": summary["source"],
        "available": format_amount(summary["available"]),
        "quota": {
            "limit": format_amount(quota["limit"]),
            "used": format_amount(quota["used"]),
            "period": quota["period"],
        }
        if quota
        else None,
    }


@router.post(
    "/credits/consumptions",
    response={200: ConsumptionOut, 201: ConsumptionOut},
    summary="Consume credits (idempotent by reference)",
    # The hot path: on PostgreSQL the consumption's statement checks the token too.
    auth=TokenAuth(checked_in_statement=Scope.CREDITS_CONSUME),
    openapi_extra=error_answers(
        errors.InsufficientCredits,
        errors.QuotaExceeded,
        errors.NoCreditSource,
        errors.NotFound,
        errors.ReferenceConflict,
        insufficient="Not enough credits: the pool or the personal credits are short, the "
        "quota would be exceeded, or the account has no credits to draw from.",
        not_found="No account with this email.",
        conflict="The reference was used before for another account or amount.",
    ),
)
def consumption_create(request, payload: ConsumptionIn):
    """R23–R25: 201 when recorded; 200 with the first body when the reference repeats."""
    token = token_for_statement(request, Scope.CREDITS_CONSUME)
    amount = parse_amount(payload.amount)
    with audit_channel("api"):
        result = services.credits_consume_for_email(
            email=payload.account, amount=amount, reference=payload.reference, token=token
        )
    # The hot path: the body, five strings the service wrote as `ConsumptionOut` describes
    # them, is answered as it is rather than validated and dumped again by the response model
    # (the same bytes and content type; tests/api hold the answer to the schema).
    return HttpResponse(
        json.dumps(result.body), status=201 if result.created else 200, content_type=JSON
    )


def _refund_payload(request, schema=None):
    """The refund (or capture) body is optional, so it is read here rather than by the schema
    binding; when there is one, it is JSON declared as such, as everywhere else in the API."""
    schema = schema or RefundIn
    body = request.body
    if not body.strip():
        return schema()
    if request.content_type != "application/json":
        raise errors.InvalidRequest(
            "The body must be JSON (Content-Type: application/json).",
            fields={"body": "must be application/json"},
        )
    try:
        data = json.loads(body)
        if not isinstance(data, dict):
            raise ValueError
        return schema.model_validate(data)
    except PydanticError as exc:
        fields = {
            ".".join(map(str, e["loc"])) or "body": e["msg"].removeprefix("Value error, ")
            for e in exc.errors()
        }
        raise errors.InvalidRequest(fields=fields) from exc
    except ValueError as exc:
        raise errors.InvalidRequest(
            "The body must be a JSON object.", fields={"body": "not a JSON object"}
        ) from exc


@router.post(
    "/credits/consumptions/{reference}/refund",
    response=RefundOut,
    summary="Refund a consumption once, fully or partly",
    openapi_extra={
        # The body is optional (read by `_refund_payload`), so it is described here.
        "requestBody": {
            "required": False,
            "content": {"application/json": {"schema": RefundIn.model_json_schema()}},
        },
        **error_answers(
            errors.NotFound,
            errors.AlreadyRefunded,
            errors.RefundExceedsConsumption,
            not_found="No consumption with this reference.",
        ),
    },
)
def consumption_refund(request, reference: Reference):
    """R26: without an amount (or without a body) the whole consumption is refunded."""
    require_scope(request, Scope.CREDITS_CONSUME)
    payload = _refund_payload(request)
    amount = None if payload.amount is None else parse_amount(payload.amount)
    with audit_channel("api"):
        return services.credits_refund(reference=reference, amount=amount)


# --- Holds (R35-R38) -------------------------------------------------------------------------

HoldStatusOut = Literal["open", "captured", "released", "expired"]


def _whole_number(value):
    """JSON Schema's integers include 129.0: a whole number written with a decimal point is
    taken; 1.5, strings and booleans are still refused."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


Seconds = Annotated[StrictInt, Field(ge=1, le=604_800), BeforeValidator(_whole_number)]


class HoldIn(Schema):
    account: Email
    amount: Amount
    reference: Reference
    expires_in: Seconds | None = Field(
        None,
        description="Seconds until the hold expires: 1 to 604800 (7 days); default 86400.",
    )

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "account": "mia@studio.example",
                    "amount": "40.00",
                    "reference": "farm-7:job-1042",
                    "expires_in": 7200,
                }
            ]
        }
    }


class HoldRaiseIn(Schema):
    amount: Amount = Field(description="The hold's new total, at least what it holds now.")

    model_config = {"json_schema_extra": {"examples": [{"amount": "65.00"}]}}


class HoldCaptureIn(Schema):
    amount: Amount | None = Field(None, description="At most the amount held; default: all.")

    model_config = {"json_schema_extra": {"examples": [{"amount": "52.30"}]}}


class HoldOut(Schema):
    reference: str
    account: str
    source: Source
    amount: AmountOut = Field(description="Held now, or when the hold was settled")
    status: HoldStatusOut
    captured: AmountOut | None = Field(description="null until captured")
    expires_at: datetime
    available_after: AmountOut = Field(
        description="What the account can spend now, once the operation is done"
    )

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "reference": "farm-7:job-1042",
                    "account": "mia@studio.example",
                    "source": "organization",
                    "amount": "40.00",
                    "status": "open",
                    "captured": None,
                    "expires_at": "2026-11-29T14:00:00Z",
                    "available_after": "460.00",
                }
            ]
        }
    }


_HOLD_REFUSALS = (
    errors.InsufficientCredits,
    errors.QuotaExceeded,
    errors.NoCreditSource,
)


@router.post(
    "/credits/holds",
    response={200: HoldOut, 201: HoldOut},
    summary="Hold credits for a running job (idempotent by reference)",
    auth=TokenAuth(checked_in_statement=Scope.CREDITS_CONSUME),
    openapi_extra=error_answers(
        *_HOLD_REFUSALS,
        errors.NotFound,
        errors.ReferenceConflict,
        insufficient="Not enough credits for the hold: the pool or the personal credits are "
        "short, the quota would be exceeded, or the account has no credits to draw from.",
        not_found="No account with this email.",
        conflict="The reference was used before: by a consumption, or by a hold of another "
        "account or amount.",
    ),
)
def hold_create(request, payload: HoldIn):
    """201 with the new hold; 200 with the hold as it is now when the same account and
    amount repeat the reference (`expires_in` is not compared)."""
    token = token_for_statement(request, Scope.CREDITS_CONSUME)
    with audit_channel("api"):
        result = services.hold_open(
            email=payload.account,
            amount=parse_amount(payload.amount),
            reference=payload.reference,
            expires_in=payload.expires_in,
            token=token,
        )
    return Status(201 if result.created else 200, result.body)


@router.get(
    "/credits/holds/{reference}",
    response=HoldOut,
    summary="A hold",
    openapi_extra=error_answers(errors.NotFound, not_found="No hold with this reference."),
)
def hold_read(request, reference: Reference):
    require_scope(request, Scope.CREDITS_CONSUME)
    return services.hold_get(reference=reference)


@router.patch(
    "/credits/holds/{reference}",
    response=HoldOut,
    summary="Raise a hold to a new total",
    auth=TokenAuth(checked_in_statement=Scope.CREDITS_CONSUME),
    openapi_extra=error_answers(
        *_HOLD_REFUSALS,
        errors.NotFound,
        errors.HoldNotOpen,
        insufficient="Not enough credits for the raise on the hold's own source.",
        not_found="No hold with this reference.",
        conflict="The hold is captured, released or expired.",
    ),
)
def hold_raise(request, reference: Reference, payload: HoldRaiseIn):
    """The extra amount comes from the hold's own source, checked like a new consumption
    there; a refused raise leaves the hold as it was. The same total again changes nothing;
    a lower one is a 400."""
    token = token_for_statement(request, Scope.CREDITS_CONSUME)
    with audit_channel("api"):
        return services.hold_raise(
            reference=reference, amount=parse_amount(payload.amount), token=token
        )


@router.post(
    "/credits/holds/{reference}/capture",
    response=HoldOut,
    summary="Capture a hold: consume up to the amount held, give back the rest",
    auth=TokenAuth(checked_in_statement=Scope.CREDITS_CONSUME),
    openapi_extra={
        "requestBody": {
            "required": False,
            "content": {"application/json": {"schema": HoldCaptureIn.model_json_schema()}},
        },
        **error_answers(
            errors.NotFound,
            errors.HoldNotOpen,
            errors.CaptureExceedsHold,
            not_found="No hold with this reference.",
            conflict="The hold is released or expired, or was captured with another amount; "
            "or the amount is more than the hold.",
        ),
    },
)
def hold_capture(request, reference: Reference):
    """Without an amount (or without a body) all of it is captured. Repeating the same
    capture answers the first answer."""
    token = token_for_statement(request, Scope.CREDITS_CONSUME)
    payload = _refund_payload(request, HoldCaptureIn)
    amount = None if payload.amount is None else parse_amount(payload.amount)
    with audit_channel("api"):
        return services.hold_capture(reference=reference, amount=amount, token=token)


@router.post(
    "/credits/holds/{reference}/release",
    response=HoldOut,
    summary="Release a hold: give everything back",
    auth=TokenAuth(checked_in_statement=Scope.CREDITS_CONSUME),
    openapi_extra=error_answers(
        errors.NotFound,
        errors.HoldNotOpen,
        not_found="No hold with this reference.",
        conflict="The hold is captured or expired.",
    ),
)
def hold_release(request, reference: Reference):
    """A repeated release answers the first answer."""
    token = token_for_statement(request, Scope.CREDITS_CONSUME)
    with audit_channel("api"):
        return services.hold_release(reference=reference, token=token)


@router.put(
    "/org/members/{email}/credit-access",
    response=CreditAccessOut,
    summary="Set a member's credit access",
    openapi_extra=error_answers(
        errors.NotFound,
        errors.PersonalCreditsActive,
        errors.CreditAccessEnabledElsewhere,
        errors.NotAMember,
        not_found="No member with this email in the organization.",
    ),
)
def member_credit_access_set(request, email: Email, payload: CreditAccessIn):
    """R20/R21: `limit` is required with `quota` (`period` defaults to `none`) and refused
    with the other modes. 404 for anyone who is not a member of the token's organization."""
    organization = require_org_token(request)
    access = (
        CreditAccess.objects.filter(
            organization=organization, account__email=normalize_email(email)
        )
        .select_related("account", "organization")
        .first()
    )
    if access is None:
        raise errors.NotFound("No member with this email in the organization.")
    with audit_channel("api"):
        access = services.access_set(
            actor=request.auth.created_by,
            access=access,
            mode=payload.mode,
            limit=payload.limit,
            period=payload.period,
        )
    return {
        "email": access.account.email,
        "mode": access.mode,
        "limit": format_amount(access.limit),
        "period": access.period,
        "used": format_amount(selectors.access_used_now(access)),
    }
