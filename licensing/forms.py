from django import forms
from django.urls import reverse

from licensing.models import Product
from licensing.services import MAX_SEATS_PER_ORDER, TERM_CHOICES


class ProductChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return obj.name


def _product_field(**kwargs):
    # R11: only active products are offered; the services refuse the others anyway.
    return ProductChoiceField(
        queryset=Product.objects.filter(active=True).order_by("name"),
        to_field_name="code",
        empty_label="Choose a product",
        error_messages={"invalid_choice": "This product is not available."},
        **kwargs,
    )


TERMS = [(str(days), label) for days, label in TERM_CHOICES.items()]
TERM_ERRORS = {"invalid_choice": "Choose a term of 1, 2 or 3 years."}


class SeatPurchaseForm(forms.Form):
    """R15: product, quantity, term. Submitted by GET to the checkout page for review."""

    product = _product_field(label="Product")
    quantity = forms.IntegerField(
        label="Seats",
        min_value=1,
        max_value=MAX_SEATS_PER_ORDER,
        initial=1,
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
        error_messages={
            "min_value": "Buy at least 1 seat.",
            "max_value": f"Buy at most {MAX_SEATS_PER_ORDER} seats at a time.",
            "invalid": "Enter a whole number of seats.",
        },
    )
    term = forms.TypedChoiceField(
        label="Term", choices=TERMS, coerce=int, initial="365", error_messages=TERM_ERRORS
    )


class LicensePurchaseForm(forms.Form):
    """R15: a personal license for the signed-in account."""

    product = _product_field(label="Product")
    term = forms.TypedChoiceField(
        label="Term", choices=TERMS, coerce=int, initial="365", error_messages=TERM_ERRORS
    )


class ApplyForm(forms.Form):
    """R16: trial or beta of one product."""

    product = _product_field()
    kind = forms.ChoiceField(choices=[("trial", "Trial"), ("beta", "Beta")])


class AssignForm(forms.Form):
    """A member by email. The input suggests members of this organization as the
    administrator types (htmx fills a <datalist>); without JavaScript, type the email."""

    email = forms.CharField(
        label="Member",
        max_length=254,
        widget=forms.TextInput(
            attrs={"type": "search", "autocomplete": "off", "placeholder": "Name or email"}
        ),
    )

    def __init__(self, *args, datalist_id: str = "members", label: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.datalist_id = datalist_id
        if label:
            self.fields["email"].label = label
        self.fields["email"].widget.attrs.update(
            {
                "list": datalist_id,
                "hx-get": reverse("licensing:member_search"),
                "hx-trigger": "input changed delay:250ms",
                "hx-target": f"#{datalist_id}",
                "hx-swap": "innerHTML",
                "hx-sync": "this:replace",
            }
        )
