from django import forms
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm
from django.template import loader

from organizations.models import Account
from organizations.selectors import sign_on_required_for
from organizations.services import password_reset_allowed
from portal import errors
from portal.amounts import parse_amount
from portal.emails import email_send_rendered
from portal.names import clean_visible_name


class LoginForm(AuthenticationForm):
    username = forms.EmailField(
        label="Email", widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"})
    )
    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "That email and password do not match an account. Both are "
        "case-sensitive except the email.",
        "sign_on_required": "Your organization signs you in through its own sign-in page. "
        "Leave the password empty and choose Continue.",
    }

    def clean(self):
        # R43: where the organization requires its sign-on, no password is checked at all.
        if sign_on_required_for(email=self.cleaned_data.get("username") or ""):
            raise forms.ValidationError(
                self.error_messages["sign_on_required"], code="sign_on_required"
            )
        return super().clean()


class SecondFactorCodeForm(forms.Form):
    """The second sign-in step (R42): six digits from the app, or a recovery code."""

    code = forms.CharField(
        label="Code",
        max_length=32,
        help_text="The 6-digit code from your authenticator app, or one of your recovery codes.",
        widget=forms.TextInput(
            attrs={
                "autocomplete": "one-time-code",
                "inputmode": "text",
                "autofocus": True,
                "spellcheck": "false",
                "autocapitalize": "off",
            }
        ),
    )


class ThrottledPasswordResetForm(PasswordResetForm):
    """Password reset, at most a few emails an hour to one address: a form submitted over and
    over cannot flood an inbox. The page answers the same either way (it never tells whether
    an account exists)."""

    def save(self, *args, **kwargs):
        # R43: no reset link for an email that must sign in through its organization; the
        # page answers the same as ever.
        if sign_on_required_for(email=self.cleaned_data["email"]):
            return
        if password_reset_allowed(email=self.cleaned_data["email"]):
            super().save(*args, **kwargs)

    def send_mail(
        self, subject_template_name, email_template_name, context, from_email, to_email, **kw
    ):
        # R45: like every email, a job sent by the worker, not from the request.
        subject = loader.render_to_string(subject_template_name, context)
        body = loader.render_to_string(email_template_name, context)
        email_send_rendered(to=to_email, subject=subject, body=body)


class ProfileForm(forms.Form):
    name = forms.CharField(label="Your name", max_length=150, required=False)

    def clean_name(self):
        return clean_visible_name(self.cleaned_data["name"], required=False)


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
        regex=r"^\s*[0-9]{10}\s*\Z",
        error_messages={"invalid": "A customer number has 10 digits."},
        help_text="Shown on that account's Account page.",
    )

    def clean_organization_name(self):
        return clean_visible_name(self.cleaned_data["organization_name"], required=True)


class OrganizationSettingsForm(forms.Form):
    name = forms.CharField(label="Organization name", max_length=150)
    low_balance_threshold = forms.CharField(
        label="Low-balance alert threshold (credits)",
        required=False,
        help_text="You are emailed when the pool falls below this. Leave empty for no alert.",
    )
    require_second_factor = forms.BooleanField(
        label="Require a second factor for every user",
        required=False,
        help_text="Users without an authenticator app or passkey set one up before anything "
        "else, in sessions already open too.",
    )

    def clean_name(self):
        return clean_visible_name(self.cleaned_data["name"], required=True)

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
    # The settings page has two forms with a "name"; the prefix keeps their ids apart.
    prefix = "token"
    name = forms.CharField(
        label="Token name",
        max_length=100,
        help_text='Where it is used, e.g. "provisioning script".',
    )
    # R44: a directory's token (scope scim) manages the members through SCIM only.
    purpose = forms.ChoiceField(
        label="Used by",
        choices=[
            ("api", "Scripts, through the API"),
            ("directory", "Your directory (SCIM provisioning)"),
        ],
        initial="api",
        # Scripts that post only a name keep getting a token for the API.
        required=False,
    )


class MemberAddForm(forms.Form):
    """R6: one email; the rules (already a member, elsewhere, invited) live in the service."""

    email = forms.CharField(
        label="Email address",
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "off", "placeholder": "name@example.com"}),
        help_text="An existing account joins at once; anyone else gets an invitation.",
        error_messages={"required": "Enter the email address of the user to add."},
    )


class MemberImportForm(forms.Form):
    """R7: the file itself is checked by `member_csv_parse`; here only that there is one."""

    file = forms.FileField(
        label="CSV file",
        help_text="One email address per row, optional header row. UTF-8, at most 1 MiB and "
        "1,000 rows.",
        # An empty file is the parser's to explain, with the other reasons (R7).
        allow_empty_file=True,
        error_messages={"required": "Choose a CSV file to upload."},
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
    )


class InvitationAcceptForm(forms.Form):
    """R6: complete the account; the email is fixed by the invitation."""

    name = forms.CharField(
        label="Your name", max_length=150, widget=forms.TextInput(attrs={"autocomplete": "name"})
    )
    password1 = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    password2 = forms.CharField(
        label="Password again",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def __init__(self, *args, email: str, **kwargs):
        self.email = email
        super().__init__(*args, **kwargs)

    def clean_name(self):
        return clean_visible_name(
            self.cleaned_data["name"], required=True, message="Enter your name."
        )

    def clean(self):
        cleaned = super().clean()
        first, second = cleaned.get("password1"), cleaned.get("password2")
        if first and second and first != second:
            self.add_error("password2", "The two passwords differ.")
        elif first:
            try:
                password_validation.validate_password(
                    first, Account(email=self.email, name=cleaned.get("name", ""))
                )
            except forms.ValidationError as exc:
                self.add_error("password1", exc)
        return cleaned


class IdentityProviderForm(forms.Form):
    """R43: the organization's OpenID Connect provider, on the Settings page."""

    issuer = forms.URLField(
        label="Issuer URL",
        max_length=300,
        assume_scheme="https",
        help_text="Your provider's address, such as https://login.example.com/realms/studio.",
    )
    client_id = forms.CharField(label="Client ID", max_length=200)
    client_secret = forms.CharField(
        label="Client secret",
        required=False,
        max_length=500,
        strip=True,
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}, render_value=False),
        help_text="Stored encrypted and never shown again. Leave empty to keep the saved one.",
    )
    sign_on_required = forms.BooleanField(
        label="Sign-on required",
        required=False,
        help_text="People at your confirmed domains sign in through your provider only; "
        "your own password keeps working.",
    )
