"""Staff views of the catalog and licenses (R11, R32).

Changes go through the services (grants, cancellation) so that the rules and the audit trail
(R34) hold here too; licenses and orders are not edited field by field.
"""

from django import forms
from django.contrib import admin, messages
from django.utils import timezone

from licensing import services
from licensing.models import (
    License,
    LicenseKind,
    Product,
    SeatTally,
    active_license_q,
)
from organizations.models import Account, Organization, normalize_email
from portal import errors
from portal.admin import ReadOnlyAdmin
from portal.admin_actions import action_with_form
from portal.names import clean_visible_name


class GrantSeatsForm(forms.Form):
    customer_number = forms.RegexField(
        label="Organization customer number",
        regex=r"^\s*[0-9]{10}\s*\Z",
        error_messages={"invalid": "A customer number has 10 digits."},
    )
    seats = forms.IntegerField(min_value=1, max_value=services.MAX_GRANT_SEATS, initial=1)
    days = forms.IntegerField(
        min_value=1, required=False, help_text="Validity in days from now; empty: perpetual."
    )
    kind = forms.ChoiceField(choices=LicenseKind.choices, initial=LicenseKind.COMMERCIAL)


class GrantPersonalForm(forms.Form):
    email = forms.EmailField(label="Account email")
    days = forms.IntegerField(
        min_value=1, required=False, help_text="Validity in days from now; empty: perpetual."
    )
    kind = forms.ChoiceField(choices=LicenseKind.choices, initial=LicenseKind.COMMERCIAL)


@action_with_form(
    GrantSeatsForm,
    description="Grant seats of the selected products to an organization",
    template_title="Grant seats to an organization",
)
def grant_seats(modeladmin, request, product, *, customer_number, seats, days, kind):
    organization = Organization.objects.filter(customer_number=customer_number.strip()).first()
    if organization is None:
        raise errors.NotFound(f"No organization with customer number {customer_number}.")
    services.licenses_grant(
        actor=request.user,
        product=product,
        organization=organization,
        seats=seats,
        days=days,
        kind=kind,
    )


@action_with_form(
    GrantPersonalForm,
    description="Grant a personal license of the selected products to an account",
    template_title="Grant a personal license",
)
def grant_personal(modeladmin, request, product, *, email, days, kind):
    account = Account.objects.filter(email=normalize_email(email)).first()
    if account is None:
        raise errors.NotFound(f"No account {email}.")
    services.licenses_grant(
        actor=request.user, product=product, account=account, days=days, kind=kind
    )


class ProductForm(forms.ModelForm):
    def clean_name(self):
        return clean_visible_name(
            self.cleaned_data["name"], required=True, message="Give the product a name."
        )


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    form = ProductForm
    list_display = ["code", "name", "active", "price", "trial_available", "beta_available"]
    list_filter = ["active", "trial_available", "beta_available"]
    search_fields = ["code", "name"]
    actions = [grant_seats, grant_personal]

    def get_readonly_fields(self, request, obj=None):
        # The code is stable (R11): licenses and integrations refer to it.
        return ["code"] if obj else []

    def save_model(self, request, obj, form, change):
        # Through the catalog's services, which check the name and audit the change (R34).
        data = {field: form.cleaned_data[field] for field in services.PRODUCT_EDITABLE}
        if change:
            saved = services.product_update(actor=request.user, product=obj, **data)
        else:
            saved = services.product_create(actor=request.user, code=obj.code, **data)
        obj.pk = saved.pk


class OwnerFilter(admin.SimpleListFilter):
    title = "owner"
    parameter_name = "owner"

    def lookups(self, request, model_admin):
        return [("organization", "Organization seat"), ("personal", "Personal")]

    def queryset(self, request, queryset):
        if self.value() == "organization":
            return queryset.filter(organization__isnull=False)
        if self.value() == "personal":
            return queryset.filter(account__isnull=False)
        return queryset


class StateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [
            ("active", "Active"),
            ("upcoming", "Not yet valid"),
            ("ended", "Expired"),
            ("cancelled", "Cancelled"),
            ("assigned", "Assigned seat"),
            ("free", "Free active seat"),
        ]

    def queryset(self, request, queryset):
        now = timezone.now()
        value = self.value()
        if value == "active":
            return queryset.filter(active_license_q(now))
        if value == "upcoming":
            return queryset.filter(cancelled_at__isnull=True, starts_at__gt=now)
        if value == "ended":
            return queryset.filter(cancelled_at__isnull=True, ends_at__lte=now)
        if value == "cancelled":
            return queryset.filter(cancelled_at__isnull=False)
        if value == "assigned":
            return queryset.filter(assignee__isnull=False)
        if value == "free":
            return queryset.filter(
                active_license_q(now), organization__isnull=False, assignee__isnull=True
            )
        return queryset


@admin.action(description="Cancel the selected licenses (unassigns seats)")
def cancel_licenses(modeladmin, request, queryset):
    done = 0
    for lic in queryset.filter(cancelled_at__isnull=True).order_by("id"):
        services.license_cancel(actor=request.user, license_id=lic.pk, reason="cancelled by staff")
        done += 1
    modeladmin.message_user(request, f"{done} license(s) cancelled.", messages.SUCCESS)


@admin.register(License)
class LicenseAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "product",
        "owner",
        "kind",
        "starts_at",
        "ends_at",
        "cancelled_at",
        "assignee_email",
    ]
    list_filter = [StateFilter, OwnerFilter, "kind", "product"]
    search_fields = [
        "product__code",
        "product__name",
        "account__email",
        "account__customer_number",
        "organization__name",
        "organization__customer_number",
        "assignee__account__email",
    ]
    list_select_related = ["product", "organization", "account", "assignee__account"]
    date_hierarchy = "starts_at"
    actions = [cancel_licenses]
    readonly_fields = [
        "product",
        "organization",
        "account",
        "kind",
        "starts_at",
        "ends_at",
        "cancelled_at",
        "assignee",
        "assigned_at",
        "order_line",
        "created_at",
    ]

    def has_add_permission(self, request):
        # Licenses come from orders and from the grant actions on products.
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="owner")
    def owner(self, obj):
        return obj.organization or obj.account

    @admin.display(description="assigned to", ordering="assignee__account__email")
    def assignee_email(self, obj):
        return obj.assignee.account.email if obj.assignee_id else "—"


@admin.register(SeatTally)
class SeatTallyAdmin(ReadOnlyAdmin):
    """The seat counts' log per organization, product and window, written by triggers and
    folded by `expire_seats`; `verify_ledger` checks it. Shown for support, never edited."""

    list_display = [
        "organization",
        "product",
        "starts_at",
        "ends_at",
        "live",
        "cancelled",
        "assigned",
    ]
    search_fields = ["organization__name", "organization__customer_number", "product__code"]
    list_select_related = ["organization", "product"]
