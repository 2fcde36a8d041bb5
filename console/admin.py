"""The Django admin's account page with what staff need for support in one place: the
account's memberships, personal licenses, credits and recent activity. Composed here, above
the apps, because it shows organizations, licensing and credits together."""

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from credits.models import Wallet
from licensing.models import License
from organizations.admin import AccountAdmin
from organizations.models import Account, Membership
from portal.models import AuditEvent


class MembershipOfAccountInline(admin.TabularInline):
    model = Membership
    fk_name = "account"
    fields = ["organization", "role", "created_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = "Organizations (memberships)"

    def has_add_permission(self, request, obj=None):
        return False


class PersonalLicenseInline(admin.TabularInline):
    model = License
    fk_name = "account"
    fields = ["product", "kind", "starts_at", "ends_at", "cancelled_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = "Personal licenses"

    def has_add_permission(self, request, obj=None):
        return False


class SupportAccountAdmin(AccountAdmin):
    inlines = [MembershipOfAccountInline, PersonalLicenseInline]

    def get_fieldsets(self, request, obj=None):
        fieldsets = list(super().get_fieldsets(request, obj))
        if obj is not None:
            fieldsets.append(("Support", {"fields": ["personal_credits", "recent_activity"]}))
        return fieldsets

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        return [*fields, "personal_credits", "recent_activity"] if obj else fields

    @admin.display(description="personal credits")
    def personal_credits(self, account):
        wallet = Wallet.objects.filter(account=account).first()
        if wallet is None:
            return "No personal credits."
        url = reverse("admin:credits_wallet_change", args=[wallet.pk])
        return format_html('<a href="{}">{} credits in the ledger</a>', url, wallet.balance)

    @admin.display(description="recent activity")
    def recent_activity(self, account):
        events = (
            AuditEvent.objects.filter(target=account.email)
            .union(AuditEvent.objects.filter(actor=account))
            .order_by("-created_at")[:10]
        )
        rows = [(f"{e.created_at:%d %b %Y, %H:%M}", e.action, e.target) for e in events]
        if not rows:
            return "Nothing yet."
        url = reverse("admin:portal_auditevent_changelist") + f"?q={account.email}"
        items = format_html_join("", "<li>{} · {} · {}</li>", rows)
        return format_html('<ul>{}</ul><a href="{}">All of it</a>', items, url)


admin.site.unregister(Account)
admin.site.register(Account, SupportAccountAdmin)
