"""No Content Security Policy violation anywhere in the portal's own pages (rules.md
"Security": no inline script or style), proven in headless Chromium.

The organization administrator of a demo-like organization drives the flows that once broke
the policy (seat search and the member suggestions on the Licenses page, saving a member's
credit access on the Cloud credits page, the add-user form's errors on the Users page), then
visits every organization page and My licenses, My credits and Account at a desktop and a
phone width.

Two independent witnesses, so that neither can miss a violation silently:
- every console message that mentions the Content Security Policy (Chromium logs each
  refused inline style or script as an error);
- every `securitypolicyviolation` event, reported to the test through a binding. The
  listener is added by an init script: Playwright injects init scripts through the DevTools
  protocol, which the page's policy does not govern (the test proves the listener runs, and
  that both witnesses see a violation made on purpose, before it relies on them).

What broke the policy: htmx "settles" an element swapped in with the id of an element it
replaces by first copying the old one's `class`, `style`, `width` and `height` attributes
onto it with setAttribute, and a `style` attribute set that way is an inline style the
policy refuses ("Applying inline style violates … style-src 'self'", source htmx.min.js).
The portal's templates carry no style attribute, but browser extensions (password managers,
form fillers), screenshot tools (Playwright hides the caret by setting element.style on
every input) and scripts leave one behind on form controls, which is allowed. base.html
therefore tells htmx never to settle `style` (`attributesToSettle`). The test does what
those tools do (TOUCH, and real screenshots) before every swap, so it fails if htmx, a
template or a script ever turns that into an inline style again.
"""

import pytest
from playwright.sync_api import expect

from credits.models import CreditAccess
from licensing.models import License
from tests.e2e.conftest import ARTIFACTS
from tests.e2e.demo import demo_organization
from tests.factories import PASSWORD

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

LISTEN = """
document.addEventListener("securitypolicyviolation", (event) => {
  const target = event.target && event.target.nodeType === 1
    ? event.target.tagName.toLowerCase() + (event.target.id ? "#" + event.target.id : "")
      + (event.target.className && typeof event.target.className === "string"
         ? "." + event.target.className.trim().split(/\\s+/).join(".") : "")
    : String(event.target && event.target.nodeName);
  window.__portalCspViolation([
    event.violatedDirective, event.blockedURI, event.sourceFile + ":" + event.lineNumber,
    event.sample, target,
  ].join(" | "));
}, true);
window.__portalCspListening = true;
"""


# What browser extensions (password managers, form fillers), screenshot tools and scripts do:
# set a style on form controls through the CSSOM, which the policy allows, leaving a `style`
# attribute behind. Playwright's own screenshots do the same to hide the caret. Nothing that
# follows (an htmx swap) may turn that into an inline style the policy refuses.
TOUCH = """() => document.querySelectorAll("input, select, textarea, button").forEach(
  (control) => control.style.setProperty("--touched-by-a-tool", "1"))"""


class CspWatch:
    """A browser context whose pages report every CSP violation, with where it happened."""

    def __init__(self, browser, width, height=900):
        self.context = browser.new_context(
            viewport={"width": width, "height": height}, is_mobile=width < 500
        )
        self.width = width
        self.found: list[str] = []
        self.context.expose_binding(
            "__portalCspViolation",
            lambda source, text: self.found.append(f"[event] {source['page'].url}: {text}"),
        )
        self.context.add_init_script(LISTEN)
        self.page = self.context.new_page()
        self.page.set_default_timeout(10_000)
        self.page.on("console", self._console)
        self.page.on("dialog", lambda dialog: dialog.accept())

    def _console(self, message):
        if "Content Security Policy" in message.text:
            self.found.append(f"[console {message.type}] {self.page.url}: {message.text}")

    def goto(self, url):
        self.page.goto(url)
        self.page.wait_for_load_state("networkidle")
        assert self.page.evaluate("window.__portalCspListening === true"), "no listener"
        self.page.evaluate(TOUCH)

    def settle(self):
        """After a swap: htmx settles after 20 ms, and the console and the binding report
        asynchronously; then the new controls are touched too, for the next swap."""
        self.page.wait_for_load_state("networkidle")
        self.page.wait_for_timeout(150)
        self.page.evaluate(TOUCH)

    def shot(self, name):
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"csp-{name}-{self.width}.png"), full_page=True)

    def close(self):
        self.context.close()


