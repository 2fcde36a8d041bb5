"""Single sign-on (R43): the email-first sign-in, the provider's callback, and the Settings
page's section for the administrator."""

import secrets

from django.contrib import messages
from django.contrib.auth import login
from django.http import HttpResponseRedirect, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from organizations import selectors, services, sso
from organizations.forms import IdentityProviderForm
from organizations.models import IdentityProvider
from organizations.permissions import org_admin_required
from organizations.second_factor import SSO_SESSION_KEY
from organizations.views.organization import _settings_context
from organizations.views.security import LoginView
from portal import errors
from portal.links import safe_next

# What the callback needs to check the provider's answer, for one sign-in at a time.
PENDING_KEY = "sso_pending"

REFUSALS = {
    "member_of_other_organization": (
        "Your account is already a user in another organization, and an account can be a user "
        "in only one organization besides its own. Ask your administrator for help."
    ),
}


class EmailFirstLoginView(LoginView):
    """The sign-in page asks for the email first: an email at a domain confirmed for an
    organization with a provider goes to that provider; any other gets the password step
    (and passkeys). A form posted with a password signs in with it, as before."""

    def post(self, request, *args, **kwargs):
        email = request.POST.get("username", "").strip()
        if not request.POST.get("password") and "@" in email:
            provider = selectors.identity_provider_for_email(email=email)
            if provider is not None:
                return _start(request, provider, email, request.POST.get("next", ""))
        return super().post(request, *args, **kwargs)


def _client(provider: IdentityProvider) -> sso.Client:
    return sso.Client(
        issuer=provider.issuer,
        client_id=provider.client_id,
        client_secret=sso.secret_decrypt(provider.client_secret_encrypted),
    )


def _refused(request, message: str, status: int = 403):
    return render(
        request,
        "registration/sso_refused.html",
        {"message": message, "hide_nav": True},
        status=status,
    )


def _start(request, provider: IdentityProvider, email: str, next_url: str):
    try:
        url, pending = sso.authorization_start(
            client=_client(provider),
            redirect_uri=request.build_absolute_uri(reverse("sso_callback")),
            login_hint=email,
        )
    except errors.DomainError as exc:
        return _refused(request, exc.message, status=502)
    request.session[PENDING_KEY] = {
        **pending,
        "organization": provider.organization_id,
        "next": safe_next(request, next_url),
    }
    # Not a redirect: the sign-in form's answer may only lead to the portal itself (CSP
    # form-action 'self', which browsers apply to a form's redirects too), so a page of the
    # portal sends the browser on (Refresh, a navigation of its own) with a link for the rest.
    response = render(
        request, "registration/sso_continue.html", {"url": url, "hide_nav": True}, status=200
    )
    response["Refresh"] = f"0;url={url}"
    response["Referrer-Policy"] = "no-referrer"
    return response


@require_GET
def discover(request):
    """For the sign-in page's script: whether the email signs in through a provider."""
    email = request.GET.get("email", "")
    provider = selectors.identity_provider_for_email(email=email) if "@" in email else None
    return JsonResponse({"provider": provider is not None})


@require_GET
def callback(request):
    """The provider's answer: the state must be this session's pending sign-in (used once),
    then the code is traded and the ID token checked (organizations.sso), and the person is
    signed in to the organization that started the sign-in, and only that one."""
    pending = request.session.pop(PENDING_KEY, None)
    state = request.GET.get("state", "")
    if not pending or not secrets.compare_digest(state, pending.get("state", "")):
        return _refused(
            request,
            "This sign-in link has expired or was used already. Start again from the sign-in page.",
            status=400,
        )
    if "code" not in request.GET:
        return _refused(request, "Your organization's identity provider did not sign you in.")
    provider = (
        IdentityProvider.objects.select_related("organization")
        .filter(organization_id=pending["organization"])
        .first()
    )
    if provider is None:
        return _refused(request, "Your organization no longer signs in through a provider.")
    redirect_uri = request.build_absolute_uri(reverse("sso_callback"))
    try:
        claims = sso.code_exchange(
            client=_client(provider),
            code=request.GET["code"],
            pending=pending,
            redirect_uri=redirect_uri,
        )
        account = services.sso_sign_in(organization=provider.organization, claims=claims)
    except errors.DomainError as exc:
        return _refused(request, REFUSALS.get(exc.code, exc.message))
    if not account.is_active:
        return _refused(request, "This account is disabled.")
    login(request, account, backend="organizations.backends.EmailBackend")
    # R42: the provider's sign-in meets the organization's second-factor requirement.
    request.session[SSO_SESSION_KEY] = provider.organization_id
    return HttpResponseRedirect(pending.get("next") or reverse("home"))


# --- The Settings page's section ------------------------------------------------------------


def _render_settings(request, **extra):
    context = _settings_context(request)
    context.update(extra)
    status = 422 if extra.get("sso_form") is not None and extra["sso_form"].errors else 200
    return render(request, "organizations/settings.html", context, status=status)


@org_admin_required
@require_POST
def sign_on_save(request):
    form = IdentityProviderForm(request.POST)
    if form.is_valid():
        try:
            services.identity_provider_save(
                actor=request.user, organization=request.organization, **form.cleaned_data
            )
        except errors.DomainError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            messages.success(request, "Single sign-on saved.")
            return redirect(reverse("organizations:settings") + "#sign-on")
    return _render_settings(request, sso_form=form)


@org_admin_required
@require_POST
def sign_on_test(request):
    """Fetch the saved provider's discovery document and show what it found."""
    provider = selectors.identity_provider_for_org(organization=request.organization)
    if provider is None:
        messages.error(request, "Save the provider's details first.")
        return redirect(reverse("organizations:settings") + "#sign-on")
    try:
        metadata = sso.discovery(provider.issuer, fresh=True)
    except errors.DomainError as exc:
        return _render_settings(request, sso_test={"ok": False, "message": exc.message})
    found = {
        "issuer": metadata.get("issuer"),
        "authorization_endpoint": metadata.get("authorization_endpoint"),
        "token_endpoint": metadata.get("token_endpoint"),
        "pkce": "S256" in (metadata.get("code_challenge_methods_supported") or []),
    }
    return _render_settings(request, sso_test={"ok": True, **found})


@org_admin_required
@require_POST
def sign_on_remove(request):
    services.identity_provider_remove(actor=request.user, organization=request.organization)
    messages.success(request, "Single sign-on was turned off; everyone signs in with a password.")
    return redirect(reverse("organizations:settings") + "#sign-on")
