"""Pages: My licenses (R14, R16, R31), organization licenses (R13, R15), checkouts."""

from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.utils import timezone

from billing.models import Order
from licensing.models import License
from tests.factories import AccountFactory, add_member
from tests.licensing.factories import ProductFactory, make_personal, make_seat, make_seats

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def htmx(target=None):
    headers = dict(HTMX)
    if target:
        headers["HTTP_HX_TARGET"] = target
    return headers


def texts(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


def give(organization, seat, account):
    License.objects.filter(pk=seat.pk).update(
        assignee=organization.memberships.get(account=account), assigned_at=timezone.now()
    )


# --- Access (rules.md "Security") ------------------------------------------------------------

ORG_URLS = [
    ("get", "/organization/licenses/"),
    ("get", "/organization/licenses/members/?q=a"),
    ("get", "/organization/licenses/checkout/"),
    ("post", "/organization/licenses/checkout/"),
    ("post", "/organization/licenses/assign/"),
    ("post", "/organization/licenses/bulk-assign/"),
    ("get", "/organization/licenses/seats/{seat}/"),
    ("get", "/organization/licenses/seats/{seat}/assign/"),
    ("post", "/organization/licenses/seats/{seat}/assign/"),
    ("post", "/organization/licenses/seats/{seat}/revoke/"),
]


@pytest.mark.parametrize(("method", "url"), ORG_URLS)
def test_org_license_urls_are_404_for_members_and_accounts_without_organization(
    client, organization, member, product, method, url
):
    seat = make_seat(organization, product)
    give(organization, seat, member)
    url = url.format(seat=seat.pk)
    for who in (member, AccountFactory()):
        client.force_login(who)
        response = getattr(client, method)(url, {"product": product.code, "email": who.email})
        assert response.status_code == 404, (who, url)
    assert License.objects.get(pk=seat.pk).assignee.account == member
    assert not Order.objects.exists()


@pytest.mark.parametrize(("method", "url"), [u for u in ORG_URLS if "{seat}" in u[1]])
def test_another_organizations_seat_is_404_for_an_outsider_admin(
    client, organization, member, outsider, product, method, url
):
    seat = make_seat(organization, product)
    give(organization, seat, member)
    client.force_login(outsider)
    response = getattr(client, method)(url.format(seat=seat.pk), {"email": outsider.email})
    assert response.status_code == 404
    assert License.objects.get(pk=seat.pk).assignee.account == member


def test_outsider_admin_sees_only_their_own_seats_and_members(
    client, organization, member, outsider, product
):
    give(organization, make_seat(organization, product), member)
    client.force_login(outsider)
    response = client.get("/organization/licenses/?product=studio")
    assert response.status_code == 200
    assert response.context["summary"] == []
    assert member.email not in response.content.decode()
    search = client.get(f"/organization/licenses/members/?q={member.email}")
    assert member.email not in search.content.decode()
    client.post("/organization/licenses/assign/", {"product": "studio", "email": member.email})
    assert License.objects.filter(assignee__isnull=False).count() == 1


@pytest.mark.parametrize(
    ("method", "url"),
    ORG_URLS
    + [("get", "/licenses/"), ("post", "/licenses/apply/"), ("get", "/licenses/checkout/")],
)
def test_anonymous_is_sent_to_sign_in(client, organization, product, method, url):
    seat = make_seat(organization, product)
    response = getattr(client, method)(url.format(seat=seat.pk))
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_outsider_admin_cannot_touch_another_organizations_seat_from_their_own_page(
    client, organization, member, outsider, product
):
    """The seat id is looked up in the signed-in administrator's organization only."""
    seat = make_seat(organization, product)
    client.force_login(outsider)
    response = client.post(
        f"/organization/licenses/seats/{seat.pk}/assign/", {"email": outsider.email}
    )
    assert response.status_code == 404
    assert License.objects.get(pk=seat.pk).assignee is None


# --- Organization licenses page -------------------------------------------------------------


def test_org_page_shows_totals_seats_and_ended_apart(admin_client, organization, member, product):
    seats = make_seats(organization, product, 3)
    give(organization, seats[0], member)
    make_seat(organization, product, days=10)  # expiring soon
    make_seat(organization, product, starts_in_days=-40, days=20)  # expired
    make_seat(organization, product, cancelled_at=timezone.now())
    make_seat(organization, product, starts_in_days=2)  # not yet valid
    response = admin_client.get("/organization/licenses/")
    assert response.status_code == 200
    summary = response.context["summary"][0]
    assert (summary["total"], summary["assigned"], summary["free"], summary["expiring"]) == (
        4,
        1,
        3,
        1,
    )
    assert (summary["ended"], summary["upcoming"]) == (2, 1)
    html = response.content.decode()
    assert member.email in html and "Expires soon" in html and "Cancelled" in html
    assert len(response.context["seat_page"].object_list) == 5  # 4 active + 1 upcoming
    assert len(response.context["ended_page"].object_list) == 2
    assert "Assignable from" in html


def test_org_page_with_no_seats_invites_to_buy(admin_client, product):
    response = admin_client.get("/organization/licenses/")
    assert response.status_code == 200
    assert "no seats yet" in response.content.decode()


def test_org_page_queries_are_bounded_whatever_the_number_of_seats(
    admin_client, organization, product, django_assert_max_num_queries
):
    members = [add_member(organization) for _ in range(30)]
    seats = make_seats(organization, product, 120)
    for seat, membership in zip(seats, members, strict=False):
        License.objects.filter(pk=seat.pk).update(assignee=membership)
    for i in range(5):
        make_seats(organization, ProductFactory(code=f"p{i}"), 3)
    make_seats(organization, product, 30, starts_in_days=-40, days=20)
    # The session, the account and the announcements; then the products with their seat
    # tallies, a page of seats, a page of ended seats, a page of members without a seat with
    # their count; a filtered table is counted too.
    with django_assert_max_num_queries(7):
        response = admin_client.get("/organization/licenses/?product=studio")
    assert len(response.context["seat_page"].object_list) == 25
    with django_assert_max_num_queries(8):
        response = admin_client.get("/organization/licenses/?product=studio&page=3&state=assigned")
    assert response.status_code == 200


@pytest.mark.parametrize(
    "target", ["seat-summary", "seat-count", "seat-table", "ended-table", "bulk-members"]
)
def test_org_page_fragments(
    admin_client, organization, member, product, target, django_assert_max_num_queries
):
    give(organization, make_seat(organization, product), member)
    # A part reads only what it shows: the products with their tallies, and its table.
    with django_assert_max_num_queries(5):
        response = admin_client.get("/organization/licenses/?product=studio", **htmx(target))
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert f'id="{target}"' in html


def test_the_seat_count_part_is_the_page_s_paragraph(admin_client, organization, member, product):
    """The count above the seat table reloads itself with hx-select="#seat-count": it is
    answered with that paragraph alone, the same as the page's."""
    import re

    give(organization, make_seats(organization, product, 3)[0], member)
    url = "/organization/licenses/?product=studio"
    page = admin_client.get(url).content.decode()
    part = admin_client.get(url, **htmx("seat-count")).content.decode()
    (paragraph,) = re.findall(r'<p id="seat-count".*?</p>', page, re.S)
    assert "1 of 3 assigned · 2 free" in paragraph
    assert part.startswith(paragraph) and "<main" not in part


def test_seat_filters(admin_client, organization, member, product):
    taken, _free = make_seats(organization, product, 2)
    give(organization, taken, member)
    response = admin_client.get("/organization/licenses/?product=studio&state=free")
    assert [s.pk for s in response.context["seat_page"].object_list] == [_free.pk]
    response = admin_client.get(f"/organization/licenses/?product=studio&q={member.email[:5]}")
    assert [s.pk for s in response.context["seat_page"].object_list] == [taken.pk]


def test_member_search_returns_members_of_this_organization_only(
    admin_client, organization, outsider, django_assert_max_num_queries
):
    add_member(organization, email="ann@studio.example", name="Ann")
    add_member(outsider.administered_organization, email="ann@rival.example", name="Ann R")
    with django_assert_max_num_queries(8):
        response = admin_client.get("/organization/licenses/members/?email=ann", **htmx())
    html = response.content.decode()
    assert "ann@studio.example" in html and "ann@rival.example" not in html
    assert "<option" in html and "<html" not in html


def test_assign_and_reassign_and_revoke_inline(admin_client, organization, member, product):
    seat = make_seat(organization, product)
    form = admin_client.get(f"/organization/licenses/seats/{seat.pk}/assign/", **htmx())
    assert 'name="email"' in form.content.decode() and "<html" not in form.content.decode()
    response = admin_client.post(
        f"/organization/licenses/seats/{seat.pk}/assign/", {"email": member.email}, **htmx()
    )
    assert response.status_code == 200 and member.email in response.content.decode()
    assert "seatsChanged" in response["HX-Trigger"]
    assert License.objects.get(pk=seat.pk).assignee.account == member
    other = add_member(organization).account
    response = admin_client.post(
        f"/organization/licenses/seats/{seat.pk}/assign/", {"email": other.email}, **htmx()
    )
    assert f"moved from {member.email} to {other.email}" in response.content.decode()
    response = admin_client.post(f"/organization/licenses/seats/{seat.pk}/revoke/", **htmx())
    assert response.status_code == 200 and "Free" in response.content.decode()
    assert License.objects.get(pk=seat.pk).assignee is None


def test_inline_assign_refusal_is_shown_next_to_the_field(
    admin_client, organization, outsider, product
):
    seat = make_seat(organization, product)
    response = admin_client.post(
        f"/organization/licenses/seats/{seat.pk}/assign/", {"email": outsider.email}, **htmx()
    )
    assert response.status_code == 422
    html = response.content.decode()
    assert "not a member" in html and 'class="error"' in html


def test_assign_works_without_javascript(admin_client, organization, member, product):
    seat = make_seat(organization, product)
    page = admin_client.get(f"/organization/licenses/seats/{seat.pk}/assign/")
    assert "<html" in page.content.decode()
    response = admin_client.post(
        f"/organization/licenses/seats/{seat.pk}/assign/", {"email": member.email}
    )
    assert response.status_code == 302 and response["Location"].endswith("?product=studio")
    bad = admin_client.post(f"/organization/licenses/seats/{seat.pk}/assign/", {"email": "x@y.z"})
    assert bad.status_code == 422 and "<html" in bad.content.decode()


def test_an_ended_seat_cannot_be_assigned_from_the_page(
    admin_client, organization, member, product
):
    seat = make_seat(organization, product, starts_in_days=-40, days=20)
    response = admin_client.post(
        f"/organization/licenses/seats/{seat.pk}/assign/", {"email": member.email}, **htmx()
    )
    assert response.status_code == 422 and "expired" in response.content.decode()
    assert License.objects.get(pk=seat.pk).assignee is None


def test_quick_assign_picks_a_free_seat(admin_client, organization, member, product):
    make_seats(organization, product, 2)
    response = admin_client.post(
        "/organization/licenses/assign/", {"product": "studio", "email": member.email}, **htmx()
    )
    assert response.status_code == 200
    assert "seatTableChanged" in response["HX-Trigger"]
    assert License.objects.filter(assignee__account=member).count() == 1
    response = admin_client.post(
        "/organization/licenses/assign/", {"product": "studio", "email": member.email}, **htmx()
    )
    assert response.status_code == 422 and "already has" in response.content.decode()


def test_assign_by_typing_a_unique_part_of_a_name(admin_client, organization, product):
    """The picker says "Name or email": a name that matches one member is enough."""
    from tests.factories import add_member

    carol = add_member(organization, name="Carol Compositor").account
    add_member(organization, name="Caroline Colour")
    make_seats(organization, product, 2)
    response = admin_client.post(
        "/organization/licenses/assign/", {"product": "studio", "email": "compositor"}, **htmx()
    )
    assert response.status_code == 200
    assert License.objects.get(assignee__isnull=False).assignee.account == carol
    # "carol" matches both members: nothing is assigned and the refusal names the text.
    response = admin_client.post(
        "/organization/licenses/assign/", {"product": "studio", "email": "carol"}, **htmx()
    )
    assert response.status_code == 422
    assert License.objects.filter(assignee__isnull=False).count() == 1


def test_bulk_assign_reports_who_got_none_and_why(admin_client, organization, product):
    make_seats(organization, product, 2)
    memberships = [add_member(organization) for _ in range(3)]
    response = admin_client.post(
        "/organization/licenses/bulk-assign/",
        {"product": "studio", "members": [m.pk for m in memberships]},
    )
    assert response.status_code == 302
    messages = texts(response)
    assert any("2 Render Studio seats assigned" in m for m in messages)
    assert any(
        f"No seat for {memberships[2].account.email}: no free seat left" in m for m in messages
    )


def test_bulk_assign_without_selection_says_so(admin_client, product):
    response = admin_client.post("/organization/licenses/bulk-assign/", {"product": "studio"})
    assert "Select at least one member." in texts(response)


# --- Checkout (R15) -------------------------------------------------------------------------


def test_org_checkout_shows_the_summary_then_records_a_paid_order(
    admin_client, organization, product
):
    response = admin_client.get(
        "/organization/licenses/checkout/", {"product": "studio", "quantity": 3, "term": 730}
    )
    assert response.status_code == 200
    review = response.context["review"]
    assert str(review.total) == "720.00"
    html = response.content.decode()
    assert "720.00 EUR" in html and "Place order" in html and "simulated" in html
    data = {"product": "studio", "quantity": 3, "term": 730, "checkout_token": review.token}
    response = admin_client.post("/organization/licenses/checkout/", data)
    assert response.status_code == 302
    order = Order.objects.get()
    assert order.organization == organization and order.status == "paid"
    assert License.objects.filter(organization=organization, assignee__isnull=True).count() == 3
    # The same page submitted again buys nothing more.
    admin_client.post("/organization/licenses/checkout/", data)
    assert Order.objects.count() == 1


def test_org_checkout_bad_input_is_shown_next_to_the_fields(admin_client, product):
    response = admin_client.get(
        "/organization/licenses/checkout/", {"product": "studio", "quantity": 0, "term": 12}
    )
    assert response.status_code == 422
    errors = response.context["form"].errors
    assert "quantity" in errors and "term" in errors


def test_org_checkout_refuses_an_inactive_product(admin_client, product):
    retired = ProductFactory(code="retired", active=False)
    response = admin_client.get(
        "/organization/licenses/checkout/", {"product": retired.code, "quantity": 1, "term": 365}
    )
    assert response.status_code == 422 and "not available" in response.content.decode()
    response = admin_client.post(
        "/organization/licenses/checkout/",
        {"product": retired.code, "quantity": 1, "term": 365, "checkout_token": "a" * 32},
    )
    assert response.status_code == 422 and not Order.objects.exists()


def test_checkout_page_queries_are_bounded(admin_client, product, django_assert_max_num_queries):
    with django_assert_max_num_queries(12):
        response = admin_client.get(
            "/organization/licenses/checkout/", {"product": "studio", "quantity": 3, "term": 365}
        )
    assert response.status_code == 200


# --- My licenses (R14, R16, R31) ------------------------------------------------------------


def test_my_licenses_shows_personal_and_organizational_with_source_kind_and_expiry(
    member_client, organization, member, product
):
    modeler = ProductFactory(code="modeler", name="Modeler Pro")
    give(organization, make_seat(organization, product, days=None), member)
    make_personal(member, modeler, kind="trial", days=10)
    make_personal(
        member,
        ProductFactory(name="Old Tool"),
        starts_at=timezone.now() - timedelta(days=30),
        ends_at=timezone.now() - timedelta(days=1),
    )
    make_seat(organization, modeler)  # not assigned to them
    response = member_client.get("/licenses/")
    assert response.status_code == 200
    html = response.content.decode()
    current = response.context["current"]
    assert [(lic.product.code, lic.kind) for lic in current] == [
        ("modeler", "trial"),
        ("studio", "commercial"),
    ]
    assert f"Organization seat · {organization.name}" in html and "Perpetual" in html
    assert "Personal" in html and "Trial" in html and "Expires in" in html
    assert [lic.product.name for lic in response.context["past"]] == ["Old Tool"]


def test_my_licenses_hides_an_ended_seat_still_assigned(
    member_client, organization, member, product
):
    """R13: an ended seat stops counting at once, even before the sweep unassigns it."""
    give(organization, make_seat(organization, product, starts_in_days=-10, days=9), member)
    response = member_client.get("/licenses/")
    assert response.context["current"] == []


def test_my_licenses_queries_are_bounded(
    member_client, organization, member, django_assert_max_num_queries
):
    for i in range(15):
        product = ProductFactory(code=f"x{i}")
        make_personal(member, product)
        give(organization, make_seat(organization, product), member) if i < 5 else None
    with django_assert_max_num_queries(12):
        response = member_client.get("/licenses/")
    assert len(response.context["current"]) == 20


def test_my_licenses_exists_for_administrators_and_accounts_without_organization(client, org_admin):
    for account in (org_admin, AccountFactory()):
        client.force_login(account)
        assert client.get("/licenses/").status_code == 200


def test_apply_for_a_trial_then_again_is_refused(member_client, member, product):
    response = member_client.post("/licenses/apply/", {"product": "studio", "kind": "trial"})
    assert response.status_code == 302
    assert any("30-day trial of Render Studio has started" in m for m in texts(response))
    assert License.objects.filter(account=member, kind="trial").count() == 1
    response = member_client.post("/licenses/apply/", {"product": "studio", "kind": "trial"})
    assert any("already had a trial" in m for m in texts(response))
    page = member_client.get("/licenses/")
    assert "Trial used" in page.content.decode()


def test_apply_is_refused_with_the_reason_when_a_seat_of_the_product_is_assigned(
    member_client, organization, member, product
):
    give(organization, make_seat(organization, product), member)
    page = member_client.get("/licenses/")
    assert f"Included in your seat from {organization.name}" in page.content.decode()
    response = member_client.post("/licenses/apply/", {"product": "studio", "kind": "beta"})
    assert any(
        f"{organization.name} has assigned you a Render Studio seat" in m for m in texts(response)
    )
    assert not License.objects.filter(account=member).exists()


def test_personal_checkout_while_member(member_client, member, product):
    page = member_client.get("/licenses/checkout/", {"product": "studio", "term": 365})
    token = page.context["review"].token
    assert "120.00" in page.content.decode()
    response = member_client.post(
        "/licenses/checkout/", {"product": "studio", "term": 365, "checkout_token": token}
    )
    assert response.status_code == 302
    order = Order.objects.get()
    assert order.buyer == member and order.organization is None
    assert License.objects.get(account=member).order_line.order == order


def test_personal_checkout_without_input_shows_the_form(member_client, product):
    response = member_client.get("/licenses/checkout/")
    assert response.status_code == 200 and response.context["review"] is None
    assert not response.context["form"].errors


def test_no_trial_or_beta_is_offered_for_a_product_already_held(client):
    """A product held under a personal commercial license is not offered as a trial or a
    beta; an ended license does not count."""
    account = AccountFactory()
    held = ProductFactory(name="Held Tool")
    ended = ProductFactory(name="Ended Tool")
    make_personal(account, held)
    make_personal(
        account,
        ended,
        starts_at=timezone.now() - timedelta(days=30),
        ends_at=timezone.now() - timedelta(days=1),
    )
    client.force_login(account)
    catalog = {row["product"].name: row for row in client.get("/licenses/").context["catalog"]}
    assert catalog["Held Tool"]["owned"] and not catalog["Held Tool"]["can_trial"]
    assert not catalog["Held Tool"]["can_beta"]
    assert catalog["Ended Tool"]["can_trial"] and catalog["Ended Tool"]["can_beta"]


def _squash(html):
    import re

    return re.sub(r">\s+<", "><", re.sub(r"\s+", " ", str(html))).strip()


def _page_csrf():
    from django.test import RequestFactory

    from licensing import views

    request = RequestFactory().get("/")
    request.META["CSRF_COOKIE"] = "x" * 32
    csrf = views.csrf_input(request)
    return request, csrf, csrf.split('value="')[1].split('"')[0]


@pytest.mark.parametrize(
    ("assigned", "fields"),
    [
        (False, {}),
        (True, {}),
        (True, {"days": 10}),
        (False, {"days": None}),
        (False, {"starts_in_days": 5}),
        (True, {"starts_in_days": 5}),
    ],
)
def test_seat_row_matches_the_partial(organization, product, assigned, fields):
    """The seat table writes its rows out from plain rows (`views._seat_rows_html`) instead
    of rendering the `seat-row` partial 25 times; the markup must stay what the partial gives
    (the partial still renders the single row an edit or a cancel sends back)."""
    import difflib

    from django.template.loader import render_to_string

    from licensing import selectors, views

    seat = make_seat(organization, product, **fields)
    if assigned:
        give(organization, seat, add_member(organization, name='Ann "A" <B>').account)
    now = timezone.now()
    rows = selectors.seat_rows_for_org(organization=organization, product=product, now=now)[0:25]
    request, csrf, token = _page_csrf()
    written = views._seat_rows_html(rows, product, now, csrf)
    model = License.objects.select_related("product", "assignee__account").get(pk=seat.pk)
    rendered = render_to_string(
        "licensing/org_licenses.html#seat-row",
        {"seat": views._seat_links(model), "csrf_token": token},
        request,
    )

    written, expected = _squash(written), _squash(rendered)
    assert written == expected, [
        d for d in difflib.ndiff(written.split("><"), expected.split("><")) if d[0] in "-+?"
    ]


def test_ended_rows_match_the_partial(organization, product):
    """The ended seats' rows are written out in Python (`views._ended_rows_html`); the
    template's `ended-row` partial, which the page never renders, is their markup."""
    from django.template.loader import render_to_string

    from licensing import selectors, views

    make_seat(organization, product, cancelled_at=timezone.now())
    make_seat(organization, product, days=None, cancelled_at=timezone.now() - timedelta(days=3))
    make_seat(organization, product, starts_in_days=-40, days=20)
    make_seat(organization, product)  # current: not listed
    rows = selectors.ended_seat_rows_for_org(organization=organization, product=product)[0:20]
    seats = License.objects.in_bulk([row.pk for row in rows])
    selectors.annotate_seat_states(seats.values())
    expected = "".join(
        render_to_string("licensing/org_licenses.html#ended-row", {"seat": seats[row.pk]})
        for row in rows
    )
    assert len(rows) == 3 and "no end" in expected and "Cancelled" in expected
    assert _squash(views._ended_rows_html(rows)) == _squash(expected)


def test_bulk_rows_match_the_partial(organization, product):
    """The rows of members without a seat are written out in Python (`views._bulk_rows_html`);
    the template's `bulk-row` partial, which the page never renders, is their markup."""
    from django.template.loader import render_to_string

    from licensing import selectors, views
    from organizations.models import Membership

    add_member(organization, name='Ann "A" <B> & co')
    add_member(organization, name="", email="o'neil+x@example.com")
    give(organization, make_seat(organization, product), add_member(organization).account)
    _, rows = selectors.members_without_seat(
        organization=organization, product=product, offset=0, limit=25, window=26
    )
    members = Membership.objects.select_related("account").in_bulk([row.pk for row in rows])
    expected = "".join(
        render_to_string("licensing/org_licenses.html#bulk-row", {"membership": members[row.pk]})
        for row in rows
    )
    assert len(rows) == 3  # the administrator and the two without a seat
    assert "&lt;B&gt; &amp; co" in expected and "o&#x27;neil" in expected
    assert _squash(views._bulk_rows_html(rows)) == _squash(expected)


def test_fields_written_once_per_process_are_the_forms(organization, product):
    """The buy form's fields and the empty quick-assign field are written once per process
    (`views._buy_fields`, `views._quick_assign_field`): the same as the forms render."""
    from django.template.loader import render_to_string

    from licensing import selectors, views
    from licensing.forms import AssignForm, SeatPurchaseForm

    ProductFactory(code="retired", name="Old Tool", active=False)
    ProductFactory(code="amp", name='A & "B" <tool>')
    for selected in (product.code, "retired", None):
        products = selectors.seat_products_for_org(organization=organization, code=selected or "")
        form = SeatPurchaseForm(initial={"product": selected})
        expected = render_to_string("licensing/org_licenses.html#buy-fields", {"buy_form": form})
        assert views._buy_fields(tuple(products.for_sale), selected) == expected
    form = AssignForm(auto_id="quick_%s", datalist_id="quick-members", label="Give a free seat to")
    expected = render_to_string("components/field.html", {"field": form["email"]})
    assert views._quick_assign_field() == expected


def test_seat_tables_take_their_counts_from_the_tallies(
    admin_client, organization, product, django_assert_max_num_queries
):
    """Unfiltered, the current and ended seat tables are paged by the tallies' counts: no
    count of the seats; a filtered table is counted."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    make_seats(organization, product, 30)
    make_seats(organization, product, 3, starts_in_days=5)
    make_seats(organization, product, 22, starts_in_days=-40, days=20)
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get("/organization/licenses/?product=studio")
    counts = [
        q["sql"] for q in queries if "COUNT(*)" in q["sql"] and "licensing_license" in q["sql"]
    ]
    # Only the window of members without a seat is counted (its EXISTS reads the seats).
    assert [c for c in counts if "EXISTS" not in c] == []
    assert response.context["seat_page"].paginator.count == 33
    assert response.context["seat_page"].paginator.num_pages == 2
    assert response.context["ended_page"].paginator.count == 22
    response = admin_client.get("/organization/licenses/?product=studio&state=upcoming")
    assert response.context["seat_page"].paginator.count == 3
