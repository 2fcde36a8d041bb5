import json

from django.contrib import admin, messages
from django.db.models import OuterRef, Subquery
from django.utils import timezone
from django.utils.html import format_html
from procrastinate.contrib.django import app as jobs_app
from procrastinate.contrib.django.admin import ProcrastinateJobAdmin
from procrastinate.contrib.django.models import ProcrastinateJob

from portal.models import Announcement, AnnouncementDismissal, ApiToken, AuditEvent, JobError
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


# --- Background jobs (R45) ------------------------------------------------------------------
# Procrastinate's own admin of jobs, with each job's last error and a retry that says what it
# did. An email's text is left out of the list: a password reset link must not be read here.

admin.site.unregister(ProcrastinateJob)


@admin.action(description="Run the selected failed jobs again now")
def retry_jobs(modeladmin, request, queryset):
    failed = list(queryset.filter(status="failed"))
    for job in failed:
        jobs_app.job_manager.retry_job_by_id(
            job.id, timezone.now(), job.priority, job.queue_name, job.lock
        )
    skipped = queryset.count() - len(failed)
    note = f" ({skipped} not failed, left as they were)" if skipped else ""
    modeladmin.message_user(
        request, f"{len(failed)} job(s) will run again{note}.", messages.SUCCESS
    )


@admin.register(ProcrastinateJob)
class JobAdmin(ProcrastinateJobAdmin):
    list_display = ["pk", "short_task_name", "pretty_args", "pretty_status", "last_error"]
    fields = [*ProcrastinateJobAdmin.fields, "last_error"]
    actions = [retry_jobs, *ProcrastinateJobAdmin.actions[1:]]

    def get_queryset(self, request):
        errors = JobError.objects.filter(job_id=OuterRef("pk")).values("error")[:1]
        return super().get_queryset(request).annotate(last_error_text=Subquery(errors))

    def get_readonly_fields(self, request, obj=None):
        return [*super().get_readonly_fields(request, obj), "last_error"]

    @admin.display(description="Args")
    def pretty_args(self, instance):
        args = dict(instance.args)
        if "body" in args:
            args["body"] = f"({len(args['body'])} characters, not shown)"
        return format_html('<pre style="margin: 0">{}</pre>', json.dumps(args, indent=1))

    @admin.display(description="last error")
    def last_error(self, instance):
        return getattr(instance, "last_error_text", None) or "—"


@admin.register(JobError)
class JobErrorAdmin(ReadOnlyAdmin):
    list_display = ["failed_at", "job_id", "task_name", "attempts", "error"]
    list_filter = ["task_name"]
    search_fields = ["error", "task_name"]
