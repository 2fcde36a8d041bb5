"""Credit access and quotas (R20, R21): set per member, disabled on removal."""

from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from credits.models import (
    AccessMode,
    CreditAccess,
    QuotaPeriod,
)
from credits.selectors import (
    alert_level_for,
    current_period_start,
    usage_from_ledger,
)
from credits.services.ledger import (
    _amount,
    _enabled_access,
    _lock_wallet,
    _personal_active_summary,
    _wallet_for,
)
from organizations.models import Membership
from portal import errors
from portal.amounts import format_amount
from portal.audit import audit_record


def _parse_access(mode, limit, period) -> tuple[str, Decimal | None, str]:
    if mode not in AccessMode.values:
        raise errors.InvalidRequest(
            "Choose disabled, unlimited or quota.",
            fields={"mode": "one of disabled, unlimited, quota"},
            field="mode",
        )
    if period in (None, ""):
        period = QuotaPeriod.NONE
    if period not in QuotaPeriod.values:
        raise errors.InvalidRequest(
            "Choose the period none or monthly.",
            fields={"period": "one of none, monthly"},
            field="period",
        )
    if mode == AccessMode.QUOTA:
        if limit in (None, ""):
            raise errors.InvalidRequest(
                "A quota needs a limit.", fields={"limit": "required with quota"}, field="limit"
            )
        limit = _amount(limit, field="limit", allow_zero=True)
    else:
        if limit not in (None, ""):
            raise errors.InvalidRequest(
                "A limit goes only with a quota.",
                fields={"limit": "only with mode quota"},
                field="limit",
            )
        if period != QuotaPeriod.NONE:
            raise errors.InvalidRequest(
                "A period goes only with a quota.",
                fields={"period": "only with mode quota"},
                field="period",
            )
        limit = None
    return mode, limit, period


def access_set(*, actor, access: CreditAccess, mode, limit=None, period=None) -> CreditAccess:
    """Set a member's organizational credit access (R20), obeying R21.

    Enabling is refused while the account has active personal credits (the message says how
    many and until when) or while its access is enabled in another organization; the partial
    unique index on enabled accesses settles a race between two organizations. The usage is
    recomputed from the ledger for the (possibly new) period, and the alert level is set to
    what the usage already reached so that only later crossings send alerts (R30).
    """
    mode, limit, period = _parse_access(mode, limit, period)
    now = timezone.now()
    try:
        with transaction.atomic():
            if mode != AccessMode.DISABLED:
                # Wallet before access (lock order); buying personal credits takes it too.
                _lock_wallet(_wallet_for(account=access.account).pk)
                active = _personal_active_summary(access.account, now)
                if active is not None:
                    amount, until = active
                    until_text = f"until {until:%Y-%m-%d}" if until else "without expiry"
                    raise errors.PersonalCreditsActive(
                        f"{access.account.email} has {format_amount(amount)} active personal "
                        f"credits ({until_text}); access can be enabled once they are used up "
                        "or expired.",
                        field="mode",
                    )
            # The membership before the access, as removing a member locks them (a trigger
            # copies the mode onto the membership): the other order could deadlock with it.
            if (
                Membership.objects.select_for_update().filter(pk=access.membership_id).first()
                is None
            ):
                raise errors.NotAMember(f"{access.account.email} is no longer a member.")
            locked = (
                CreditAccess.objects.select_for_update(of=("self",))
                .select_related("organization", "account")
                .get(pk=access.pk)
            )
            if mode != AccessMode.DISABLED and _enabled_access(
                locked.account, exclude_pk=locked.pk
            ):
                raise errors.CreditAccessEnabledElsewhere(
                    f"{locked.account.email} already draws credits from another organization.",
                    field="mode",
                )
            before = {
                "mode": locked.mode,
                "limit": format_amount(locked.limit),
                "period": locked.period,
            }
            start = current_period_start(period, now)
            used = usage_from_ledger(
                account_id=locked.account_id, organization_id=locked.organization_id, start=start
            )
            locked.mode, locked.limit, locked.period = mode, limit, period
            locked.period_start = start
            locked.used = used
            locked.alert_level = alert_level_for(used, limit) if mode == AccessMode.QUOTA else 0
            locked.updated_at = now
            locked.save(
                update_fields=[
                    "mode",
                    "limit",
                    "period",
                    "period_start",
                    "used",
                    "alert_level",
                    "updated_at",
                ]
            )
            after = {"mode": mode, "limit": format_amount(limit), "period": period}
            if before != after:
                audit_record(
                    actor=actor,
                    action="credit_access.changed",
                    organization=locked.organization,
                    target=locked.account.email,
                    details={"from": before, "to": after},
                )
    except IntegrityError as exc:
        if "credit_access_enabled_in_one_org" in str(exc) or "account" in str(exc):
            raise errors.CreditAccessEnabledElsewhere(
                f"{access.account.email} already draws credits from another organization.",
                field="mode",
            ) from exc
        raise
    return locked


def member_access_disable(*, actor, membership) -> CreditAccess | None:
    """R9: removing a member disables their organizational credit access."""
    with transaction.atomic():
        access = CreditAccess.objects.select_for_update().filter(membership=membership).first()
        if access is None or access.mode == AccessMode.DISABLED:
            return access
        old = access.mode
        access.mode = AccessMode.DISABLED
        access.limit = None
        access.period = QuotaPeriod.NONE
        access.updated_at = timezone.now()
        access.save(update_fields=["mode", "limit", "period", "updated_at"])
        audit_record(
            actor=actor,
            action="credit_access.changed",
            organization=membership.organization,
            target=membership.account.email,
            details={"from": old, "to": AccessMode.DISABLED, "reason": "removed"},
        )
    return access


def access_disable_on_removal(*, actor, membership) -> dict:
    """`organizations.hooks.member_removing`: R9's credit access, for the removal's summary."""
    access = member_access_disable(actor=actor, membership=membership)
    return {"credit_access": getattr(access, "mode", AccessMode.DISABLED)}


def access_create_for_member(*, membership) -> CreditAccess:
    """`organizations.hooks.member_added`: every member has a credit access, disabled at
    first (R20)."""
    return CreditAccess.objects.create(
        membership=membership,
        account_id=membership.account_id,
        organization_id=membership.organization_id,
    )


class AccessRefused(errors.Conflict):
    """A change of several members' access was refused for some of them: nothing changed."""

    code = "access_refused"

    def __init__(self, refusals: list[errors.DomainError]):
        self.refusals = refusals
        super().__init__(" ".join(refusal.message for refusal in refusals))


def access_set_many(
    *, actor, organization, access_ids: list[int], mode, limit=None, period=None
) -> int:
    """R20: the same access for several members of `organization`, all or nothing. Each change
    obeys R21 as `access_set` does; if any is refused, none is made and every refusal is
    reported (`AccessRefused`). Members are changed in id order, the order two concurrent
    bulk changes of overlapping members lock them in. Returns how many were set."""
    mode, limit, period = _parse_access(mode, limit, period)
    accesses = list(
        CreditAccess.objects.filter(organization=organization, pk__in=list(access_ids))
        .select_related("account", "organization")
        .order_by("pk")
    )
    refusals = []
    with transaction.atomic():
        for access in accesses:
            try:
                access_set(actor=actor, access=access, mode=mode, limit=limit, period=period)
            except errors.DomainError as exc:
                refusals.append(exc)
        if refusals:
            raise AccessRefused(refusals)
    return len(accesses)
