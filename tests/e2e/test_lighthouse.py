"""Lighthouse (pinned in package.json, installed by `make test` with `npm ci`) scores the
portal's pages for accessibility and best practices: each must score 100.

The sign-in page is scored signed out with Lighthouse's desktop configuration and once more
as a phone (its mobile default: touch targets, viewport, font sizes), the password reset page
as a phone; the signed-in pages on the desktop, with the session of a demo-like
organization's administrator (tests/e2e/demo.py). One Node process (tests/e2e/lighthouse.mjs:
Lighthouse's Node API on a Puppeteer page, a fresh browser context per page) audits the pages
one after the other in Debian's Chromium, never a downloaded browser. A page under 100 is
listed with the audits that cost it points; the reports are kept in artifacts/lighthouse/.
"""

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from billing.models import Order
from organizations.models import Account
from tests.e2e.conftest import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS
from tests.e2e.demo import demo_organization

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
RUNNER = Path(__file__).with_name("lighthouse.mjs")
CATEGORIES = ("accessibility", "best-practices")
REPORTS = ARTIFACTS.parent / "lighthouse"

SIGNED_IN_PAGES = [
    ("overview", "/organization/"),
    ("users", "/organization/users/"),
    ("licenses", "/organization/licenses/?product=render-studio"),
    ("credits", "/organization/credits/"),
    ("credits-review", "/organization/credits/buy/?buy-amount=1250"),
    ("billing", "/organization/billing/"),
    ("activity", "/organization/activity/"),
    ("settings", "/organization/settings/"),
    ("my-licenses", "/licenses/"),
    ("my-credits", "/credits/"),
    ("my-orders", "/account/orders/"),
    ("account", "/account/"),
    ("sign-out", "/accounts/logout/"),  # asks first
]


def lighthouse(runs: list[dict]) -> dict[str, tuple[dict, float]]:
    """Audit each run's page (tests/e2e/lighthouse.mjs); each run's report and seconds."""
    job = {"chromium": CHROMIUM, "args": CHROMIUM_ARGS, "reports": str(REPORTS), "runs": runs}
    done = subprocess.run(
        ["node", str(RUNNER)],
        input=json.dumps(job),
        capture_output=True,
        text=True,
        timeout=60 * len(runs),
        cwd=ROOT,
    )
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert done.returncode == 0 and len(lines) == len(runs), (
        f"Lighthouse failed (exit {done.returncode}):\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
    )
    errors = [f"{line['name']}: {line['error']}" for line in lines if "error" in line]
    assert errors == [], "Lighthouse failed:\n" + "\n".join(errors)
    return {
        line["name"]: (json.loads((REPORTS / f"{line['name']}.json").read_text()), line["seconds"])
        for line in lines
    }


def findings(report: dict) -> tuple[dict, list[str]]:
    """The category scores (0–100) and, for each category under 100, its audits that lost
    points: id, score, title, and the first few elements or messages they name."""
    scores, failing = {}, []
    audits = report["audits"]
    for key in CATEGORIES:
        category = report["categories"][key]
        if category["score"] is None:  # Lighthouse could not score it: say why
            scores[key] = None
            failing.append(f"  {key}: not scored ({report.get('runtimeError')})")
            continue
        scores[key] = round(category["score"] * 100)
        if scores[key] == 100:
            continue
        for ref in category["auditRefs"]:
            audit = audits[ref["id"]]
            if ref["weight"] == 0 or audit["score"] is None or audit["score"] >= 1:
                continue
            items = (audit.get("details") or {}).get("items") or []
            named = []
            for item in items[:5]:
                node = item.get("node") or {}
                why = (node.get("explanation") or "").splitlines()
                named.append(
                    (
                        node.get("selector")
                        or node.get("snippet")
                        or item.get("description")
                        or item.get("source", {}).get("url")
                        or item.get("url")
                        or json.dumps(item)[:160]
                    )
                    + (f" ({why[-1].strip()})" if why else "")
                )
            failing.append(
                f"  {key}: {ref['id']} (score {audit['score']}): {audit['title']}"
                + "".join(f"\n      {entry}" for entry in named)
            )
    return scores, failing


def session_cookie(email: str) -> dict:
    """A signed-in session of `email`, made as `Client.force_login` makes one: stored in the
    database the live server reads."""
    client = Client()
    client.force_login(Account.objects.get(email=email))
    name = settings.SESSION_COOKIE_NAME
    return {"name": name, "value": client.cookies[name].value}


def test_pages_score_100_for_accessibility_and_best_practices(live_server):
    if not shutil.which("node"):
        pytest.fail("Node.js is missing: apt-get install -y nodejs npm (as .ci/run does).")
    if not (ROOT / "node_modules" / "lighthouse").is_dir():
        pytest.fail("Lighthouse is missing: run `npm ci` (make test does).")
    admin, _organization, _people = demo_organization()
    cookie = session_cookie(admin.email)
    base = live_server.url
    runs = [
        {"name": "sign-in-desktop", "path": "/accounts/login/", "mobile": False, "cookie": None},
        {"name": "sign-in-mobile", "path": "/accounts/login/", "mobile": True, "cookie": None},
        # Reached from the sign-in page, and built the same way.
        {
            "name": "password-reset",
            "path": "/accounts/password_reset/",
            "mobile": True,
            "cookie": None,
        },
        *(
            {"name": name, "path": path, "mobile": False, "cookie": cookie}
            for name, path in SIGNED_IN_PAGES
        ),
        # A receipt of the demo's seat order (R40), on a phone.
        {
            "name": "receipt",
            "path": f"/orders/{Order.objects.filter(organization__isnull=False).first().pk}/",
            "mobile": True,
            "cookie": cookie,
        },
    ]
    for run in runs:
        run["url"] = base + run["path"]
    reports = lighthouse(runs)

    results, problems = {}, []
    for run in runs:
        report, seconds = reports[run["name"]]
        # Signed in means the page itself, not the sign-in page it would redirect to.
        assert report["finalDisplayedUrl"] == run["url"], (run["name"], report["finalDisplayedUrl"])
        assert report.get("runtimeError") is None, (run["name"], report["runtimeError"])
        assert report["configSettings"]["formFactor"] == ("mobile" if run["mobile"] else "desktop")
        scores, failing = findings(report)
        results[run["name"]] = (scores, seconds)
        if failing:
            problems.append(f"{run['name']} {run['path']} {scores}:\n" + "\n".join(failing))
    print(
        "\nLighthouse (accessibility, best practices):\n"
        + "\n".join(
            f"  {name:<16} {' '.join(str(score) for score in scores.values())}  ({seconds:.1f} s)"
            for name, (scores, seconds) in results.items()
        )
    )
    assert problems == [], "Lighthouse below 100:\n" + "\n\n".join(problems)
