"""Credit endpoints: balances, consumptions and refunds (service), credit access (org:admin).

Amounts travel as strings (rules.md "JSON API"): numbers are refused by the schema, text goes
through `portal.amounts.parse_amount`, answers carry two decimals.
"""

import json
from typing import Annotated, Literal

from ninja import Field, Router, Schema, Status
from pydantic import AfterValidator, StrictStr, WithJsonSchema
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
    return Status(201 if result.created else 200, result.body)


def _refund_payload(request) -> RefundIn:
    """The refund body is optional, so it is read here rather than by the schema binding;
    when there is one, it is JSON declared as such, as everywhere else in the API."""
    body = request.body
    if not body.strip():
        return RefundIn()
    if request.content_type != "application/json":
        raise errors.InvalidRequest(
            "The body must be JSON (Content-Type: application/json).",
            fields={"body": "must be application/json"},
        )
    try:
        data = json.loads(body)
        if not isinstance(data, dict):
            raise ValueError
        return RefundIn.model_validate(data)
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