def prove_the_witnesses_work(watch, base):
    """A violation made on purpose is seen by both witnesses; then the record starts clean."""
    watch.goto(base + "/accounts/login/")
    watch.page.evaluate("document.body.setAttribute('style', 'outline: 0')")
    watch.page.wait_for_timeout(200)
    kinds = {entry.split("]")[0] + "]" for entry in watch.found}
    assert any(k.startswith("[console") for k in kinds), watch.found
    assert "[event]" in kinds, watch.found
    watch.found.clear()


def sign_in(watch, base, email):
    watch.goto(base + "/accounts/login/")
    watch.page.get_by_label("Email").fill(email)
    watch.page.get_by_label("Password").fill(PASSWORD)
    watch.page.get_by_role("button", name="Sign in").click()
    watch.page.wait_for_load_state("networkidle")


def drive_licenses(watch, base, organization, newcomer):
    """Seat search (the assignee filter and the state), a seat row's inline assign form with
    its member suggestions and a mistake, then the quick assign form: suggestions, a
    mistake, and a seat for `newcomer`."""
    page = watch.page
    watch.goto(base + "/organization/licenses/?product=render-studio")
    table = page.locator("#seat-table")
    rows = table.locator("tbody tr")
    free = License.objects.filter(
        organization=organization, product__code="render-studio", assignee=None
    ).count()

    page.locator("#seat-q").fill("alice")
    expect(rows).to_have_count(1)
    watch.settle()
    page.locator("#seat-q").fill("nobody-matches")
    expect(table).to_contain_text("No seat matches")
    watch.settle()
    table.get_by_role("link", name="Show all seats").click()
    expect(rows).to_have_count(5)
    watch.settle()
    page.locator("#seat-state").select_option("free")
    expect(rows).to_have_count(free)
    watch.settle()
    page.locator("#seat-state").select_option("all")
    expect(rows).to_have_count(5)
    watch.settle()

    # A free seat's row: Assign opens the inline form; suggestions, a mistake, Cancel.
    row = page.locator("#" + rows.filter(has_text="Free").first.get_attribute("id"))
    row.get_by_role("link", name="Assign").click()
    row.locator("input[list]").wait_for()
    watch.settle()
    row.locator("input[list]").fill("bo")
    expect(row.locator("datalist option")).to_have_count(1)
    watch.settle()
    row.locator("input[list]").fill("outsider@elsewhere.example")
    row.get_by_role("button", name="Assign").click()
    expect(row.locator(".field--error")).to_have_count(1)
    watch.settle()
    row.get_by_role("link", name="Cancel").click()
    expect(row).to_contain_text("Free")
    watch.settle()

    # The quick assign form: suggestions (htmx fills a <datalist>), a mistake, a seat.
    quick = page.locator("#quick-assign")
    quick.locator("input[list]").fill(newcomer.name.split()[0].lower())
    expect(quick.locator("datalist option")).to_have_count(1)
    watch.settle()
    quick.locator("input[list]").fill("outsider@elsewhere.example")
    quick.get_by_role("button", name="Assign a free seat").click()
    expect(quick.locator(".field--error")).to_have_count(1)
    watch.settle()
    quick.locator("input[list]").fill(newcomer.email)
    quick.get_by_role("button", name="Assign a free seat").click()
    expect(table).to_contain_text(newcomer.name)
    watch.settle()

    # The search of the members without a seat.
    page.locator("#bulk-q").fill("a")
    watch.settle()
    watch.shot("licenses")


