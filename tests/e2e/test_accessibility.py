"""Every page checked with axe-core in headless Chromium, under the real Content Security
Policy (rules.md "Use": keyboard and screen-reader friendly; labels, focus, contrast).

The pages come from the access matrix (tests/security), so a new page is checked as soon as it
has an entry there. axe is evaluated through the DevTools protocol rather than added as a
<script>, which the portal's CSP (rightly) refuses; the test proves it ran.

Also: focus is visible on what the keyboard reaches, an htmx form with an error moves focus to
the field, and messages land in the live region.
"""

from pathlib import Path

import pytest
from django.urls import reverse

from tests.factories import PASSWORD
from tests.security.conftest import world  # noqa: F401 (the fixture)
from tests.security.test_access_matrix import MATRIX, ORG_ADMIN, PUBLIC

pytestmark = pytest.mark.django_db(transaction=True)

AXE = Path(__file__).parent / "vendor" / "axe.min.js"
AXE_RUN = """async () => {
  const result = await axe.run(document, {
    runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'],
  });
  return {
    ran: result.passes.length + result.violations.length + result.incomplete.length
      + result.inapplicable.length,
    violations: result.violations
      .filter(v => v.impact === 'serious' || v.impact === 'critical')
      .map(v => v.id + ' (' + v.impact + '): ' + v.nodes.map(n => n.target.join(' ')).join(', ')),
  };
}"""
# The API docs are Swagger UI as django-ninja ships it, under its own relaxed policy; the
# portal does not style or script it.
# The licenses page's member search answers <option>s for a datalist, never a page; the
# import's progress is the part of its page that htmx polls.
NOT_PORTAL_PAGES = {
    "api:openapi-view",
    "licensing:member_search",
    "organizations:member_import_progress",
}


def run_axe(page) -> list[str]:
    """axe's serious and critical findings on the current page; fails if axe did not run."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text() + "\n;undefined")
    result = page.evaluate(AXE_RUN)
    assert result["ran"] > 20, "axe did not run"
    return result["violations"]


def pages_for(access_levels, world_):
    for name, rule in sorted(MATRIX.items()):
        if rule.get is None or rule.access not in access_levels or name in NOT_PORTAL_PAGES:
            continue
        yield name, reverse(name, kwargs=rule.kwargs(world_) if rule.kwargs else None)


def sign_in_as(page, base, email):
    page.goto(f"{base}/accounts/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state("networkidle")


def check_pages(page, base, urls, problems, csp_errors):
    checked = 0
    for name, url in urls:
        # Downloads (the CSV template) and JSON are not pages.
        probe = page.request.get(base + url, max_redirects=0)
        if not probe.headers.get("content-type", "").startswith("text/html"):
            continue
        page.goto(base + url)
        if violations := run_axe(page):
            problems[f"{name} {url}"] = violations
        checked += 1
    return checked


@pytest.mark.parametrize("width", [1280, 390], ids=["wide", "narrow"])
def test_every_page_passes_axe(live_server, browser, world, width):  # noqa: F811
    w = world
    for account in (w.admin, w.member, w.other_admin, w.staff):
        account.set_password(PASSWORD)
        account.save(update_fields=["password"])
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    csp_errors = []
    page.on(
        "console",
        lambda msg: csp_errors.append(msg.text) if "Content Security Policy" in msg.text else None,
    )
    problems = {}
    base = live_server.url
    checked = check_pages(page, base, pages_for({PUBLIC}, w), problems, csp_errors)
    sign_in_as(page, base, w.admin.email)
    checked += check_pages(page, base, pages_for({ORG_ADMIN, "signed_in"}, w), problems, [])
    page.context.clear_cookies()
    sign_in_as(page, base, w.member.email)
    checked += check_pages(
        page,
        base,
        [("my licenses", "/licenses/"), ("my credits", "/credits/"), ("account", "/account/")],
        problems,
        [],
    )
    context.close()
    assert checked > 25
    assert problems == {}
    assert csp_errors == []


def test_focus_is_visible_and_htmx_errors_take_focus_and_speak(
    live_server,
    browser,
    world,  # noqa: F811
):
    w = world
    w.admin.set_password(PASSWORD)
    w.admin.save(update_fields=["password"])
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    sign_in_as(page, live_server.url, w.admin.email)
    page.goto(live_server.url + "/organization/users/add/")

    # The first Tab reaches the skip link, and it shows where focus is.
    page.keyboard.press("Tab")
    focused = page.evaluate(
        """() => { const e = document.activeElement, s = getComputedStyle(e);
        return {cls: e.className, ring: s.boxShadow, outline: s.outlineStyle,
                left: e.getBoundingClientRect().left}; }"""
    )
    assert "skip-link" in focused["cls"]
    assert focused["left"] >= 0  # on screen once focused
    for _ in range(3):
        page.keyboard.press("Tab")
        style = page.evaluate(
            "() => { const s = getComputedStyle(document.activeElement);"
            " return [s.boxShadow, s.outlineStyle]; }"
        )
        assert style[0] != "none" or style[1] != "none", style

    # The live region exists on every page and is polite.
    messages = page.locator("#messages")
    assert messages.get_attribute("aria-live") == "polite"
    assert messages.get_attribute("role") == "status"

    # An htmx form with a bad email: the error is tied to the field and the field has focus.
    # Submitted with the button, so focus starts on the button, not the field.
    page.get_by_label("Email").fill("not an email")
    page.get_by_role("button", name="Add user").click()
    page.locator(".field--error").first.wait_for()
    active = page.evaluate(
        "() => [document.activeElement.id, document.activeElement.getAttribute('aria-invalid'),"
        " document.activeElement.getAttribute('aria-describedby')]"
    )
    assert active[1] == "true", active
    assert active[2] and "error" in active[2], active
    assert page.locator(f"#{active[0]}").count() == 1

    # A successful htmx action announces its message inside the live region.
    page.goto(live_server.url + "/organization/users/")
    page.locator(f"form[action*='/invitations/{w.invitation.pk}/resend/'] button").click()
    messages.locator(".message").first.wait_for()
    assert messages.locator(".message").first.inner_text().strip()
    context.close()
