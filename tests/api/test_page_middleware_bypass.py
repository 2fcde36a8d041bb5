"""The API runs without the page-only middleware (sessions, user, messages, htmx, the
second factor's gate) and keeps what it needs: security headers, its error format, bearer
authentication. Pages keep every middleware."""

import pytest
from django.conf import settings

from portal.middleware import (
    AuthenticationMiddlewareForPages,
    SessionMiddlewareForPages,
)
from portal.services import api_token_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def service_token():
    return api_token_create(actor=None, name="farm", scopes=["credits:consume", "credits:read"])[1]


def test_the_page_middleware_stays_in_its_place_and_recognisable():
    middleware = settings.MIDDLEWARE
    order = [
        "portal.middleware.SessionMiddlewareForPages",
        "django.middleware.common.CommonMiddleware",
        "django.middleware.csrf.CsrfViewMiddleware",
        "portal.middleware.AuthenticationMiddlewareForPages",
        "portal.middleware.MessageMiddlewareForPages",
    ]
    assert [m for m in middleware if m in order] == order
    from django.contrib.auth.middleware import AuthenticationMiddleware
    from django.contrib.sessions.middleware import SessionMiddleware

    # Django's own checks (the admin's) look for subclasses.
    assert issubclass(SessionMiddlewareForPages, SessionMiddleware)
    assert issubclass(AuthenticationMiddlewareForPages, AuthenticationMiddleware)


def test_api_answers_without_session_user_or_csrf_cookie_and_keeps_its_headers(
    client, member, service_token
):
    response = client.get(
        f"/api/v1/accounts/{member.email}/credits",
        HTTP_AUTHORIZATION=f"Bearer {service_token}",
    )
    assert response.status_code == 200, response.content
    assert not hasattr(response.wsgi_request, "session")
    assert not hasattr(response.wsgi_request, "user")
    assert not hasattr(response.wsgi_request, "htmx")
    assert "Set-Cookie" not in response.headers
    assert response["Content-Security-Policy"].startswith("default-src 'self'")
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"


def test_api_errors_keep_their_shape_and_auth_is_still_required(client, member):
    response = client.get(f"/api/v1/accounts/{member.email}/credits")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"
    response = client.post("/api/v1/credits/consumptions", data="{", content_type="text/plain")
    assert response.status_code in (400, 401)
    assert set(response.json()) == {"error"}
    response = client.put("/api/v1/credits/consumptions")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
    assert "Set-Cookie" not in response.headers


def test_a_signed_in_session_means_nothing_to_the_api(client, member, service_token):
    client.force_login(member)
    response = client.get(f"/api/v1/accounts/{member.email}/credits")
    assert response.status_code == 401  # a session cookie is no bearer token


def test_pages_still_get_session_user_csrf_and_messages(client, member):
    client.force_login(member)
    response = client.get("/")
    assert response.wsgi_request.user == member
    assert hasattr(response.wsgi_request, "session")
    assert hasattr(response.wsgi_request, "htmx")
    assert hasattr(response.wsgi_request, "_messages")
    assert response.wsgi_request.csrf_processing_done


def test_pages_still_refuse_a_post_without_csrf_token(member):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(member)
    response = strict.post("/accounts/logout/")
    assert response.status_code == 403
