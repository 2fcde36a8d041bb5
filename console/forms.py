"""Forms of the pages that span apps."""

from django import forms

from console.activity import KINDS
from organizations.models import normalize_email


class ActivityFilterForm(forms.Form):
    """R34: by kind of change, by person, by date range (UTC calendar days, both included)."""

    kind = forms.ChoiceField(
        label="Kind of change",
        required=False,
        choices=[("", "All changes")] + [(key, label) for key, (label, _) in KINDS.items()],
    )
    person = forms.CharField(
        label="Person (email)",
        required=False,
        max_length=254,
        widget=forms.TextInput(attrs={"inputmode": "email", "autocomplete": "off"}),
    )
    start = forms.DateField(
        label="From", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    end = forms.DateField(
        label="To", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def clean_person(self):
        value = self.cleaned_data["person"].replace("\x00", "").strip()
        return normalize_email(value) if value else ""

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("start"), cleaned.get("end")
        if start and end and end < start:
            self.add_error("end", "The end date comes before the start date.")
        return cleaned

    def filters(self) -> dict:
        """The valid filters only: a field with an error filters nothing."""
        data = getattr(self, "cleaned_data", {})
        kind = data.get("kind") if "kind" not in self.errors else ""
        return {
            "kinds": KINDS[kind][1] if kind else (),
            "person": data.get("person", "") if "person" not in self.errors else "",
            "start": data.get("start") if "start" not in self.errors else None,
            "end": data.get("end") if "end" not in self.errors else None,
        }
