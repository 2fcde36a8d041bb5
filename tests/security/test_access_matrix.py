"""Who may reach what: every URL of the portal against every kind of person (rules.md "Security").

The URLs are discovered, not listed by hand: the resolver is walked for pages and their
actions, and the OpenAPI schema for API operations. Each one must have an entry in MATRIX or
API_MATRIX below, so a new URL without a decision about its access fails here.

Pages: nobody signed in → the sign-in page (or the public page itself); a member, the
administrator of another organization and staff → 404 for the organization's pages (never its
data, never a 500); its administrator → the page. Each request is made as a full page and as an
htmx request, and every request by a wrong person leaves the organization unchanged.

API: no token (or only a browser session) → 401; a token of another organization → 404 for
this organization's objects, its own organization's data otherwise; a token without the scope
→ 403.
"""

import json
import re
from dataclasses import dataclass, field

import pytest
from django.contrib import admin as django_admin
from django.urls import URLResolver, get_resolver, reverse

from console.api import api
from credits.models import CreditAccess
from licensing.models import License
from organizations.models import Invitation, Membership
from portal.models import ApiToken
from tests.credits.factories import consume, fund_pool, set_access
from tests.factories import AccountFactory
from tests.security.conftest import ROLES

# Views and headers, the same on every PostgreSQL version: once per CI run (`slow`).
pytestmark = [pytest.mark.django_db, pytest.mark.slow]

PUBLIC = "public"  # anyone, signed in or not
SIGNED_IN = "signed_in"  # any signed-in account, about its own things
ORG_ADMIN = "org_admin"  # the organization's administrator only
WRONG_PEOPLE = ("member", "other_admin", "staff")

# What the right organization's pages show and nobody else may see.
SECRETS = ("worker@right.example", "invitee@right.example", "Right Studio")


@dataclass(frozen=True)
class Rule:
    """`get` / `post`: the statuses the people allowed in may receive; None: the method is
    refused (405, or 404 / sign-in first where the access check runs first).

    `kwargs(world)` fills the URL from objects of the right organization; `data(world)` is
    the body of a POST by the people allowed in. `by_role` overrides what one role gets.
    `object_in_url`: the URL names one of the organization's objects, so the administrator
    of another organization gets 404 too (without it they see their own organization).
    `reveals`: the URL itself is the credential, and the page names the organization to
    whoever holds it."""

    access: str
    get: frozenset | None = None
    post: frozenset | None = None
    kwargs: object = None
    data: object = None
    object_in_url: bool = False
    by_role: dict = field(default_factory=dict)
    reveals: bool = False


def ok(*statuses):
    return frozenset(statuses)


def pk_of(attr):
    return lambda w: {"pk": getattr(w, attr).pk}


def seat(w):
    return {"seat_id": w.seat.pk}


