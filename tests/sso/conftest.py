"""The test identity provider (tests/sso/idp.mjs, the Node `oidc-provider` package), started
once per test session on a free local port, and a helper that signs in through it."""

import json
import shutil
import socket
import subprocess
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit, urlunsplit

import pytest
import requests

from organizations import services

ROOT = Path(__file__).resolve().parents[2]
CALLBACK = "http://testserver/accounts/sso/callback/"
CLIENTS = {
    "studio-a": "secret-of-studio-a",
    "studio-b": "secret-of-studio-b",
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def idp_issuer():
    node = shutil.which("node")
    assert node, "Node is needed for the test identity provider (README, make test)"
    assert (ROOT / "node_modules" / "oidc-provider").is_dir(), "run `npm ci` (make node_modules)"
    port = _free_port()
    clients = [
        {"client_id": cid, "client_secret": secret, "redirect_uris": [CALLBACK]}
        for cid, secret in CLIENTS.items()
    ]
    process = subprocess.Popen(
        [node, str(ROOT / "tests" / "sso" / "idp.mjs"), str(port), json.dumps(clients)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    line = process.stdout.readline().strip()
    assert line.startswith("listening "), f"the test identity provider did not start: {line!r}"
    print(f"\ntest identity provider (oidc-provider) started at {line.split()[1]}")
    yield line.split()[1]
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture
def connect(idp_issuer):
    """`connect(organization, client_id, domains, required=False)`: the organization's provider
    is the test one, and staff confirmed its domains."""

    def _connect(organization, client_id, domains, required=False):
        services.identity_provider_save(
            actor=organization.administrator,
            organization=organization,
            issuer=idp_issuer,
            client_id=client_id,
            client_secret=CLIENTS[client_id],
            sign_on_required=required,
        )
        for domain in domains:
            services.email_domain_confirm(actor=None, organization=organization, domain=domain)

    return _connect


def follow_provider(url: str, *, login_hint: str | None = None) -> str:
    """Walk the provider's redirects (its interaction signs in the login_hint's account) up to
    the portal's callback; returns the callback's path and query."""
    if login_hint is not None:
        parts = urlsplit(url)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        query["login_hint"] = login_hint
        url = urlunsplit(parts._replace(query=urlencode(query)))
    browser = requests.Session()
    for _hop in range(10):
        if url.startswith(CALLBACK):
            return url.removeprefix("http://testserver")
        response = browser.get(url, allow_redirects=False, timeout=5)
        assert response.status_code in (302, 303), (response.status_code, response.text[:300])
        url = urljoin(url, response.headers["Location"])
    raise AssertionError("the provider never sent the browser back")


@pytest.fixture
def sso_sign_in(client):
    """`sso_sign_in(email, login_hint=None)`: the email-first step, the provider, and the
    callback's response (the provider asserts `login_hint` instead of the email if given)."""

    def _sign_in(email, login_hint=None):
        response = client.post("/accounts/login/", {"username": email})
        assert response.status_code == 302, response.content[:500]
        callback = follow_provider(response["Location"], login_hint=login_hint)
        return client.get(callback)

    return _sign_in
