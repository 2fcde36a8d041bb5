"""Forms of the credit pages. Amounts go through the one parser (R17); rules stay in services."""

from django import forms

from credits.models import AccessMode, QuotaPeriod
from portal import errors
from portal.amounts import parse_amount


class AmountField(forms.CharField):
    """Credits as text: at most 12 digits before the point and 2 after it, more than zero."""

    def __init__(self, *, allow_zero=False, **kwargs):
        self.allow_zero = allow_zero
        kwargs.setdefault("max_length", 16)
        kwargs.setdefault(
            "widget", forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"})
        )
        super().__init__(**kwargs)

    def clean(self, value):
        value = super().clean(value)
        if value in (None, ""):
            return None
        try:
            return parse_amount(value, allow_zero=self.allow_zero)
        except errors.DomainError as exc:
            raise forms.ValidationError(exc.message) from exc


class PurchaseForm(forms.Form):
    amount = AmountField(label="Credits to buy", help_text="For example 500 or 120.50.")


class AccessForm(forms.Form):
    """One member's access (R20). The service checks the combination (limit only with quota)
    and R21; its errors are shown next to the field they name."""

    mode = forms.ChoiceField(label="Access", choices=AccessMode.choices)
    limit = AmountField(label="Limit", required=False, allow_zero=True)
    period = forms.ChoiceField(label="Period", choices=QuotaPeriod.choices, required=False)

    def clean(self):
        data = super().clean()
        quota = data.get("mode") == AccessMode.QUOTA
        if quota and data.get("limit") is None and "limit" not in self.errors:
            self.add_error("limit", "A quota needs a limit.")
        if data.get("mode") != AccessMode.QUOTA:
            # Other modes carry no limit or period; the page sends them along unchanged.
            data["limit"] = None
            data["period"] = QuotaPeriod.NONE
        return data


class CreditRequestForm(forms.Form):
    amount = AmountField(label="Credits needed")
    message = forms.CharField(
        label="Message to your administrator",
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


def add_domain_error(form: forms.Form, exc: errors.DomainError) -> None:
    """Show a service's refusal next to the field it names, else above the form."""
    form.add_error(exc.field if exc.field in form.fields else None, exc.message)
