"""Staff tools for accounts, organizations and setup requests (R32)."""

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.forms import UserChangeForm, UserCreationForm
from django.db import transaction
from django.db.models import Case, IntegerField, Value, When
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import re_path, reverse
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from organizations import services
from organizations.models import (
    Account,
    AccountKind,
    AccountSession,
    EmailDomain,
    IdentityProvider,
    Invitation,
    MemberImport,
    Membership,
    MemberTally,
    Organization,
    Passkey,
    SetupRequest,
    SetupRequestState,
)
from portal import errors
from portal.admin import ReadOnlyAdmin
from portal.admin_actions import action_with_form
from portal.names import clean_visible_name


class KindForm(forms.Form):
    kind = forms.ChoiceField(choices=AccountKind.choices)


class TransferForm(forms.Form):
    new_administrator_email = forms.EmailField(
        label="Email of the member who becomes administrator"
    )


class RejectForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea, help_text="Sent to the requester.")


@action_with_form(KindForm, description="Change account kind", template_title="Change kind")
def change_kind(modeladmin, request, account, *, kind):
    services.account_set_kind(actor=request.user, account=account, kind=kind)


class VisibleNameMixin:
    """The visible-name rule of the services, shown next to the admin's field."""

    def clean_name(self):
        return clean_visible_name(self.cleaned_data["name"], required=False)


class AccountChangeForm(VisibleNameMixin, UserChangeForm):
    pass


class AccountCreationForm(VisibleNameMixin, UserCreationForm):
    class Meta(UserCreationForm.Meta):
        model = Account
        fields = ["email", "name"]


class OrganizationForm(VisibleNameMixin, forms.ModelForm):
    def clean_name(self):
        return clean_visible_name(self.cleaned_data["name"], required=True)


