"""The Security page and the second sign-in step (R42).

Passkey ceremonies are two requests each: the options (their challenge kept in the session)
and the browser's answer, checked by the services. Everything else is a plain form.
"""

import base64
import ipaddress
import json
from urllib.parse import urlsplit

import qrcode
import qrcode.image.svg
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpResponseRedirect, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from organizations import services
from organizations.forms import SecondFactorCodeForm
from organizations.models import AccountSession, Passkey
from organizations.second_factor import (
    flags_for,
    session_mark_verified,
    session_meets_requirement,
    session_verified,
)
from organizations.selectors import sign_on_required_for
from organizations.sessions import describe_user_agent
from portal import errors
from portal.links import safe_next

REGISTRATION_CHALLENGE = "passkey_registration_challenge"
AUTHENTICATION_CHALLENGE = "passkey_authentication_challenge"
NEW_RECOVERY_CODES = "new_recovery_codes"


def passkey_host() -> str:
    """The host name passkeys are bound to; none when it is an IP address, which browsers
    refuse."""
    rp_id = settings.PORTAL_WEBAUTHN_RP_ID or urlsplit(settings.PORTAL_BASE_URL).hostname or ""
    try:
        ipaddress.ip_address(rp_id)
    except ValueError:
        return rp_id
    return ""


def relying_party(request) -> tuple[str, str] | None:
    """(relying party id, expected origin) when this request's host may use passkeys: the
    configured id (else the host of PORTAL_BASE_URL), and the host the browser is on, which
    must be that very name."""
    rp_id = passkey_host()
    host = request.get_host().rsplit(":", 1)[0] if request.get_host() else ""
    # The page's host must be the relying party's own name, not a name below it: a
    # neighbouring host under the same domain could otherwise ask for answers meant for us.
    if not rp_id or host != rp_id:
        return None
    return rp_id, f"{request.scheme}://{request.get_host()}"


def _json_body(request) -> dict:
    if request.content_type != "application/json":
        return {}
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _qr_data_uri(text: str) -> str:
    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, box_size=8, border=2)
    return "data:image/svg+xml;base64," + base64.b64encode(image.to_string()).decode()


# --- The Security page ----------------------------------------------------------------------


def _security_context(request, **extra) -> dict:
    account = request.user
    app = account.totpdevice_set.filter(confirmed=True).first()
    sessions = [
        {
            "current": s.session_key == request.session.session_key,
            "device": describe_user_agent(s.user_agent),
            "ip": s.ip,
            "signed_in_at": s.signed_in_at,
            "last_seen_at": s.last_seen_at,
        }
        for s in AccountSession.objects.filter(
            account=account, expire_date__gt=timezone.now()
        ).order_by("-last_seen_at")[:50]
    ]
    sessions.sort(key=lambda s: not s["current"])
    has_factor, required = flags_for(account)
    return {
        "app": app,
        "passkeys": Passkey.objects.filter(user=account).order_by("created_at"),
        "recovery_left": services.recovery_codes_left(account=account),
        "sessions": sessions,
        "passkeys_available": relying_party(request) is not None,
        "passkey_host": passkey_host(),
        "required": required and not session_meets_requirement(request),
        "has_factor": app is not None or has_factor,
        **extra,
    }


@login_required
@require_http_methods(["GET"])
def security(request):
    return render(request, "organizations/security.html", _security_context(request))


@login_required
@require_http_methods(["GET", "POST"])
def app_setup(request):
    """Set up the authenticator app: a POST from the Security page starts it (a new secret);
    the page shows the QR code and the secret, and takes the first code."""
    account = request.user
    form = SecondFactorCodeForm(request.POST if "code" in request.POST else None)
    if request.method == "POST" and "code" not in request.POST:
        services.totp_begin(account=account)
        return redirect("organizations:security_app")
    device = services.totp_pending(account=account)
    if device is None:
        messages.info(request, "Start the set-up of an authenticator app here.")
        return redirect("organizations:security")
    if form.is_bound and form.is_valid():
        try:
            device, codes = services.totp_confirm(account=account, code=form.cleaned_data["code"])
        except errors.DomainError as exc:
            form.add_error("code", exc.message)
        else:
            session_mark_verified(request, device)
            messages.success(request, "The authenticator app is set up.")
            if codes:
                return render(request, "organizations/recovery_codes.html", {"codes": codes})
            return redirect("organizations:security")
    secret = base64.b32encode(device.bin_key).decode()
    context = {
        "form": form,
        "qr": _qr_data_uri(device.config_url),
        "secret": " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
    }
    return render(request, "organizations/security_app.html", context)


@login_required
@require_POST
def factor_remove(request, kind: str, pk: int):
    try:
        services.second_factor_remove(account=request.user, kind=kind, pk=pk)
    except errors.NotFound:
        messages.error(request, "That second factor was already removed.")
    except errors.DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            "The authenticator app was removed." if kind == "totp" else "The passkey was removed.",
        )
    return redirect("organizations:security")