MATRIX = {
    # --- Sign-in, sign-out, password (Django's auth views) -------------------------------
    "home": Rule(SIGNED_IN, get=ok(302), post=ok(302)),
    "login": Rule(
        PUBLIC,
        get=ok(200),
        post=ok(200),
        by_role={r: {"GET": ok(302), "POST": ok(302)} for r in ROLES[1:]},
    ),
    # Sign-out asks first on a GET (anonymous visitors go to sign in) and confirms the POST.
    "logout": Rule(
        PUBLIC,
        get=ok(200),
        post=ok(200),
        by_role={"anonymous": {"GET": ok(302), "POST": ok(200)}},
    ),
    "password_change": Rule(SIGNED_IN, get=ok(200), post=ok(200)),
    "password_change_done": Rule(SIGNED_IN, get=ok(200)),
    "password_reset": Rule(PUBLIC, get=ok(200), post=ok(200)),
    "password_reset_done": Rule(PUBLIC, get=ok(200)),
    "password_reset_confirm": Rule(
        PUBLIC, get=ok(200), post=ok(200), kwargs=lambda w: {"uidb64": "MQ", "token": "bad-x"}
    ),
    "password_reset_complete": Rule(PUBLIC, get=ok(200)),
    # SCIM (R44) takes a directory token only: a browser session, signed in or not, gets 401.
    "scim": Rule(PUBLIC, get=ok(401), post=ok(401), kwargs=lambda w: {"path": "Users"}),
    # --- Second factors and sessions (R42) -------------------------------------------------
    # The second step sends whoever needs none on (or to sign in); passkey sign-in is public.
    "second_factor_verify": Rule(PUBLIC, get=ok(302), post=ok(302)),
    "passkey_sign_in_options": Rule(PUBLIC, post=ok(200)),
    "passkey_sign_in": Rule(PUBLIC, post=ok(400)),
    # --- Single sign-on (R43) ----------------------------------------------------------------
    # Whether an email signs in through a provider; the callback without a sign-in under way
    # in this session is refused (400), whoever asks.
    "sso_discover": Rule(PUBLIC, get=ok(200)),
    "sso_callback": Rule(PUBLIC, get=ok(400)),
    "organizations:security": Rule(SIGNED_IN, get=ok(200)),
    # Without a set-up under way the page sends back to Security; a POST starts one.
    "organizations:security_app": Rule(SIGNED_IN, get=ok(302), post=ok(302)),
    "organizations:security_factor_remove": Rule(
        SIGNED_IN, post=ok(302), kwargs=lambda w: {"kind": "totp", "pk": 999_999}
    ),
    # Staff have a factor here (the codes page); the others are told to add one first. A GET
    # shows the codes a new passkey came with, once; without any it goes back to Security.
    "organizations:recovery_codes": Rule(SIGNED_IN, get=ok(302), post=ok(200, 302)),
    "organizations:sessions_end_others": Rule(SIGNED_IN, post=ok(302)),
    "organizations:passkey_options": Rule(SIGNED_IN, post=ok(200)),
    "organizations:passkey_add": Rule(SIGNED_IN, post=ok(400)),
    # --- Everyone's own pages -------------------------------------------------------------
    "account": Rule(SIGNED_IN, get=ok(200), post=ok(200)),
    "dismiss_announcement": Rule(SIGNED_IN, post=ok(200, 204, 302), kwargs=pk_of("announcement")),
    "licensing:my_licenses": Rule(SIGNED_IN, get=ok(200)),
    "licensing:apply": Rule(SIGNED_IN, post=ok(302, 422)),
    "licensing:checkout": Rule(SIGNED_IN, get=ok(200), post=ok(422)),
    "credits:my_credits": Rule(SIGNED_IN, get=ok(200), post=ok(200, 405, 422)),
    "credits:my_credits_buy": Rule(SIGNED_IN, get=ok(200), post=ok(200, 302, 422)),
    "credits:my_credits_trial": Rule(SIGNED_IN, post=ok(302)),
    "credits:my_credits_ask": Rule(SIGNED_IN, post=ok(200, 302, 422)),
    # Accounts that administer an organization are sent to it; the others may ask for one.
    "organizations:setup": Rule(
        SIGNED_IN,
        get=ok(200),
        post=ok(200, 422),
        by_role={r: {"GET": ok(302), "POST": ok(302)} for r in ("admin", "other_admin")},
    ),
    # A setup request of nobody here: 404 alike for everyone signed in.
    "organizations:setup_withdraw": Rule(
        SIGNED_IN, post=ok(404), kwargs=lambda w: {"pk": 987654321}
    ),
    # The invitation link is the credential: anyone holding it sees the form; a signed-in
    # account other than the invited one is refused (403 reveals nothing).
    "organizations:invitation_accept": Rule(
        PUBLIC,
        get=ok(200),
        post=ok(422),
        kwargs=lambda w: {"token": w.invitation_token},
        by_role={r: {"GET": ok(403), "POST": ok(403)} for r in ROLES[1:]},
        reveals=True,
    ),
    # --- The Organization tab ---------------------------------------------------------------
    "organizations:overview": Rule(ORG_ADMIN, get=ok(200), post=ok(200, 405)),
    "organizations:activity": Rule(ORG_ADMIN, get=ok(200), post=ok(200, 405)),
    "organizations:settings": Rule(ORG_ADMIN, get=ok(200), post=ok(200, 302, 422)),
    "organizations:token_create": Rule(ORG_ADMIN, post=ok(200, 422)),
    "organizations:sign_on_save": Rule(ORG_ADMIN, post=ok(302, 422)),
    "organizations:sign_on_test": Rule(ORG_ADMIN, post=ok(302)),
    "organizations:sign_on_remove": Rule(ORG_ADMIN, post=ok(302)),
    "organizations:token_revoke": Rule(
        ORG_ADMIN, post=ok(200, 302), kwargs=pk_of("org_token"), object_in_url=True
    ),
    "organizations:users": Rule(ORG_ADMIN, get=ok(200)),
    "organizations:member_add": Rule(ORG_ADMIN, get=ok(200), post=ok(422)),
    "organizations:members_bulk_remove": Rule(
        ORG_ADMIN, post=ok(200, 302), data=lambda w: {"members": [w.membership.pk]}
    ),
    "organizations:member_detail": Rule(
        ORG_ADMIN, get=ok(200), kwargs=pk_of("membership"), object_in_url=True
    ),
    "organizations:member_remove": Rule(
        ORG_ADMIN, get=ok(200), post=ok(200, 302), kwargs=pk_of("membership"), object_in_url=True
    ),
    "organizations:invitations_bulk": Rule(
        ORG_ADMIN,
        post=ok(200, 302),
        data=lambda w: {"action": "cancel", "invitations": [w.invitation.pk]},
    ),
    "organizations:invitation_resend": Rule(
        ORG_ADMIN, post=ok(200, 204, 302), kwargs=pk_of("invitation"), object_in_url=True
    ),
    "organizations:invitation_cancel": Rule(
        ORG_ADMIN, post=ok(200, 204, 302), kwargs=pk_of("invitation"), object_in_url=True
    ),
    "organizations:member_import": Rule(ORG_ADMIN, get=ok(200), post=ok(422)),
    "organizations:member_import_apply": Rule(
        ORG_ADMIN, post=ok(302), data=lambda w: {"emails": "applied@right.example"}
    ),
    "organizations:member_import_template": Rule(ORG_ADMIN, get=ok(200)),
    # Orders (R40): the organization's for its administrator, personal ones for their buyer.
    "billing:org_billing": Rule(ORG_ADMIN, get=ok(200)),
    "billing:my_orders": Rule(SIGNED_IN, get=ok(200)),
    "billing:receipt": Rule(ORG_ADMIN, get=ok(200), kwargs=pk_of("order"), object_in_url=True),
    "billing:receipt_pdf": Rule(ORG_ADMIN, get=ok(200), kwargs=pk_of("order"), object_in_url=True),
    # CSV exports (R41): the administrator's own organization only.
    "organizations:export_members": Rule(ORG_ADMIN, get=ok(200)),
    "organizations:export_seats": Rule(ORG_ADMIN, get=ok(200)),
    "organizations:export_credit_history": Rule(ORG_ADMIN, get=ok(200)),
    "organizations:export_activity": Rule(ORG_ADMIN, get=ok(200)),
    "export_my_credit_history": Rule(SIGNED_IN, get=ok(200)),
    "organizations:member_import_report": Rule(
        ORG_ADMIN, get=ok(200), kwargs=pk_of("member_import"), object_in_url=True
    ),
    # The part of the report's page that htmx polls while the import's job runs (R7, R45).
    "organizations:member_import_progress": Rule(
        ORG_ADMIN, get=ok(200), kwargs=pk_of("member_import"), object_in_url=True
    ),
    "licensing:org_licenses": Rule(ORG_ADMIN, get=ok(200)),
    "licensing:member_search": Rule(ORG_ADMIN, get=ok(200)),
    "licensing:assign_any": Rule(
        ORG_ADMIN,
        post=ok(200, 302, 422),
        data=lambda w: {"product": "studio", "email": w.member.email},
        by_role={"other_admin": {"POST": ok(404)}},  # posted without a product
    ),
    "licensing:bulk_assign": Rule(
        ORG_ADMIN,
        post=ok(200, 302),
        data=lambda w: {"product": "studio", "members": [w.membership.pk]},
        by_role={"other_admin": {"POST": ok(404)}},  # posted without a product
    ),
    "licensing:org_checkout": Rule(ORG_ADMIN, get=ok(200), post=ok(422)),
    "licensing:seat_row": Rule(ORG_ADMIN, get=ok(200, 302), kwargs=seat, object_in_url=True),
    "licensing:seat_assign": Rule(
        ORG_ADMIN,
        get=ok(200, 302),
        post=ok(200, 302),
        kwargs=seat,
        data=lambda w: {"email": w.member.email},
        object_in_url=True,
    ),
    "licensing:seat_revoke": Rule(ORG_ADMIN, post=ok(200, 302), kwargs=seat, object_in_url=True),
    "credits:org_credits": Rule(ORG_ADMIN, get=ok(200), post=ok(200, 405)),
    "credits:org_credits_buy": Rule(ORG_ADMIN, get=ok(200), post=ok(302, 422)),
    "credits:org_access_update": Rule(
        ORG_ADMIN,
        get=ok(302),
        post=ok(200, 302, 422),
        kwargs=pk_of("credit_access"),
        data=lambda w: {f"a{w.credit_access.pk}-mode": "disabled"},
        object_in_url=True,
    ),
    "credits:org_access_bulk": Rule(ORG_ADMIN, post=ok(422)),
    "credits:org_request_answer": Rule(
        ORG_ADMIN,
        post=ok(200, 302),
        kwargs=lambda w: {"pk": w.credit_request.pk, "answer": "close"},
        object_in_url=True,
    ),
    "credits:my_request_withdraw": Rule(
        SIGNED_IN, post=ok(302, 404), kwargs=pk_of("credit_request"), object_in_url=True
    ),
    # --- The API's own pages (its operations are in API_MATRIX) -----------------------------
    "api:openapi-json": Rule(PUBLIC, get=ok(200), post=ok(200, 405)),
    "api:openapi-view": Rule(PUBLIC, get=ok(200), post=ok(200, 405)),
    "api:api-root": Rule(PUBLIC, get=ok(404), post=ok(404)),
}


