"""The test identity provider (tests/sso/idp.mjs, the Node `oidc-provider` package), started
once per test session on a free local port, and a helper that signs in through it."""

import json
import shutil
import socket
import subprocess
from html import escape
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


def oidc_provider_version() -> str:
    package = ROOT / "node_modules" / "oidc-provider" / "package.json"
    return json.loads(package.read_text())["version"]


def idp_start(clients: dict[str, str], redirect_uri: str, *, form: bool = False):
    """Start tests/sso/idp.mjs on a free port with a client per `clients` entry (id: secret)
    sending people back to `redirect_uri`; returns the process, its issuer and the line that
    says so (for the run's summary). With `form`, it signs people in through its own page."""
    node = shutil.which("node")
    assert node, "Node is needed for the test identity provider (README, make test)"
    assert (ROOT / "node_modules" / "oidc-provider").is_dir(), "run `npm ci` (make node_modules)"
    port = _free_port()
    configured = [
        {"client_id": cid, "client_secret": secret, "redirect_uris": [redirect_uri]}
        for cid, secret in clients.items()
    ]
    process = subprocess.Popen(
        [node, str(ROOT / "tests" / "sso" / "idp.mjs"), str(port), json.dumps(configured)]
        + (["form"] if form else []),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    line = process.stdout.readline().strip()
    if not line.startswith("listening "):
        process.kill()
        raise AssertionError(f"the test identity provider did not start: {line!r}")
    summary = (
        f"OIDC test provider (oidc-provider {oidc_provider_version()}) started on port {port}"
        + (" with its sign-in page" if form else "")
    )
    return process, line.split()[1], summary


def idp_stop(process) -> None:
    process.terminate()
    process.wait(timeout=10)


_REPORTED: set[str] = set()


def idp_report(record_property, summary: str) -> None:
    """Put `summary` in the run's terminal summary (tests/conftest.py), once per process: the
    first test that uses a provider records it, so CI's log shows that the provider started
    and that tests used it, without `-s`."""
    if summary not in _REPORTED:
        _REPORTED.add(summary)
        record_property("summary", summary)


@pytest.fixture(scope="session")
def _idp():
    process, issuer, summary = idp_start(CLIENTS, CALLBACK)
    yield issuer, summary
    idp_stop(process)


@pytest.fixture
def idp_issuer(_idp, record_property):
    issuer, summary = _idp
    idp_report(record_property, summary)
    return issuer


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


def provider_url(response) -> str:
    """Where the email-first step sends the browser: a page of the portal that goes on to the
    provider (its Refresh header, and its link), never a redirect (CSP form-action)."""
    assert response.status_code == 200, response.content[:500]
    delay, _, url = response["Refresh"].partition(";url=")
    assert delay == "0" and url.startswith("http"), response["Refresh"]
    assert f'href="{escape(url)}"' in response.content.decode()
    return url


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
        callback = follow_provider(provider_url(response), login_hint=login_hint)
        return client.get(callback)

    return _sign_in