@login_required
@require_http_methods(["GET", "POST"])
def recovery_codes(request):
    """POST: ten new codes. GET: the codes a new passkey came with, once."""
    if request.method == "GET":
        codes = request.session.pop(NEW_RECOVERY_CODES, None)
        if not codes:
            return redirect("organizations:security")
        return render(request, "organizations/recovery_codes.html", {"codes": codes})
    try:
        codes = services.recovery_codes_regenerate(account=request.user)
    except errors.DomainError as exc:
        messages.error(request, exc.message)
        return redirect("organizations:security")
    return render(request, "organizations/recovery_codes.html", {"codes": codes})


@login_required
@require_POST
def sessions_end_others(request):
    ended = services.sessions_end_others(
        account=request.user, keep_session_key=request.session.session_key
    )
    messages.success(
        request,
        f"Signed out of {ended} other session{'s' if ended != 1 else ''}."
        if ended
        else "There were no other sessions.",
    )
    return redirect("organizations:security")


@login_required
@require_POST
def passkey_options(request):
    party = relying_party(request)
    if party is None:
        return JsonResponse({"error": "Passkeys are not available at this address."}, status=400)
    options, challenge = services.passkey_registration_options(account=request.user, rp_id=party[0])
    request.session[REGISTRATION_CHALLENGE] = base64.b64encode(challenge).decode()
    return JsonResponse(json.loads(options))


@login_required
@require_POST
def passkey_add(request):
    party = relying_party(request)
    challenge = request.session.pop(REGISTRATION_CHALLENGE, None)
    body = _json_body(request)
    if party is None or challenge is None or "credential" not in body:
        return JsonResponse({"error": "Start adding the passkey again."}, status=400)
    try:
        passkey, codes = services.passkey_register(
            account=request.user,
            name=str(body.get("name") or ""),
            credential=json.dumps(body["credential"]),
            challenge=base64.b64decode(challenge),
            rp_id=party[0],
            origin=party[1],
        )
    except errors.DomainError as exc:
        return JsonResponse({"error": exc.message}, status=400)
    session_mark_verified(request, passkey)
    messages.success(request, f"The passkey “{passkey.name}” was added.")
    if codes:
        # Shown once, on the next page, which takes them out of the session.
        request.session[NEW_RECOVERY_CODES] = codes
        return JsonResponse({"redirect": reverse("organizations:recovery_codes")})
    return JsonResponse({"redirect": reverse("organizations:security")})


class LoginView(auth_views.LoginView):
    """Django's sign-in page, with "Sign in with a passkey" where passkeys work."""

    redirect_authenticated_user = True

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["passkeys_available"] = relying_party(self.request) is not None
        return context


# --- The second sign-in step ----------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def verify(request):
    """After the password: the authenticator app's code, a recovery code, or a passkey."""
    if not request.user.is_authenticated:
        return redirect("login")
    next_url = safe_next(request, request.POST.get("next") or request.GET.get("next"))
    if session_verified(request) or not flags_for(request.user)[0]:
        return HttpResponseRedirect(next_url)
    form = SecondFactorCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            device = services.second_factor_check(
                account=request.user, code=form.cleaned_data["code"]
            )
        except errors.DomainError as exc:
            form.add_error("code", exc.message)
        else:
            session_mark_verified(request, device)
            if services.recovery_codes_left(account=request.user) <= 2 and hasattr(
                device, "token_set"
            ):
                messages.warning(
                    request, "You are running out of recovery codes: make new ones on Security."
                )
            return HttpResponseRedirect(next_url)
    context = {
        "form": form,
        "next": next_url,
        "has_passkeys": Passkey.objects.filter(user=request.user).exists(),
        "passkeys_available": relying_party(request) is not None,
        "hide_nav": True,
    }
    return render(request, "registration/verify.html", context)


@require_POST
def passkey_sign_in_options(request):
    """Options for signing in with a passkey: from the sign-in page any of the site's passkeys;
    as a second step only the signed-in account's."""
    party = relying_party(request)
    if party is None:
        return JsonResponse({"error": "Passkeys are not available at this address."}, status=400)
    account = request.user if request.user.is_authenticated else None
    options, challenge = services.passkey_authentication_options(rp_id=party[0], account=account)
    request.session[AUTHENTICATION_CHALLENGE] = base64.b64encode(challenge).decode()
    return JsonResponse(json.loads(options))


@require_POST
def passkey_sign_in(request):
    party = relying_party(request)
    challenge = request.session.pop(AUTHENTICATION_CHALLENGE, None)
    body = _json_body(request)
    if party is None or challenge is None or "credential" not in body:
        return JsonResponse({"error": "Start signing in with the passkey again."}, status=400)
    account = request.user if request.user.is_authenticated else None
    try:
        passkey = services.passkey_authenticate(
            credential=json.dumps(body["credential"]),
            challenge=base64.b64decode(challenge),
            rp_id=party[0],
            origin=party[1],
            account=account,
        )
    except errors.DomainError as exc:
        return JsonResponse({"error": exc.message}, status=400)
    if not passkey.user.is_active:
        return JsonResponse({"error": "This account is disabled."}, status=400)
    if account is None and sign_on_required_for(email=passkey.user.email):
        # R43: the organization signs its people in through its provider only.
        return JsonResponse(
            {"error": "Your organization signs you in through its own sign-in page."}, status=400
        )
    if account is None:
        login(request, passkey.user, backend="organizations.backends.EmailBackend")
    session_mark_verified(request, passkey)
    return JsonResponse({"redirect": safe_next(request, body.get("next"))})