def discovered_url_names():
    """Every named URL outside the Django admin (checked apart, below) and outside the API's
    operations (discovered from the OpenAPI schema)."""
    operations = {
        f"api:{op.get('operationId')}"
        for methods in api.get_openapi_schema()["paths"].values()
        for op in methods.values()
    }
    names = set()

    def walk(resolver, namespace=""):
        for pattern in resolver.url_patterns:
            if isinstance(pattern, URLResolver):
                if pattern.namespace == "admin":
                    continue
                inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
                walk(pattern, inner)
            elif pattern.name:
                names.add(namespace + pattern.name)

    walk(get_resolver())
    return sorted(names - operations)


def discovered_operations():
    schema = api.get_openapi_schema()
    return sorted(
        (method.upper(), path) for path, methods in schema["paths"].items() for method in methods
    )


def test_every_url_has_a_decision_about_its_access():
    """A new URL fails here until MATRIX says who may reach it."""
    assert sorted(set(discovered_url_names()) - set(MATRIX)) == []
    assert sorted(set(MATRIX) - set(discovered_url_names())) == []
    assert sorted(set(discovered_operations()) - set(API_MATRIX)) == []
    assert sorted(set(API_MATRIX) - set(discovered_operations())) == []


def organization_state(w):
    """What a wrong person must never change."""
    org = w.organization
    return (
        sorted(Membership.objects.filter(organization=org).values_list("account__email", "role")),
        sorted(Invitation.objects.filter(organization=org).values_list("email", "state")),
        sorted(License.objects.filter(organization=org).values_list("pk", "assignee_id")),
        sorted(
            CreditAccess.objects.filter(organization=org).values_list("account_id", "mode", "limit")
        ),
        sorted(ApiToken.objects.filter(organization=org).values_list("pk", "revoked_at")),
        (org.name, org.low_balance_threshold),
    )


