"""Staff views of orders (R15, R32): the record of paid checkouts, never edited."""

from django.contrib import admin

from billing.models import Order, OrderLine
from portal.admin import ReadOnlyAdmin


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    extra = 0
    can_delete = False
    readonly_fields = [
        "item",
        "product_code",
        "description",
        "quantity",
        "term_days",
        "credits",
        "unit_price",
        "total",
    ]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ["id", "created_at", "buyer", "organization", "status", "total"]
    list_filter = ["status", "lines__item"]
    # By order number ("=id": exact), by customer number and by email.
    search_fields = [
        "=id",
        "buyer__email",
        "buyer__customer_number",
        "organization__name",
        "organization__customer_number",
    ]
    list_select_related = ["buyer", "organization"]
    date_hierarchy = "created_at"
    readonly_fields = [
        "buyer",
        "organization",
        "status",
        "total",
        "currency",
        "checkout_token",
        "created_at",
    ]
    inlines = [OrderLineInline]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(OrderLine)
class OrderLineAdmin(ReadOnlyAdmin):
    """Order lines are the record of a paid checkout (R15): read-only, searchable."""

    list_display = [
        "order",
        "item",
        "description",
        "quantity",
        "term_days",
        "credits",
        "unit_price",
    ]
    list_filter = ["item"]
    search_fields = [
        "order__buyer__email",
        "order__organization__name",
        "order__organization__customer_number",
        "product_code",
    ]
    list_select_related = ["order__buyer"]
