from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from organizations import selectors, services
from organizations.forms import (
    ApiTokenForm,
    IdentityProviderForm,
    OrganizationSettingsForm,
    SetupRequestForm,
)
from organizations.models import AccountKind
from organizations.permissions import api_token_for_admin_or_404, org_admin_required
from portal import errors
from portal.models import ApiToken, Scope
from portal.services import api_token_create, api_token_revoke


@login_required
@require_http_methods(["GET", "POST"])
def setup(request):
    """R3: accounts without an organization of their own ask for one."""
    if hasattr(request.user, "administered_organization"):
        return redirect("organizations:overview")
    if request.user.kind == AccountKind.COMMERCIAL:
        raise Http404("Commercial accounts have their organization already.")
    form = SetupRequestForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.setup_request_create(requester=request.user, **form.cleaned_data)
        except errors.DomainError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            messages.success(
                request,
                "Your request was sent. You will get an email when staff have looked at it.",
            )
            return redirect("organizations:setup")
    setup_requests = request.user.setup_requests.all()[:20]
    has_pending = any(r.state == "pending" for r in setup_requests)
    return render(
        request,
        "organizations/setup.html",
        {"form": form, "setup_requests": setup_requests, "has_pending": has_pending},
    )


@login_required
@require_http_methods(["POST"])
def setup_withdraw(request, pk: int):
    """R3: the requester takes back a pending setup request."""
    setup_request = request.user.setup_requests.filter(pk=pk).first()
    if setup_request is None:
        raise Http404("No such request.")
    try:
        services.setup_request_withdraw(account=request.user, request=setup_request)
    except errors.DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Your setup request was withdrawn.")
    return redirect("organizations:setup")


@org_admin_required
@require_http_methods(["GET", "POST"])
def settings_page(request):
    organization = request.organization
    form = OrganizationSettingsForm(
        request.POST or None,
        initial={
            "name": organization.name,
            "low_balance_threshold": organization.low_balance_threshold or "",
            "require_second_factor": organization.require_second_factor,
        },
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.organization_settings_update(
                actor=request.user, organization=organization, **form.cleaned_data
            )
        except errors.DomainError as exc:
            form.add_error(exc.field, exc.message)
        else:
            messages.success(request, "Settings saved.")
            return redirect("organizations:settings")
    return render(request, "organizations/settings.html", _settings_context(request, form))


def _settings_context(request, form=None, token_form=None, new_secret=None):
    organization = request.organization
    provider = selectors.identity_provider_for_org(organization=organization)
    sso_initial = (
        {
            "issuer": provider.issuer,
            "client_id": provider.client_id,
            "sign_on_required": provider.sign_on_required,
        }
        if provider
        else {}
    )
    return {
        # R43: single sign-on.
        "identity_provider": provider,
        "sso_form": IdentityProviderForm(initial=sso_initial),
        "email_domains": selectors.email_domains_for_org(organization=organization),
        "sso_callback_url": request.build_absolute_uri("/accounts/sso/callback/"),
        "organization": organization,
        "form": form
        or OrganizationSettingsForm(
            initial={
                "name": organization.name,
                "low_balance_threshold": organization.low_balance_threshold or "",
                "require_second_factor": organization.require_second_factor,
            }
        ),
        "token_form": token_form or ApiTokenForm(),
        "tokens": ApiToken.objects.filter(organization=organization).select_related("created_by"),
        "new_secret": new_secret,
        "scim_url": request.build_absolute_uri("/scim/v2/"),
    }


@org_admin_required
@require_http_methods(["POST"])
def token_create(request):
    token_form = ApiTokenForm(request.POST)
    new_secret = None
    if token_form.is_valid():
        _token, new_secret = api_token_create(
            actor=request.user,
            name=token_form.cleaned_data["name"],
            scopes=[
                Scope.SCIM if token_form.cleaned_data["purpose"] == "directory" else Scope.ORG_ADMIN
            ],
            organization=request.organization,
        )
        token_form = None
    context = _settings_context(request, token_form=token_form, new_secret=new_secret)
    template = (
        "organizations/settings.html#tokens" if request.htmx else ("organizations/settings.html")
    )
    return render(request, template, context, status=200 if new_secret else 422)


@org_admin_required
@require_http_methods(["POST"])
def token_revoke(request, pk: int):
    token = api_token_for_admin_or_404(user=request.user, pk=pk)
    api_token_revoke(actor=request.user, token=token)
    messages.success(request, f"The token “{token.name}” was revoked.")
    if request.htmx:
        return render(request, "organizations/settings.html#tokens", _settings_context(request))
    return redirect("organizations:settings")