def expected_for(rule: Rule, role: str, method: str):
    """(statuses, must_hide_the_organization) for one role."""
    allowed = rule.get if method == "GET" else rule.post
    if role in rule.by_role and method in rule.by_role[role]:
        return rule.by_role[role][method], role != "admin" and not rule.reveals
    if role == "anonymous" and rule.access != PUBLIC:
        return "sign-in", True
    if allowed is None:
        # A refused method: 405, or the access check answers first.
        return ok(404, 405), True
    if rule.access == ORG_ADMIN and role in WRONG_PEOPLE:
        if role == "other_admin" and not rule.object_in_url:
            return allowed, True  # their own organization's page
        return ok(404), True
    return allowed, role not in ("admin", "member") and not rule.reveals


def rule_numbers_shown(body: str) -> list[str]:
    """Rule numbers (R1…R45) in what a person reads: the text of a page outside its tags and
    scripts, or a JSON document such as the API's description. They are for developers."""
    text = re.sub(r"<script.*?</script>|<style.*?</style>|<[^>]+>", " ", body, flags=re.S)
    return sorted(set(re.findall(r"\bR\d{1,2}\b", text)))


# Roles in this order: the administrator last, since what they post may change things.
CASES = [
    pytest.param(name, method, htmx, id=f"{name}-{method}{'-htmx' if htmx else ''}")
    for name in sorted(MATRIX)
    for method in ("GET", "POST")
    for htmx in (False, True)
]


