"""Trials and betas (R16): once per product, never beside an assigned organizational seat."""

from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from licensing import hooks
from licensing.models import (
    License,
    LicenseKind,
    Product,
    active_license_q,
)
from licensing.services.purchases import AlreadyApplied, ProductUnavailable, _product_for_sale
from organizations.models import Account, Membership
from portal import errors
from portal.audit import audit_record
from portal.text import with_article

TRIAL_DAYS = 30  # R16


BETA_DAYS = 90  # docs/licensing.md: a beta runs for one programme cycle


class OrganizationSeatAssigned(errors.Conflict):
    """R16: no trial or beta of a product while an organizational seat of it is assigned."""

    code = "organization_seat_assigned"
    default_message = "An organization seat of this product is assigned to you."


def license_apply(*, account: Account, product: Product, kind: str) -> License:
    """R16: an account applies for a trial (30 days) or a beta of a product, once per product
    and kind, unless an organizational seat of that product is assigned to it. Granted at
    once; the partial unique index makes "once" hold under concurrent applications too."""
    if kind not in (LicenseKind.TRIAL, LicenseKind.BETA):
        raise errors.InvalidRequest("Apply for a trial or a beta.", fields={"kind": "trial|beta"})
    with transaction.atomic():
        product = _product_for_sale(product.pk)
        open_flag = product.trial_available if kind == LicenseKind.TRIAL else product.beta_available
        if not open_flag:
            raise ProductUnavailable(f"{product.name} has no {kind} programme open.")
        # Serialize against seat assignments to this account (they lock the membership).
        list(Membership.objects.select_for_update().filter(account=account).order_by("id"))
        now = timezone.now()
        assigned = (
            License.objects.filter(assignee__account=account, product=product)
            .filter(active_license_q(now))
            .select_related("organization")
            .first()
        )
        if assigned is not None:
            raise OrganizationSeatAssigned(
                f"{assigned.organization.name} has assigned you "
                f"{with_article(product.name)} seat, so you cannot apply for a {kind} of it."
            )
        if License.objects.filter(account=account, product=product, kind=kind).exists():
            raise AlreadyApplied(f"You have already had a {kind} of {product.name}.")
        days = TRIAL_DAYS if kind == LicenseKind.TRIAL else BETA_DAYS
        try:
            with transaction.atomic():
                lic = License.objects.create(
                    product=product,
                    account=account,
                    kind=kind,
                    starts_at=now,
                    ends_at=now + timedelta(days=days),
                )
        except IntegrityError as exc:
            raise AlreadyApplied(f"You have already had a {kind} of {product.name}.") from exc
        audit_record(
            actor=account,
            action=f"license.{kind}_started",
            target=account.email,
            details={"license_id": lic.pk, "product": product.code, "days": days},
        )
        lic.trial_credits = None
        if kind == LicenseKind.TRIAL:
            given = [lot for lot in hooks.trial_started(account=account) if lot is not None]
            lic.trial_credits = given[0] if given else None
    return lic
