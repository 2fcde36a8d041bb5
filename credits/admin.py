"""Staff tools for credits (R32): wallets, lots, the read-only ledger, access, requests, and
granting credits through the same service as `grant_credits` (R21 applies)."""

from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone

from credits import selectors, services
from credits.forms import AmountField
from credits.models import (
    CreditAccess,
    CreditRequest,
    Hold,
    LedgerEntry,
    Lot,
    LotMovement,
    MemberUsageMonth,
    PoolUsageDay,
    Wallet,
)
from organizations.models import Account, Organization, normalize_email
from portal import errors
from portal.admin import ReadOnlyAdmin
from portal.admin_actions import action_with_form
from portal.amounts import format_amount


class GrantToWalletForm(forms.Form):
    amount = AmountField(label="Credits")
    days = forms.IntegerField(
        min_value=1, max_value=36500, required=False, help_text="Empty: the default lot term."
    )
    note = forms.CharField(max_length=255, required=False)


class GrantForm(GrantToWalletForm):
    customer_number = forms.CharField(
        max_length=10, required=False, help_text="Organization's customer number (its pool)."
    )
    email = forms.EmailField(required=False, help_text="Or an account's email (personal).")
    # Set once staff have read the warning about the account's organizations (R21).
    understood = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def clean(self):
        data = super().clean()
        number, email = data.get("customer_number"), data.get("email")
        if bool(number) == bool(email):
            raise forms.ValidationError("Give a customer number or an email, not both.")
        if number:
            data["organization"] = Organization.objects.filter(customer_number=number).first()
            if data["organization"] is None:
                self.add_error("customer_number", "No organization with this customer number.")
        else:
            data["account"] = Account.objects.filter(email=normalize_email(email)).first()
            if data["account"] is None:
                self.add_error("email", "No account with this email.")
        return data


def _grant(request, *, organization=None, account=None, amount, days, note):
    lot = services.credits_grant(
        actor=request.user,
        organization=organization,
        account=account,
        amount=amount,
        days=days,
        note=note or "",
    )
    return lot


@action_with_form(GrantToWalletForm, description="Grant credits", template_title="Grant credits")
def grant_credits(modeladmin, request, wallet, *, amount, days, note):
    _grant(
        request,
        organization=wallet.organization,
        account=wallet.account,
        amount=amount,
        days=days,
        note=note,
    )