@pytest.mark.parametrize(("name", "method", "htmx"), CASES)
def test_page_access(client, world, name, method, htmx):
    rule = MATRIX[name]
    url = reverse(name, kwargs=rule.kwargs(world) if rule.kwargs else None)
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    problems = []
    for role in ROLES:
        client.logout()
        if role != "anonymous":
            client.force_login(world.account(role))
        expected, hide = expected_for(rule, role, method)
        before = organization_state(world)
        if method == "GET":
            response = client.get(url, **headers)
        else:
            data = rule.data(world) if (rule.data and role == "admin") else {}
            response = client.post(url, data, **headers)
        status = response.status_code
        if expected == "sign-in":
            location = response.get("Location", "")
            if status != 302 or not location.startswith("/accounts/login/?next="):
                problems.append(f"{role}: {status} {location!r}, expected the sign-in redirect")
        elif status not in expected:
            problems.append(f"{role}: {status}, expected one of {sorted(expected)}")
        content = b"".join(response.streaming_content) if response.streaming else response.content
        body = content.decode(errors="replace")
        if hide and role != "admin":
            leaked = [s for s in SECRETS if s in body]
            if leaked:
                problems.append(f"{role}: the page shows {leaked}")
            if organization_state(world) != before:
                problems.append(f"{role}: the organization changed")
        if status >= 500:
            problems.append(f"{role}: server error")
        # A PDF's bytes are not words (its "5 0 R" object references are not rule numbers);
        # what a receipt PDF says is read back with pdftotext in tests/billing.
        textual = not response.get("Content-Type", "").startswith("application/pdf")
        if status == 200 and textual and rule_numbers_shown(body):
            problems.append(f"{role}: the page shows {rule_numbers_shown(body)}")
    assert problems == [], f"{method} {url}"


# --- The Django admin: staff only ----------------------------------------------------------


