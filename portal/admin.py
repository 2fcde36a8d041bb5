from django.contrib import admin

from portal.models import Announcement, AnnouncementDismissal, ApiToken, AuditEvent
from portal.services import api_token_revoke


class ReadOnlyAdmin(admin.ModelAdmin):
    """Append-only records (R32: audit events and ledger entries are read-only)."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    """Staff see every event with the person who acted, staff members included (R34)."""

    list_display = ["created_at", "action", "target", "who", "organization_name"]
    list_filter = ["channel", "action"]
    search_fields = [
        "action",
        "target",
        "actor__email",
        "organization__name",
        "organization__customer_number",
    ]
    list_select_related = ["actor", "organization"]
    date_hierarchy = "created_at"

    @admin.display(description="who (how)", ordering="actor__email")
    def who(self, event):
        # The staff member's own email here: the organization's pages say "Vendor support".
        return f"{event.actor.email if event.actor_id else 'nobody'} ({event.channel})"

    @admin.display(description="organization", ordering="organization__name")
    def organization_name(self, event):
        return event.organization.name if event.organization_id else "—"


@admin.register(Announcement)
class AnnouncementAdmin(admin.ModelAdmin):
    list_display = ["title", "level", "starts_at", "ends_at", "created_at"]
    list_filter = ["level"]
    search_fields = ["title", "text"]
    # When it was written is a record, not a setting.
    readonly_fields = ["created_at"]


@admin.register(AnnouncementDismissal)
class AnnouncementDismissalAdmin(ReadOnlyAdmin):
    list_display = ["announcement", "account", "dismissed_at"]
    search_fields = ["account__email", "announcement__title"]


@admin.action(description="Revoke selected tokens")
def revoke_tokens(modeladmin, request, queryset):
    for token in queryset:
        api_token_revoke(actor=request.user, token=token)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "prefix",
        "scopes",
        "organization",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]
    search_fields = ["name", "prefix", "organization__name", "organization__customer_number"]
    readonly_fields = [
        "name",
        "prefix",
        "scopes",
        "organization",
        "created_by",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]
    exclude = ["token_hash"]
    actions = [revoke_tokens]

    def has_add_permission(self, request):
        # Tokens are created with `create_api_token` or on the settings page, shown once.
        return False