@admin.register(Account)
class AccountAdmin(UserAdmin):
    form = AccountChangeForm
    add_form = AccountCreationForm
    ordering = ["email"]
    list_display = [
        "email",
        "name",
        "customer_number",
        "kind",
        "is_staff",
        "is_active",
        "date_joined",
    ]
    list_filter = ["kind", "is_staff", "is_active"]
    search_fields = ["email", "name", "customer_number"]
    readonly_fields = ["customer_number", "kind", "date_joined", "last_login"]
    actions = [change_kind, "reset_second_factors"]
    fieldsets = [
        (None, {"fields": ["email", "password", "customer_number", "kind"]}),
        ("Profile", {"fields": ["name"]}),
        ("Permissions", {"fields": ["is_active", "is_staff", "is_superuser", "groups"]}),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [
        (None, {"classes": ["wide"], "fields": ["email", "name", "password1", "password2"]})
    ]

    @admin.action(
        description="Remove second factors (lost phone and recovery codes)",
        permissions=["change"],
    )
    def reset_second_factors(self, request, queryset):
        done = 0
        for account in queryset:
            if account.is_superuser and not request.user.is_superuser:
                self.message_user(
                    request, f"{account.email}: only a superuser may do this.", messages.ERROR
                )
                continue
            services.second_factors_reset(actor=request.user, account=account)
            done += 1
        if done:
            self.message_user(
                request,
                f"Second factors removed and sessions ended for {done} account(s). "
                "They can sign in with their password and set up a new one.",
                messages.SUCCESS,
            )

    def save_model(self, request, obj, form, change):
        # New accounts from the admin start as trial accounts; "Change account kind" makes
        # them commercial through the service, which creates the organization (R2). A new
        # name goes through the profile service, which checks and audits it.
        if not change:
            super().save_model(request, obj, form, change)
            return
        with transaction.atomic():
            name = obj.name
            obj.name = form.initial.get("name", name)
            super().save_model(request, obj, form, change)
            services.account_profile_update(actor=request.user, account=obj, name=name)
            obj.name = name


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    fields = ["account", "role", "created_at"]
    readonly_fields = fields
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False


@action_with_form(
    TransferForm,
    description="Transfer the administrator role",
    template_title="Transfer administrator role",
)
def transfer_administrator(modeladmin, request, organization, *, new_administrator_email):
    account = Account.objects.filter(email__iexact=new_administrator_email).first()
    if account is None:
        raise errors.NotAMember(f"No account {new_administrator_email}.")
    services.administrator_transfer(
        actor=request.user, organization=organization, new_administrator=account
    )


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    form = OrganizationForm
    list_display = ["name", "customer_number", "administrator", "created_at"]
    search_fields = ["name", "customer_number", "administrator__email"]
    readonly_fields = ["customer_number", "administrator", "created_at"]
    fields = ["name", "customer_number", "administrator", "low_balance_threshold", "created_at"]
    inlines = [MembershipInline]
    actions = [transfer_administrator]
    list_select_related = ["administrator"]

    def save_model(self, request, obj, form, change):
        # The administrator's own settings service: it checks the name and audits (R2, R30).
        services.organization_settings_update(
            actor=request.user,
            organization=obj,
            name=form.cleaned_data["name"],
            low_balance_threshold=form.cleaned_data["low_balance_threshold"],
        )

    def has_add_permission(self, request):
        # Organizations come from commercial accounts (R2) or confirmed setup requests (R3).
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["account", "organization", "role", "created_at"]
    list_filter = ["role"]
    search_fields = [
        "account__email",
        "account__customer_number",
        "organization__name",
        "organization__customer_number",
    ]
    list_select_related = ["account", "organization"]
    readonly_fields = ["account", "organization", "role", "created_at"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ["email", "organization", "state", "created_at", "expires_at"]
    list_filter = ["state"]
    search_fields = ["email", "organization__name", "organization__customer_number"]
    exclude = ["token_hash"]
    readonly_fields = [
        "organization",
        "email",
        "state",
        "invited_by",
        "created_at",
        "sent_at",
        "expires_at",
        "accepted_at",
        "accepted_account",
    ]
    list_select_related = ["organization"]

    def has_add_permission(self, request):
        return False


@admin.action(description="Confirm selected setup requests")
def confirm_requests(modeladmin, request, queryset):
    for setup_request in queryset:
        try:
            services.setup_request_confirm(actor=request.user, request=setup_request)
            modeladmin.message_user(
                request, f"Confirmed: {setup_request.organization_name}.", messages.SUCCESS
            )
        except errors.DomainError as exc:
            modeladmin.message_user(request, f"{setup_request}: {exc.message}", messages.ERROR)


@action_with_form(
    RejectForm, description="Reject selected setup requests", template_title="Reject setup requests"
)
def reject_requests(modeladmin, request, setup_request, *, reason):
    services.setup_request_reject(actor=request.user, request=setup_request, reason=reason)


@admin.register(SetupRequest)
class SetupRequestAdmin(admin.ModelAdmin):
    list_display = [
        "organization_name",
        "requester",
        "admin_email",
        "admin_customer_number",
        "state",
        "created_at",
    ]
    list_filter = ["state"]
    search_fields = [
        "organization_name",
        "requester__email",
        "admin_email",
        "admin_customer_number",
    ]
    readonly_fields = [f.name for f in SetupRequest._meta.fields]
    actions = [confirm_requests, reject_requests]
    list_select_related = ["requester"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        # A request is answered (confirmed or rejected), never deleted: it is the record.
        return False

    def get_urls(self):
        answer = self.admin_site.admin_view(self.answer_view)
        return [
            re_path(
                r"^(?P<pk>[0-9]+)/(?P<answer>confirm|reject)/$",
                answer,
                name="organizations_setuprequest_answer",
            ),
            *super().get_urls(),
        ]

    def answer_view(self, request, pk: int, answer: str):
        """Confirm (asked once more) or reject (with the reason) from the request's page."""
        setup_request = SetupRequest.objects.filter(pk=pk).select_related("requester").first()
        if setup_request is None or answer not in ("confirm", "reject"):
            raise Http404("No such request.")
        change_url = reverse("admin:organizations_setuprequest_change", args=[pk])
        form = RejectForm(request.POST or None) if answer == "reject" else None
        if request.method == "POST" and (form is None or form.is_valid()):
            try:
                if answer == "confirm":
                    services.setup_request_confirm(actor=request.user, request=setup_request)
                else:
                    services.setup_request_reject(
                        actor=request.user,
                        request=setup_request,
                        reason=form.cleaned_data["reason"],
                    )
            except errors.DomainError as exc:
                self.message_user(request, exc.message, messages.ERROR)
            else:
                done = "confirmed" if answer == "confirm" else "rejected"
                self.message_user(
                    request, f"{setup_request.organization_name}: {done}.", messages.SUCCESS
                )
            return redirect(change_url)
        context = {
            **self.admin_site.each_context(request),
            "title": "Answer a setup request",
            "setup_request": setup_request,
            "answer": answer,
            "form": form,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/organizations/setuprequest/answer.html", context)

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .order_by(
                # Pending first: that is the staff's work queue.
                models_state_order(),
                "-created_at",
            )
        )


def models_state_order():
    return Case(
        When(state=SetupRequestState.PENDING, then=Value(0)),
        default=Value(1),
        output_field=IntegerField(),
    )


@admin.register(MemberImport)
class MemberImportAdmin(admin.ModelAdmin):
    """CSV imports and their per-row reports (R7), read-only for support."""

    list_display = [
        "created_at",
        "organization",
        "filename",
        "state",
        "rows_processed",
        "rows_total",
        "added",
        "invited",
        "skipped",
    ]
    list_filter = ["state"]
    search_fields = [
        "organization__name",
        "organization__customer_number",
        "filename",
        "created_by__email",
    ]
    list_select_related = ["organization"]
    readonly_fields = [
        "organization",
        "created_by",
        "filename",
        "rows",
        "added",
        "invited",
        "skipped",
        "state",
        "rows_total",
        "rows_processed",
        "emails",
        "created_at",
        "finished_at",
    ]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


# R42: staff see who has which passkey and where accounts are signed in, never a secret; the
# authenticator apps' keys stay out of the admin (django-otp's own pages are unregistered),
# and support removes a lost factor with the accounts' "Remove second factors" action.
for otp_model in (TOTPDevice, StaticDevice):
    if admin.site.is_registered(otp_model):
        admin.site.unregister(otp_model)


@admin.register(MemberTally)
class MemberTallyAdmin(ReadOnlyAdmin):
    """The member counts' log per organization, written by triggers and folded every quarter
    of an hour; `verify_ledger` checks it. Shown for support, never edited."""

    list_display = ["organization", "members", "invitations"]
    search_fields = ["organization__name", "organization__customer_number"]
    list_select_related = ["organization"]


@admin.register(Passkey)
class PasskeyAdmin(ReadOnlyAdmin):
    list_display = ["user", "name", "created_at", "last_used_at"]
    search_fields = ["user__email", "name"]
    list_select_related = ["user"]
    fields = ["user", "name", "created_at", "last_used_at", "sign_count"]
    readonly_fields = fields


@admin.register(AccountSession)
class AccountSessionAdmin(ReadOnlyAdmin):
    """A list only: a session's key is its primary key and a credential, so no row links to a
    page of its own (the URL would carry the key) and there are no actions (their checkboxes
    would too)."""

    list_display = ["account", "ip", "user_agent", "signed_in_at", "last_seen_at", "expire_date"]
    list_display_links = None
    actions = None
    search_fields = ["account__email", "ip"]
    list_select_related = ["account"]

    def has_view_permission(self, request, obj=None):
        return obj is None and super().has_view_permission(request)


# R43: staff confirm the email domains an organization owns (one organization per domain);
# the organization's provider itself is the administrator's, on the Settings page.
class EmailDomainForm(forms.ModelForm):
    class Meta:
        model = EmailDomain
        fields = ["domain", "organization"]

    def clean_domain(self):
        try:
            return services.email_domain_clean(self.cleaned_data["domain"])
        except errors.DomainError as exc:
            raise forms.ValidationError(exc.message) from exc


@admin.register(EmailDomain)
class EmailDomainAdmin(admin.ModelAdmin):
    form = EmailDomainForm
    list_display = ["domain", "organization", "confirmed_by", "confirmed_at"]
    search_fields = ["domain", "organization__name", "organization__customer_number"]
    list_select_related = ["organization", "confirmed_by"]
    autocomplete_fields = ["organization"]

    def has_change_permission(self, request, obj=None):
        # A domain moves to another organization by removing and confirming it again.
        return obj is None and super().has_change_permission(request, obj)

    def save_model(self, request, obj, form, change):
        confirmed = services.email_domain_confirm(
            actor=request.user, organization=obj.organization, domain=obj.domain
        )
        obj.pk = confirmed.pk

    def delete_model(self, request, obj):
        services.email_domain_remove(actor=request.user, email_domain=obj)

    def delete_queryset(self, request, queryset):
        for email_domain in queryset:
            services.email_domain_remove(actor=request.user, email_domain=email_domain)


@admin.register(IdentityProvider)
class IdentityProviderAdmin(ReadOnlyAdmin):
    # Turning sign-on off is the administrator's, on the Settings page (audited there).

    list_display = ["organization", "issuer", "client_id", "sign_on_required", "updated_at"]
    search_fields = ["organization__name", "issuer"]
    list_select_related = ["organization"]
    fields = ["organization", "issuer", "client_id", "sign_on_required", "updated_at"]
    readonly_fields = fields
