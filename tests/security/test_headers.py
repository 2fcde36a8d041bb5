"""Content Security Policy and the other headers a scanner expects, on every response; no
inline script or style in any template; `check --deploy` clean (rules.md "Security").

Pages are checked as they are rendered (every page of the access matrix, signed in as the
administrator, full and htmx), and templates are scanned as written, so that a template no
test renders is covered too.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import reverse

from tests.security.test_access_matrix import MATRIX

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "templates"

# Views and headers, the same on every PostgreSQL version: once per CI run (`slow`).
pytestmark = [pytest.mark.django_db, pytest.mark.slow]

EXPECTED_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def directives(csp: str) -> dict[str, list[str]]:
    parsed = {}
    for part in csp.split(";"):
        words = part.split()
        if words:
            parsed[words[0]] = words[1:]
    return parsed


def assert_headers(response, *, relaxed=False):
    for name, value in EXPECTED_HEADERS.items():
        assert response.get(name) == value, (name, response.get(name))
    permissions = response["Permissions-Policy"]
    for feature in ("camera=()", "microphone=()", "geolocation=()"):
        assert feature in permissions
    csp = directives(response["Content-Security-Policy"])
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["object-src"] == ["'none'"]
    assert csp["default-src"] == ["'self'"]
    assert csp["base-uri"] == ["'self'"] and csp["form-action"] == ["'self'"]
    assert "'unsafe-eval'" not in csp["script-src"]
    if not relaxed:
        assert csp["script-src"] == ["'self'"], csp["script-src"]
        assert csp["style-src"] == ["'self'"], csp["style-src"]
    # Nothing is ever loaded from another host (rules.md "Performance": no foreign assets).
    for sources in csp.values():
        assert not any(s.startswith(("http:", "https:", "*")) for s in sources), csp


INLINE_PROBLEMS = [
    (re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I), "inline <script>"),
    (re.compile(r"<style\b", re.I), "<style> element"),
    (re.compile(r"""\sstyle\s*=\s*["'{]""", re.I), "style= attribute"),
    (re.compile(r"\shx-on[:\-\w]*\s*=", re.I), "hx-on attribute"),
    (re.compile(r"""\son[a-z]+\s*=\s*["'{]""", re.I), "inline event handler"),
    (re.compile(r"""(href|src|action)\s*=\s*["']\s*javascript:""", re.I), "javascript: URL"),
]


def inline_problems(html: str) -> list[str]:
    return [label for pattern, label in INLINE_PROBLEMS if pattern.search(html)]


def test_the_scanner_finds_each_kind_of_inline_code():
    """The patterns themselves must catch what they are meant to catch."""
    samples = [
        "<script>alert(1)</script>",
        "<style>p{}</style>",
        '<p style="color:red">',
        '<button hx-on:click="x()">',
        '<a onclick="x()">',
        '<a href="javascript:x()">',
    ]
    assert [len(inline_problems(s)) for s in samples] == [1] * len(samples)
    assert inline_problems('<script src="/static/js/htmx.min.js" defer></script>') == []
    assert inline_problems('<p class="online" data-on="x">') == []


def test_no_template_carries_inline_script_or_style():
    """Every template, including those no test renders (strict CSP: script-src/style-src
    'self', no hx-on)."""
    files = sorted(p for p in TEMPLATES.rglob("*.html"))
    assert len(files) > 30
    found = {
        str(path.relative_to(ROOT)): problems
        for path in files
        if (problems := inline_problems(path.read_text()))
    }
    assert found == {}


def test_htmx_may_not_evaluate_code():
    """htmx's own eval paths (hx-on, js: values, inline scripts in swaps) are switched off."""
    base = (TEMPLATES / "base.html").read_text()
    assert '"allowEval": false' in base
    assert '"allowScriptTags": false' in base
    assert '"includeIndicatorStyles": false' in base
    # htmx would copy an element's style attribute when it settles a swap: an inline style.
    assert '"attributesToSettle": ["class", "width", "height"]' in base


PAGES = [
    (name, rule)
    for name, rule in sorted(MATRIX.items())
    if rule.get is not None and not name.startswith("api:")
]


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_every_page_carries_the_strict_policy_and_no_inline_code(client, world, htmx):
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    checked = 0
    problems = {}
    for role in ("anonymous", "admin"):
        client.logout()
        if role == "admin":
            client.force_login(world.admin)
        for name, rule in PAGES:
            url = reverse(name, kwargs=rule.kwargs(world) if rule.kwargs else None)
            response = client.get(url, **headers)
            assert_headers(response)
            checked += 1
            is_html = response.get("Content-Type", "").startswith("text/html")
            if is_html and (found := inline_problems(response.content.decode())):
                problems[f"{role} {url}"] = found
    assert checked > 50
    assert problems == {}


def test_errors_redirects_and_api_answers_carry_the_headers_too(client, world):
    for response in [
        client.get("/no-such-page/"),
        client.get("/organization/"),  # redirect to sign in
        client.get("/api/v1/org"),  # 401 JSON
        client.get("/api/v1/openapi.json"),
        client.post("/accounts/login/", {"username": "x@y.example", "password": "nope"}),
    ]:
        assert_headers(response)


def test_only_the_django_admin_and_the_api_docs_relax_the_policy(client, world):
    client.force_login(world.staff)
    for url in ("/admin/", "/api/v1/docs"):
        response = client.get(url)
        assert response.status_code == 200
        assert_headers(response, relaxed=True)
    # Anything else under similar names keeps the strict policy.
    assert_headers(client.get("/administration/"))
    assert_headers(client.get("/api/v1/docsx"))


def test_check_deploy_is_clean_with_production_settings():
    """`manage.py check --deploy` with the production settings and only the environment a
    deployment sets: no warning at all (rules.md "Configuration")."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL"))}
    env.update(
        DJANGO_SETTINGS_MODULE="portal.settings.production",
        DJANGO_SECRET_KEY="deploy-check-" + "k3y-w1th-3nough-ch4rs-and-v4riety-!@#$%^&*" * 2,
        DJANGO_ALLOWED_HOSTS="portal.example.com",
        # Never connected to: `check --deploy` reads settings only.
        DATABASE_URL="postgres://unused@127.0.0.1:9/unused",
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout
