from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.db import transaction

from credits.amounts import parse_amount
from organizations.models import Account
from portal import errors
from portal.audit import audit_record


class LoginForm(AuthenticationForm):
    username = forms.EmailField(
        label="Email", widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"})
    )
    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "That email and password do not match an account. Both are "
        "case-sensitive except the email.",
    }


class ProfileForm(forms.ModelForm):
    class Meta:
        model = Account
        fields = ["name"]
        labels = {"name": "Your name"}

    def save_with_audit(self, *, actor):
        with transaction.atomic():
            account = self.save()
            audit_record(
                actor=actor,
                action="account.profile_changed",
                target=account.email,
                details={"name": account.name},
            )
        return account


class SetupRequestForm(forms.Form):
    organization_name = forms.CharField(
        label="Organization name",
        max_length=150,
        help_text="The name your users will see.",
    )
    admin_email = forms.EmailField(
        label="Administrator's email",
        max_length=254,
        help_text="The account that will administer the organization (it can be yours).",
    )
    admin_customer_number = forms.RegexField(
        label="Administrator's customer number",
        regex=r"^\s*[0-9]{10}\s*$",
        error_messages={"invalid": "A customer number has 10 digits."},
        help_text="Shown on that account's Account page.",
    )


class OrganizationSettingsForm(forms.Form):
    name = forms.CharField(label="Organization name", max_length=150)
    low_balance_threshold = forms.CharField(
        label="Low-balance alert threshold (credits)",
        required=False,
        help_text="You are emailed when the pool falls below this. Leave empty for no alert.",
    )

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("Enter a name.")
        return name

    def clean_low_balance_threshold(self):
        value = self.cleaned_data["low_balance_threshold"].strip()
        if not value:
            return None
        try:
            return parse_amount(value, allow_zero=True)
        except errors.DomainError as exc:
            raise forms.ValidationError(
                "Enter an amount such as 100 or 250.50 (at most two decimals)."
            ) from exc


class ApiTokenForm(forms.Form):
    name = forms.CharField(
        label="Token name",
        max_length=100,
        help_text='Where it is used, e.g. "provisioning script".',
    )
