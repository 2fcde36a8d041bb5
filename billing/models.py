"""Orders and their lines (R15): the record of every checkout, whatever was bought.

A base app: licensing and credits both record their purchases here, so neither needs the
other. A line describes what was bought in its own words (product code and name as they were
at checkout), so an order stays readable when the catalog changes later.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone


class Order(models.Model):
    """A simulated checkout (R15): recorded as paid, no payment provider is called."""

    buyer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="orders"
    )
    organization = models.ForeignKey(
        "organizations.Organization",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="orders",
    )
    status = models.CharField(max_length=10, default="paid")
    total = models.DecimalField(max_digits=16, decimal_places=2, default=0)
    # R39: the currency the order was priced in, kept even if the portal's setting changes.
    currency = models.CharField(max_length=3, default="EUR")
    # One per checkout page shown: a resubmitted or double-clicked "Place order" finds the
    # order already recorded instead of buying twice.
    checkout_token = models.CharField(max_length=64, unique=True, null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"Order #{self.pk} by {self.buyer}"


class OrderLine(models.Model):
    class Item(models.TextChoices):
        SEATS = "seats", "Organization seats"
        LICENSE = "license", "Personal license"
        CREDITS = "credits", "Cloud credits"

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    item = models.CharField(max_length=10, choices=Item.choices)
    # The product as it was sold: its stable code and its name at the time (empty for credits).
    product_code = models.CharField(max_length=50, blank=True, default="")
    description = models.CharField(max_length=200)
    quantity = models.PositiveIntegerField(default=1)
    term_days = models.PositiveIntegerField(null=True, blank=True)
    credits = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    unit_price = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    # Unit price × quantity (× years for seats and licenses), rounded half-up to cents (R39).
    total = models.DecimalField(max_digits=16, decimal_places=2, default=0)

    def __str__(self):
        return f"{self.description} × {self.quantity}"

    @property
    def years(self) -> int:
        return (self.term_days or 0) // 365
