"""Credit endpoints: balances, consumptions and refunds (service), credit access (org:admin).

Amounts travel as strings (rules.md "JSON API"): numbers are refused by the schema, text goes
through `portal.amounts.parse_amount`, answers carry two decimals.
"""

import json

from ninja import Field, Router, Schema, Status
from pydantic import StrictStr
from pydantic import ValidationError as PydanticError

from credits import selectors, services
from credits.models import CreditAccess
from organizations.models import Account, normalize_email
from portal import errors
from portal.amounts import format_amount, parse_amount
from portal.api import TokenAuth, require_org_token, require_scope, token_for_statement
from portal.audit import audit_channel
from portal.models import Scope

router = Router(tags=["credits"])


class QuotaOut(Schema):
    limit: str
    used: str
    period: str


class AccountCreditsOut(Schema):
    account: str
    source: str | None
    available: str
    quota: QuotaOut | None


class ConsumptionIn(Schema):
    account: StrictStr = Field(..., max_length=254)
    amount: StrictStr = Field(..., max_length=32)
    reference: StrictStr = Field(..., max_length=400)


class ConsumptionOut(Schema):
    reference: str
    account: str
    amount: str
    source: str
    available_after: str


class RefundIn(Schema):
    amount: StrictStr | None = Field(None, max_length=32)


class RefundOut(Schema):
    reference: str
    refunded: str
    available_after: str


class CreditAccessIn(Schema):
    mode: StrictStr
    limit: StrictStr | None = Field(None, max_length=32)
    period: StrictStr | None = None


class CreditAccessOut(Schema):
    email: str
    mode: str
    limit: str | None
    period: str
    used: str


def _account_or_404(email: str) -> Account:
    email = normalize_email(email)
    # PostgreSQL text cannot hold NUL; no account has it in its email.
    account = None if "\x00" in email else Account.objects.filter(email=email).first()
    if account is None:
        raise errors.NotFound("No account with this email.")
    return account


@router.get("/accounts/{email}/credits", response=AccountCreditsOut, summary="An account's credits")
def account_credits(request, email: str):
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
        fields = {".".join(map(str, e["loc"])) or "body": e["msg"] for e in exc.errors()}
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
        "requestBody": {
            "required": False,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "amount": {
                                "type": "string",
                                "pattern": "^[0-9]{1,12}(\\.[0-9]{1,2})?$",
                            }
                        },
                    }
                }
            },
        }
    },
)
def consumption_refund(request, reference: str):
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
)
def member_credit_access_set(request, email: str, payload: CreditAccessIn):
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