@admin.register(Wallet)
class WalletAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "organization", "account", "balance", "low_balance_alerted"]
    list_select_related = ["organization", "account"]
    search_fields = [
        "organization__name",
        "organization__customer_number",
        "account__email",
        "account__customer_number",
    ]
    list_filter = [("organization", admin.EmptyFieldListFilter)]
    actions = [grant_credits]
    change_list_template = "credits/admin_wallet_changelist.html"

    def get_urls(self):
        return [
            path("grant/", self.admin_site.admin_view(self.grant_view), name="credits_grant"),
            *super().get_urls(),
        ]

    @staticmethod
    def _personal_grant_warning(data) -> str | None:
        """What staff must know before personal credits go to a user of organizations whose
        pool they do not draw on yet (R21), unless they have read it already."""
        if not data.get("account") or data.get("understood"):
            return None
        closed = selectors.pools_closed_by_personal_credits(account=data["account"])
        if not closed:
            return None
        names = ", ".join(organization.name for organization in closed)
        return (
            f"{data['account'].email} is a user of {names}. With personal credits they cannot "
            "be given access to that pool until these credits are used up or expired."
        )

    def grant_view(self, request):
        """Grant credits to a pool (customer number) or an account (email)."""
        form = GrantForm(request.POST or None)
        warning = None
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            warning = self._personal_grant_warning(data)
            if warning:
                # R21: said before it happens; granted only when staff go ahead.
                form = GrantForm(initial={**request.POST.dict(), "understood": True})
            else:
                try:
                    lot = _grant(
                        request,
                        organization=data.get("organization"),
                        account=data.get("account"),
                        amount=data["amount"],
                        days=data["days"],
                        note=data["note"],
                    )
                except errors.DomainError as exc:
                    form.add_error(None, exc.message)
                else:
                    self.message_user(
                        request, f"Granted {format_amount(lot.amount)} credits.", messages.SUCCESS
                    )
                    return redirect(reverse("admin:credits_wallet_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "title": "Grant credits",
            "form": form,
            "warning": warning,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "credits/admin_grant.html", context)


@admin.register(Lot)
class LotAdmin(ReadOnlyAdmin):
    list_display = ["id", "wallet", "origin", "amount", "remaining", "arrived_at", "expires_at"]
    list_select_related = ["wallet__organization", "wallet__account"]
    list_filter = ["origin"]
    search_fields = [
        "wallet__organization__name",
        "wallet__organization__customer_number",
        "wallet__account__email",
    ]


class LotMovementInline(admin.TabularInline):
    model = LotMovement
    fields = ["lot", "amount"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = ["id", "created_at", "kind", "amount", "owner", "account", "reference"]

    @admin.display(description="wallet", ordering="wallet_id")
    def owner(self, entry):
        wallet = entry.wallet
        if wallet.organization_id:
            return f"{wallet.organization.name} (pool)"
        return f"{wallet.account.email} (personal)"

    list_select_related = ["wallet__organization", "wallet__account", "account"]
    list_filter = ["kind"]
    search_fields = [
        "reference",
        "account__email",
        "organization__name",
        "organization__customer_number",
    ]
    date_hierarchy = "created_at"
    inlines = [LotMovementInline]


@admin.register(CreditAccess)
class CreditAccessAdmin(ReadOnlyAdmin):
    """Access is changed by the organization's administrator (R20); staff can look."""

    list_display = ["account", "organization", "mode", "limit", "period", "used"]
    list_select_related = ["account", "organization"]
    list_filter = ["mode", "period"]
    search_fields = ["account__email", "organization__name", "organization__customer_number"]


@admin.register(CreditRequest)
class CreditRequestAdmin(ReadOnlyAdmin):
    list_display = ["account", "organization", "amount", "state", "created_at"]
    list_select_related = ["account", "organization"]
    list_filter = ["state"]
    search_fields = ["account__email", "organization__name", "organization__customer_number"]


@admin.register(LotMovement)
class LotMovementAdmin(ReadOnlyAdmin):
    """What each ledger entry took from or gave back to each lot (R27), for support."""

    list_display = ["entry", "lot", "amount"]
    search_fields = ["entry__reference", "entry__account__email", "lot__wallet__organization__name"]
    list_select_related = ["entry__wallet", "lot"]


@admin.register(PoolUsageDay)
class PoolUsageDayAdmin(ReadOnlyAdmin):
    """The usage chart's figures per pool and day, kept with the ledger and checked by
    `verify_ledger`; shown for support, never edited."""

    list_display = ["organization", "day", "consumed"]
    search_fields = ["organization__name", "organization__customer_number"]
    list_select_related = ["organization"]
    date_hierarchy = "day"


@admin.register(MemberUsageMonth)
class MemberUsageMonthAdmin(ReadOnlyAdmin):
    """Each member's net consumption from a pool per month (the chart's top members and the
    members list's all-time usage); checked by `verify_ledger`, never edited."""

    list_display = ["account", "organization", "month", "consumed"]
    search_fields = ["account__email", "organization__name", "organization__customer_number"]
    list_select_related = ["account", "organization"]


# --- Holds (R35-R38) ------------------------------------------------------------------------


class ExpiringSoonFilter(admin.SimpleListFilter):
    title = "deadline"
    parameter_name = "deadline"

    def lookups(self, request, model_admin):
        return [("hour", "Open, deadline within an hour"), ("day", "Open, deadline within a day")]

    def queryset(self, request, queryset):
        window = {"hour": timedelta(hours=1), "day": timedelta(days=1)}.get(self.value())
        if window is None:
            return queryset
        now = timezone.now()
        return queryset.filter(status="open", expires_at__gt=now, expires_at__lte=now + window)


class ReleaseHoldForm(forms.Form):
    reason = forms.CharField(
        max_length=255, help_text="Recorded in the audit log, e.g. the job was cancelled."
    )


@action_with_form(
    ReleaseHoldForm, description="Release the selected holds", template_title="Release holds"
)
def release_holds(modeladmin, request, hold, *, reason):
    # Through the same statement as the render farm's release: audited, with the reason.
    services.hold_release(reference=hold.reference, actor=request.user, reason=reason)


@admin.register(Hold)
class HoldAdmin(ReadOnlyAdmin):
    """Credits held for running jobs: read-only; staff may release one with a reason."""

    list_display = [
        "reference",
        "account",
        "organization",
        "amount",
        "status",
        "captured",
        "opened_at",
        "expires_at",
    ]
    list_filter = ["status", ExpiringSoonFilter, "organization"]
    search_fields = ["reference", "account__email", "organization__name"]
    list_select_related = ["account", "organization"]
    actions = [release_holds]
    date_hierarchy = "opened_at"