def drive_credits(watch, base, organization, newcomer):
    """Save a member's credit access inline: a mistake first (a quota without a limit), then
    a quota, then unlimited."""
    page = watch.page
    watch.goto(base + "/organization/credits/")
    access = CreditAccess.objects.get(account=newcomer, organization=organization)
    row = page.locator(f"#access-{access.pk}")
    row.get_by_label("Access").select_option("quota")
    row.get_by_label("Limit").fill("")
    row.get_by_role("button", name="Save").click()
    expect(row.locator(".field--error, .form-errors")).not_to_have_count(0)
    watch.settle()
    row.get_by_label("Access").select_option("quota")
    row.get_by_label("Limit").fill("75")
    row.get_by_label("Period").select_option("monthly")
    row.get_by_role("button", name="Save").click()
    expect(page.locator("#messages")).to_contain_text(f"Credit access of {newcomer.email}")
    watch.settle()
    row.get_by_label("Access").select_option("unlimited")
    row.get_by_role("button", name="Save").click()
    expect(row.locator("td[data-label='Can spend now']")).not_to_contain_text("No access")
    watch.settle()
    watch.shot("credits")


def drive_users(watch, base, invitee):
    """The add-user form: its errors (not an email, already a member), then an invitation;
    the table's search."""
    page = watch.page
    watch.goto(base + "/organization/users/")
    email = page.get_by_label("Email address")
    add = page.get_by_role("button", name="Add user")
    email.fill("not an email")
    add.click()
    expect(page.locator("#add-form .field--error")).to_have_count(1)
    watch.settle()
    email.fill("bob@northwind.example")
    add.click()
    expect(page.locator("#add-form .field--error")).to_contain_text("already a member")
    watch.settle()
    email.fill(invitee)
    add.click()
    expect(page.locator("#member-table")).to_contain_text(invitee)
    watch.settle()
    page.get_by_label("Search").fill("alice")
    expect(page.locator("#member-table tbody tr")).to_have_count(1)
    watch.settle()
    watch.shot("users")


PAGES = [
    "/organization/",
    "/organization/users/",
    "/organization/users/import/",
    "/organization/licenses/",
    "/organization/licenses/?product=render-studio",
    "/organization/licenses/checkout/?product=render-studio&quantity=2&term=365",
    "/organization/credits/",
    "/organization/credits/buy/?buy-amount=250",
    "/organization/billing/",
    "/organization/activity/",
    "/organization/settings/",
    "/licenses/",
    "/credits/",
    "/credits/buy/?buy-amount=25",
    "/account/",
    "/account/orders/",
]


def test_no_csp_violation_in_the_main_flows_and_pages(live_server, browser):
    base = live_server.url
    _admin, organization, people = demo_organization()
    alice = organization.memberships.get(account=people["alice"])
    pages = [*PAGES, f"/organization/users/{alice.pk}/", f"/organization/users/{alice.pk}/remove/"]
    # Each width drives the flows with members of its own, so both change something.
    newcomers = {
        1280: (people["carol"], "erin@northwind.example"),
        390: (people["dan"], "finn@northwind.example"),
    }
    found = {}
    for width, (newcomer, invitee) in newcomers.items():
        watch = CspWatch(browser, width)
        try:
            prove_the_witnesses_work(watch, base)
            sign_in(watch, base, "admin@northwind.example")
            drive_licenses(watch, base, organization, newcomer)
            drive_credits(watch, base, organization, newcomer)
            drive_users(watch, base, invitee)
            for path in pages:
                watch.goto(base + path)
                watch.settle()
        finally:
            watch.close()
        if watch.found:
            found[width] = watch.found
    assert found == {}, "Content Security Policy violations:\n" + "\n".join(
        f"{width}px: {entry}" for width, entries in found.items() for entry in entries
    )
