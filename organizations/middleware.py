"""R42 on every page: a signed-in person gives their second factor before anything else, and
one who must have a factor and has none sets it up first; the session notes where it is used."""

import time
from urllib.parse import urlencode

from axes.helpers import get_client_ip_address
from django.contrib import messages
from django.shortcuts import redirect
from django.urls import reverse
from django_htmx.http import HttpResponseClientRedirect

from organizations.second_factor import flags_for, session_meets_requirement, session_verified
from organizations.sessions import CLIENT_KEY, SEEN_KEY, SINCE_KEY
from portal.middleware import is_api

# Token-authenticated interfaces and files: no session, nothing to ask.
EXEMPT = ("/static/", "/api/", "/scim/", "/favicon.ico")
# What a half-signed-in session may still reach: the second step itself and signing out.
VERIFY_PATHS = ("/accounts/verify/", "/accounts/passkey/", "/accounts/logout/")
SETUP_PATHS = (*VERIFY_PATHS, "/account/security/")
# How stale a session's "last used" may get before the session is saved again to refresh it.
SEEN_EVERY_SECONDS = 300


def note_client(request) -> None:
    """Keep the session's address, browser and last use in its data (the store copies them to
    its columns). Written when they are missing or older than a few minutes, not on every
    page: a session that moves to another network shows it at the next refresh."""
    session = request.session
    now = int(time.time())
    if CLIENT_KEY not in session or now - session.get(SEEN_KEY, 0) > SEEN_EVERY_SECONDS:
        client = [get_client_ip_address(request), request.headers.get("user-agent", "")[:300]]
        session[CLIENT_KEY] = client
        session[SEEN_KEY] = now
        session.setdefault(SINCE_KEY, now)


def _go(request, url: str):
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


class SecondFactorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        # The API signs no one in (bearer tokens) and runs without sessions or request.user
        # (portal.middleware, page-only middleware): nothing to gate there.
        if is_api(request):
            return self.get_response(request)
        if not request.path_info.startswith(EXEMPT) and request.user.is_authenticated:
            note_client(request)
            response = self.gate(request)
            if response is not None:
                return response
        return self.get_response(request)

    def gate(self, request):
        path = request.path_info
        if session_verified(request):
            return None
        staff_at_admin = request.user.is_staff and path.startswith("/admin/")
        # A sign-in through the organization's identity provider meets the requirement (R43);
        # the admin still wants the portal's own second factor.
        if session_meets_requirement(request) and not staff_at_admin:
            return None
        has_factor, required = flags_for(request.user)
        if has_factor:
            if path.startswith(VERIFY_PATHS):
                return None
            query = urlencode({"next": request.get_full_path()}) if request.method == "GET" else ""
            return _go(request, reverse("second_factor_verify") + (f"?{query}" if query else ""))
        if required or staff_at_admin:
            if path.startswith(SETUP_PATHS):
                return None
            if staff_at_admin:
                text = "Set up a second factor to use the administration pages."
            else:
                text = "Your organization asks for a second factor. Set one up to continue."
            messages.info(request, text)
            return _go(request, reverse("organizations:security"))
        return None