def admin_urls():
    """The admin's index and every registered model's list."""
    urls = [reverse("admin:index")]
    for model in django_admin.site._registry:
        opts = model._meta
        urls.append(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
    return urls


def test_the_django_admin_is_for_staff_only(client, world):
    """Staff who passed their second factor get the admin; staff without one are sent to set
    it up (R42); everyone else is sent to the admin's sign-in and sees nothing."""
    problems = []
    unverified = AccountFactory(is_staff=True, is_superuser=True, email="new@vendor.example")
    for url in admin_urls():
        for role in (*ROLES, "staff_without_second_factor"):
            client.logout()
            if role == "staff_without_second_factor":
                client.force_login_without_second_factor(unverified)
            elif role != "anonymous":
                client.force_login(world.account(role))
            response = client.get(url)
            if role == "staff_without_second_factor":
                if response.status_code != 302 or response["Location"] != "/account/security/":
                    problems.append(f"{url} {role}: {response.status_code}")
            elif role == "staff":
                if response.status_code != 200:
                    problems.append(f"{url} staff: {response.status_code}")
                shown = rule_numbers_shown(response.content.decode())
                if shown:
                    problems.append(f"{url} shows {shown}")
            elif response.status_code != 302 or "/admin/login/" not in response["Location"]:
                problems.append(f"{url} {role}: {response.status_code}")
    assert len(admin_urls()) > 10
    assert problems == []


# --- The API ---------------------------------------------------------------------------------

ORG = "org"  # an org:admin token of the right organization
SERVICE = "service"  # a service token with the scope (listed)


@dataclass(frozen=True)
class ApiRule:
    """`kind`: ORG or the service scope needed. `ok`: statuses for the right token.
    `object_in_path`: names one of the organization's objects (another organization's token
    gets 404); otherwise another organization's token sees only its own organization.
    `body(world)`: the JSON body sent."""

    kind: str
    ok: frozenset
    object_in_path: bool = False
    body: object = None


API_MATRIX = {
    ("GET", "/api/v1/org"): ApiRule(ORG, ok(200)),
    ("GET", "/api/v1/org/members"): ApiRule(ORG, ok(200)),
    ("POST", "/api/v1/org/members"): ApiRule(
        ORG, ok(201), body=lambda w: {"email": "newcomer@elsewhere.example"}
    ),
    ("DELETE", "/api/v1/org/members/{email}"): ApiRule(ORG, ok(204), object_in_path=True),
    ("PUT", "/api/v1/org/members/{email}/credit-access"): ApiRule(
        ORG, ok(200), object_in_path=True, body=lambda w: {"mode": "disabled"}
    ),
    ("GET", "/api/v1/org/licenses"): ApiRule(ORG, ok(200)),
    ("PUT", "/api/v1/org/licenses/{license_id}/assignee"): ApiRule(
        ORG, ok(200, 409), object_in_path=True, body=lambda w: {"email": w.member.email}
    ),
    ("DELETE", "/api/v1/org/licenses/{license_id}/assignee"): ApiRule(
        ORG, ok(204), object_in_path=True
    ),
    ("GET", "/api/v1/accounts/{email}/entitlements"): ApiRule("entitlements:read", ok(200)),
    ("GET", "/api/v1/accounts/{email}/credits"): ApiRule("credits:read", ok(200)),
    ("POST", "/api/v1/credits/consumptions"): ApiRule(
        "credits:consume",
        ok(201),
        body=lambda w: {"account": w.member.email, "amount": "1.00", "reference": "job-new"},
    ),
    ("POST", "/api/v1/credits/consumptions/{reference}/refund"): ApiRule(
        "credits:consume", ok(200), body=lambda w: {}
    ),
    ("POST", "/api/v1/credits/holds"): ApiRule(
        "credits:consume",
        ok(201),
        body=lambda w: {"account": w.member.email, "amount": "1.00", "reference": "hold-new"},
    ),
    ("GET", "/api/v1/credits/holds/{reference}"): ApiRule("credits:consume", ok(200)),
    ("PATCH", "/api/v1/credits/holds/{reference}"): ApiRule(
        "credits:consume", ok(200), body=lambda w: {"amount": "6.00"}
    ),
    ("POST", "/api/v1/credits/holds/{reference}/capture"): ApiRule(
        "credits:consume", ok(200), body=lambda w: {}
    ),
    ("POST", "/api/v1/credits/holds/{reference}/release"): ApiRule(
        "credits:consume", ok(200), body=lambda w: {}
    ),
}


def api_path(path, w):
    return (
        path.replace("{email}", w.member.email)
        .replace("{license_id}", str(w.seat.pk))
        .replace("{reference}", "hold-right-1" if "/holds/" in path else "job-right-1")
    )


@pytest.fixture
def api_world(world):
    """The member draws from the pool, so there is a consumption to refund."""
    fund_pool(world.organization, "50.00")
    set_access(world.member, world.organization, "unlimited")
    consume(world.member, "2.00", reference="job-right-1")
    # …and a running job holds credits, so there is a hold to read, raise and settle.
    from credits.services import hold_open

    hold_open(email=world.member.email, amount="5.00", reference="hold-right-1")
    return world


def api_call(client, method, path, body, secret=None, **extra):
    if secret:
        extra["HTTP_AUTHORIZATION"] = f"Bearer {secret}"
    return client.generic(
        method,
        path,
        data="" if body is None else json.dumps(body),
        content_type="application/json",
        **extra,
    )


@pytest.mark.parametrize(
    ("method", "path"), [pytest.param(m, p, id=f"{m} {p}") for m, p in sorted(API_MATRIX)]
)
def test_api_access(client, api_world, method, path):
    w = api_world
    rule = API_MATRIX[(method, path)]
    url = api_path(path, w)
    body = rule.body(w) if rule.body else None
    problems = []

    # An answer may repeat what the caller sent (e.g. the email in the path), nothing more.
    sent = url + json.dumps(body)
    hidden = [s for s in SECRETS if s not in sent]

    def check(who, response, statuses, *, hide=True):
        if response.status_code not in statuses:
            problems.append(f"{who}: {response.status_code} {response.content[:200]!r}")
        if hide and any(s in response.content.decode() for s in hidden):
            problems.append(f"{who}: shows the organization's data")

    state = organization_state(w)
    check("no token", api_call(client, method, url, body), ok(401))
    client.force_login(w.admin)  # a browser session is not an API credential
    check("session only", api_call(client, method, url, body), ok(401))
    client.logout()
    if rule.kind == ORG:
        wrong = api_call(client, method, url, body, w.secrets["other_org"])
        check("other organization", wrong, ok(404) if rule.object_in_path else rule.ok | ok(200))
        check("service token", api_call(client, method, url, body, w.secrets["service"]), ok(403))
        right_secret = w.secrets["org"]
    else:
        check("organization token", api_call(client, method, url, body, w.secrets["org"]), ok(403))
        if rule.kind != "entitlements:read":
            weak = api_call(client, method, url, body, w.secrets["weak_service"])
            check("token without the scope", weak, ok(403))
        right_secret = w.secrets["service"]
    if organization_state(w) != state:
        problems.append("a refused request changed the organization")
    check("right token", api_call(client, method, url, body, right_secret), rule.ok, hide=False)
    assert problems == [], f"{method} {url}"


# --- Query strings never answer 500 (rules.md "Bad input") -----------------------------------

QUERY_PARAMETERS = [
    "page", "hp", "bulk_page", "q", "bulk_q", "action", "product", "month", "per_page",
    "sort", "dir", "show", "order", "kind", "person", "start", "end", "status", "next",
]  # fmt: skip
ODD_VALUES = ["99999999999999999999999", "9223372036854775807", "-1", "x\x00y", "%", "ä" * 300]


def test_no_query_string_makes_any_page_fail(client, world):
    """Security finding: huge page numbers and NUL bytes answered 500 on several pages. Every
    page the matrix knows, as the people who may see it, with every odd value in every
    parameter the portal reads."""
    problems = []
    for name, rule in sorted(MATRIX.items()):
        if rule.get is None or name.startswith("api:"):
            continue
        url = reverse(name, kwargs=rule.kwargs(world) if rule.kwargs else None)
        for role in ("admin", "member"):
            client.force_login(world.account(role))
            for value in ODD_VALUES:
                response = client.get(url, {key: value for key in QUERY_PARAMETERS})
                if response.status_code >= 500:
                    problems.append(f"{name} {role} {value[:12]!r}: {response.status_code}")
    assert problems == []
