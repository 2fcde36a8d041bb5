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

No screenshot is taken: Playwright hides the caret with an inline style that an htmx settle
would copy, which the policy would (rightly) refuse.
"""

from datetime import timedelta
from decimal import Decimal
from unittest import mock

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from credits import services as credit_services
from credits.models import CreditAccess
from licensing import services as licensing_services
from organizations import services as organization_services
from tests.factories import PASSWORD, AccountFactory, add_member, make_org_admin
from tests.licensing.factories import ProductFactory, make_personal
from tests.credits.factories import fund_personal

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
        assert self.page.evaluate("window.__portalCspListening === true"), "listener missing"

    def settle(self):
        # htmx settles swapped content after 20 ms; the console and the binding report
        # asynchronously. Give both time to arrive before the next step.
        self.page.wait_for_load_state("networkidle")
        self.page.wait_for_timeout(150)

    def close(self):
        self.context.close()


def demo_organization():
    """Like `seed_demo`'s Northwind Studio: seats of three products, some assigned, some
    ending soon; a credit pool with a quota, an unlimited member and consumptions; an
    invitation and a request for credits waiting; the administrator holds a seat and
    personal credits so that My licenses and My credits have something to show."""
    admin = make_org_admin(email="admin@northwind.example", name="Northwind Studio")
    admin.name = "Ada Admin"
    admin.save(update_fields=["name"])
    organization = admin.administered_organization
    people = {
        key: add_member(organization, email=f"{key}@northwind.example", name=name).account
        for key, name in (("alice", "Alice Archer"), ("bob", "Bob Baker"), ("carol", "Carol Chen"))
    }
    studio = ProductFactory(code="render-studio", name="Render Studio", price=480)
    modeler = ProductFactory(code="modeler-pro", name="Modeler Pro", price=360)
    compositor = ProductFactory(code="compositor", name="Compositor", price=240)
    for product, quantity in ((studio, 5), (modeler, 3)):
        licensing_services.seats_purchase(
            actor=admin, organization=organization, product=product, quantity=quantity,
            term_days=365,
        )
    licensing_services.licenses_grant(
        actor=None, product=compositor, organization=organization, seats=2, days=20
    )
    for email, product in (
        ("alice@northwind.example", studio),
        ("bob@northwind.example", studio),
        ("alice@northwind.example", modeler),
        (admin.email, studio),
    ):
        licensing_services.seat_assign_any(
            actor=admin, organization=organization, product=product, email=email
        )
    make_personal(admin, compositor, days=30)

    start = timezone.now() - timedelta(days=20)
    with mock.patch("django.utils.timezone.now", return_value=start):
        credit_services.pool_credits_purchase(actor=admin, organization=organization, amount="2000")
    for key, mode, limit, period in (
        ("alice", "quota", Decimal("250.00"), "monthly"),
        ("bob", "unlimited", None, None),
    ):
        access = CreditAccess.objects.get(account=people[key], organization=organization)
        credit_services.access_set(actor=admin, access=access, mode=mode, limit=limit, period=period)
    for n, (key, amount) in enumerate((("alice", "35.00"), ("bob", "80.00"), ("alice", "12.50"))):
        credit_services.credits_consume(
            account=people[key], amount=Decimal(amount), reference=f"csp-render-{n}"
        )
    credit_services.credit_request_create(
        account=people["alice"], amount="100", message="Final renders of the trailer"
    )
    organization_services.member_add(
        actor=admin, organization=organization, email="invited@northwind.example"
    )
    fund_personal(admin, "40.00")
    AccountFactory(email="outsider@elsewhere.example", name="Otto Outsider")
    return admin, organization, people


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


def drive_licenses(watch, base):
    """Seat search (the filter form's input and state), the member suggestions of the quick
    assign form and of a seat row, and an inline assign with an error then a success."""
    page = watch.page
    watch.goto(base + "/organization/licenses/?product=render-studio")
    table = page.locator("#seat-table")

    page.locator("#seat-q").fill("alice")
    expect(table.locator("tbody tr")).to_have_count(1)
    watch.settle()
    page.locator("#seat-q").fill("nobody-matches")
    expect(table).to_contain_text("No seat matches")
    watch.settle()
    table.get_by_role("link", name="Show all seats").click()
    expect(table.locator("tbody tr")).to_have_count(5)
    watch.settle()
    page.locator("#seat-state").select_option("free")
    expect(table.locator("tbody tr")).to_have_count(2)
    watch.settle()
    page.locator("#seat-state").select_option("all")
    expect(table.locator("tbody tr")).to_have_count(5)
    watch.settle()

    # The quick assign form's suggestions (htmx fills a <datalist>), then an error, then a seat.
    quick = page.locator("#quick-assign")
    suggest = quick.locator("input[list]")
    suggest.fill("car")
    expect(quick.locator("datalist option")).to_have_count(1)
    watch.settle()
    suggest.fill("outsider@elsewhere.example")
    quick.get_by_role("button", name="Assign a free seat").click()
    expect(page.locator("#quick-assign .field--error")).to_have_count(1)
    watch.settle()
    page.locator("#quick-assign input[list]").fill("carol@northwind.example")
    page.locator("#quick-assign").get_by_role("button", name="Assign a free seat").click()
    expect(table).to_contain_text("Carol Chen")
    watch.settle()

    # A free seat's row: Assign opens the inline form, a mistake, then Cancel.
    free_row = table.locator("tbody tr", has_text="Free").first
    row_id = free_row.get_attribute("id")
    row = page.locator(f"#{row_id}")
    row.get_by_role("link", name="Assign").click()
    row.locator("input[list]").fill("bo")
    watch.settle()
    row.locator("input[list]").fill("not-a-member@elsewhere.example")
    row.get_by_role("button", name="Assign").click()
    expect(row.locator(".field--error")).to_have_count(1)
    watch.settle()
    row.get_by_role("link", name="Cancel").click()
    expect(row).to_contain_text("Free")
    watch.settle()

    # The bulk list's search.
    page.locator("#bulk-q").fill("carol")
    watch.settle()


def drive_credits(watch, base, organization, people):
    """Save a member's credit access: a mistake first (a quota without a limit), then a
    quota, then unlimited; the page's own reload after each save."""
    page = watch.page
    watch.goto(base + "/organization/credits/")
    carol = CreditAccess.objects.get(account=people["carol"], organization=organization)
    row = page.locator(f"#access-{carol.pk}")
    row.get_by_label("Access").select_option("quota")
    row.get_by_label("Limit").fill("")
    row.get_by_role("button", name="Save").click()
    expect(row.locator(".field--error, .form-errors")).not_to_have_count(0)
    watch.settle()
    row.get_by_label("Access").select_option("quota")
    row.get_by_label("Limit").fill("75")
    row.get_by_label("Period").select_option("monthly")
    row.get_by_role("button", name="Save").click()
    expect(page.locator("#messages")).to_contain_text("Credit access of carol@northwind.example")
    watch.settle()
    row.get_by_label("Access").select_option("unlimited")
    row.get_by_role("button", name="Save").click()
    expect(row.locator("td[data-label='Can spend now']")).not_to_contain_text("No access")
    watch.settle()


def drive_users(watch, base):
    """The add-user form: errors (not an email, already a member), then an invitation; the
    table's search."""
    page = watch.page
    watch.goto(base + "/organization/users/")
    page.get_by_label("Email address").fill("not an email")
    page.get_by_role("button", name="Add user").click()
    expect(page.locator("#add-form .field--error")).to_have_count(1)
    watch.settle()
    page.get_by_label("Email address").fill("bob@northwind.example")
    page.get_by_role("button", name="Add user").click()
    expect(page.locator("#add-form .field--error")).to_contain_text("already a member")
    watch.settle()
    page.get_by_label("Email address").fill("dora@northwind.example")
    page.get_by_role("button", name="Add user").click()
    expect(page.locator("#member-table")).to_contain_text("dora@northwind.example")
    watch.settle()
    page.get_by_label("Search").fill("alice")
    expect(page.locator("#member-table tbody tr")).to_have_count(1)
    watch.settle()


PAGES = [
    "/organization/",
    "/organization/users/",
    "/organization/users/import/",
    "/organization/licenses/",
    "/organization/licenses/?product=render-studio",
    "/organization/licenses/checkout/?product=render-studio&quantity=2&term=365",
    "/organization/credits/",
    "/organization/activity/",
    "/organization/settings/",
    "/licenses/",
    "/credits/",
    "/account/",
]


def test_no_csp_violation_in_the_main_flows_and_pages(live_server, browser):
    base = live_server.url
    _admin, organization, people = demo_organization()
    alice = organization.memberships.get(account=people["alice"])
    pages = [*PAGES, f"/organization/users/{alice.pk}/", f"/organization/users/{alice.pk}/remove/"]
    found = {}
    for width in (1280, 390):
        watch = CspWatch(browser, width)
        try:
            prove_the_witnesses_work(watch, base)
            sign_in(watch, base, "admin@northwind.example")
            if width == 1280:
                drive_licenses(watch, base)
                drive_credits(watch, base, organization, people)
                drive_users(watch, base)
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
