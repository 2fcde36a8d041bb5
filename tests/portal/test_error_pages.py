"""A user never sees a traceback: error pages are the portal's own."""

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_not_found_page_is_friendly(member_client):
    response = member_client.get("/no/such/page/")
    assert response.status_code == 404
    body = response.content.decode()
    assert "Page not found" in body and "Traceback" not in body


def test_server_error_page_is_friendly(member, settings):
    from django.urls import path

    import console.urls

    def boom(request):
        raise RuntimeError("internal detail")

    settings.ROOT_URLCONF = type(
        "Urls", (), {"urlpatterns": [path("boom/", boom), *console.urls.urlpatterns]}
    )
    client = Client(raise_request_exception=False)
    client.force_login(member)
    response = client.get("/boom/")
    assert response.status_code == 500
    body = response.content.decode()
    assert "Something went wrong" in body and "internal detail" not in body


def test_missing_csrf_token_is_refused_with_a_page(member):
    client = Client(enforce_csrf_checks=True)
    client.force_login(member)
    response = client.post("/account/", {"name": "x"})
    assert response.status_code == 403
    assert "Not allowed" in response.content.decode()
