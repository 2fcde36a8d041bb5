"""Cross-cutting request handling: security headers, audit channel, messages for htmx."""

from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.messages import get_messages
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware
from django.http import JsonResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django_htmx.middleware import HtmxMiddleware

from portal.api import error_response
from portal.audit import audit_channel

# No inline script or style anywhere in the portal's own pages (rules.md "Security"); htmx is
# configured in base.html not to inject its indicator styles.
CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
# The Django admin and the API docs page carry inline scripts and styles of their own.
CSP_RELAXED = CSP.replace("script-src 'self'", "script-src 'self' 'unsafe-inline'").replace(
    "style-src 'self'", "style-src 'self' 'unsafe-inline'"
)
RELAXED_PREFIXES = ("/admin/",)
RELAXED_PATHS = ("/api/v1/docs",)


def _channel_for(path: str) -> str:
    if path.startswith("/api/"):
        return "api"
    if path.startswith("/admin/"):
        return "admin"
    return "portal"


class SecurityHeadersMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        with audit_channel(_channel_for(request.path)):
            response = self.get_response(request)
        relaxed = request.path.startswith(RELAXED_PREFIXES) or request.path in RELAXED_PATHS
        response.headers.setdefault("Content-Security-Policy", CSP_RELAXED if relaxed else CSP)
        response.headers.setdefault(
            "Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()"
        )
        response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        return response


class HtmxMessagesMiddleware:
    """Django messages reach htmx swaps too: appended as an out-of-band swap of #messages.
    Every swap replaces #messages, empty when there is nothing new, so that the message of
    an earlier action never stands beside the outcome of the next one."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if is_api(request):
            return self.get_response(request)
        response = self.get_response(request)
        if not getattr(request, "htmx", False) or request.htmx.boosted:
            return response
        # A part reloading itself after another action (hx-trigger "... from:body", marked
        # X-Refresh) answers after that action's message: it leaves it in place. Only its
        # own GET: the actions inside such a part inherit the header and still answer theirs.
        if request.method == "GET" and request.headers.get("X-Refresh") == "true":
            return response
        if response.status_code in (301, 302, 303) or "HX-Redirect" in response.headers:
            return response
        if not response.get("Content-Type", "").startswith("text/html"):
            return response
        if getattr(response, "streaming", False):
            return response
        pending = list(get_messages(request))
        html = render_to_string(
            "components/messages.html", {"messages": pending, "oob": True}, request=request
        )
        response.content += html.encode()
        return response


class ApiErrorFormatMiddleware:
    """Under /api/, errors produced outside the API's handlers (405 from routing, 400 from
    Django's request guards, 413 from body size limits) still answer in the API's error
    format rather than as HTML or plain text."""

    CODES = {400: "invalid_request", 401: "unauthenticated", 403: "forbidden", 404: "not_found"}

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if not request.path.startswith("/api/") or response.status_code < 400:
            return response
        if response.get("Content-Type", "").startswith("application/json"):
            return response
        if request.path.startswith("/api/v1/docs"):
            return response
        status = response.status_code
        if status == 405:
            allowed = response.get("Allow", "")
            new = error_response(405, "method_not_allowed", f"Use one of: {allowed}.")
            new["Allow"] = allowed
            return new
        code = self.CODES.get(status, "invalid_request" if status < 500 else "internal_error")
        message = "The request is not valid." if status < 500 else "Something went wrong."
        fields = {"body": message} if status == 400 else None
        return error_response(status, code, message, fields)


class MethodNotAllowedPageMiddleware:
    """A page asked for with the wrong method (a GET of a form's POST address, from a
    bookmark or a reload) answers the portal's own page, still 405, not an empty body."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.status_code != 405 or request.path.startswith(("/api/", "/admin/", "/scim/")):
            return response
        page = render(request, "405.html", status=405)
        page["Allow"] = response.get("Allow", "")
        return page


class QueryStringGuardMiddleware:
    """A NUL byte cannot be stored or compared in PostgreSQL text: a query string that holds
    one (%00) was never typed by a person, and is answered with the portal's 400 page (the
    API's error format under /api/) before any view reads it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        pairs = ((key, value) for key, values in request.GET.lists() for value in values)
        if any("\x00" in key or "\x00" in value for key, value in pairs):
            if request.path.startswith("/api/"):
                message = "The query string holds a character that is not allowed."
                return error_response(400, "invalid_request", message, {"query": message})
            if request.path.startswith("/scim/"):
                return JsonResponse(
                    {
                        "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
                        "status": "400",
                        "scimType": "invalidValue",
                        "detail": "The query string holds a character that is not allowed.",
                    },
                    status=400,
                    content_type="application/scim+json",
                )
            return render(request, "400.html", status=400)
        return self.get_response(request)


# --- Page-only middleware ------------------------------------------------------------------
# The API authenticates by bearer token and answers JSON: it has no use for a session, a
# signed-in user, messages, htmx or the second factor's gate. (CSRF stays as it is, by name,
# for `check --deploy`; the API's views are exempt from it, which costs a flag's read.)
# Run for every API request, those took about a tenth of a worker's time on the consumption
# endpoint (profiled with py-spy under load). Each is a subclass that keeps its place in the
# chain and steps aside under /api/; the security headers, the API's error format, the
# query-string guard and the sign-in throttle still run for the API.

API_PREFIX = "/api/"


def is_api(request) -> bool:
    return request.path_info.startswith(API_PREFIX)


def _for_pages_only(middleware):
    """`middleware`, stepped over for the API. A subclass, so that Django's checks (the admin
    asks for sessions, authentication and messages) still recognise it."""

    class PagesOnly(middleware):
        def __call__(self, request):
            if is_api(request):
                return self.get_response(request)
            return super().__call__(request)

    if hasattr(middleware, "process_view"):

        def process_view(self, request, *args):
            return None if is_api(request) else middleware.process_view(self, request, *args)

        PagesOnly.process_view = process_view
    if hasattr(middleware, "process_exception"):

        def process_exception(self, request, exception):
            if is_api(request):
                return None
            return middleware.process_exception(self, request, exception)

        PagesOnly.process_exception = process_exception
    PagesOnly.__name__ = PagesOnly.__qualname__ = f"{middleware.__name__}ForPages"
    PagesOnly.__module__ = __name__
    return PagesOnly


SessionMiddlewareForPages = _for_pages_only(SessionMiddleware)
AuthenticationMiddlewareForPages = _for_pages_only(AuthenticationMiddleware)
MessageMiddlewareForPages = _for_pages_only(MessageMiddleware)
HtmxMiddlewareForPages = _for_pages_only(HtmxMiddleware)
