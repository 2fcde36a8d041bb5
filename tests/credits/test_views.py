"""Credit pages: Cloud credits (admin) and My credits (everyone), R16–R22, R29, R31."""

from decimal import Decimal
from unittest.mock import patch

import pytest
from django.core import mail

from billing.models import Order
from credits import services
from credits.models import CreditAccess, CreditRequest, Lot
from portal import errors
from tests.credits.factories import access_of, consume, fund_personal, fund_pool, set_access
from tests.factories import AccountFactory, add_member

pytestmark = pytest.mark.django_db
D = Decimal
ORG_URL = "/organization/credits/"
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def busy_org(organization, org_admin):
    members = [add_member(organization).account for _ in range(3)]
    fund_pool(organization, "500.00")
    set_access(members[0], organization, "quota", "100", "monthly")
    set_access(members[1], organization, "unlimited")
    consume(members[0], "12.00")
    consume(members[1], "30.00")
    services.credit_request_create(account=members[2], amount="50", message="Deadline")
    return members


def test_org_page_shows_pool_lots_chart_members_requests(admin_client, busy_org):
    response = admin_client.get(ORG_URL)
    html = response.content.decode()
    assert response.status_code == 200
    assert "458.00" in html  # pool available
    assert "<svg" in html and "chart__s0" in html
    for account in busy_org:
        assert account.email in html
    assert "Deadline" in html
    assert 'style="' not in html and "<script>" not in html


def test_org_page_query_count_does_not_grow_with_members(
    admin_client, organization, busy_org, django_assert_max_num_queries
):
    # The session, the account, the announcements, and the page's one statement.
    with django_assert_max_num_queries(4):
        admin_client.get(ORG_URL)
    more = [add_member(organization).account for _ in range(30)]
    for account in more[:10]:
        set_access(account, organization, "quota", "5")
        consume(account, "1.00")
    with django_assert_max_num_queries(4):
        response = admin_client.get(ORG_URL)
    assert "Page 1 of 2" in response.content.decode()


def test_member_table_fragment_for_htmx(admin_client, busy_org):
    response = admin_client.get(
        ORG_URL + "?q=" + busy_org[0].email, HTTP_HX_TARGET="member-table", **HTMX
    )
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert busy_org[0].email in html and busy_org[1].email not in html


@pytest.mark.parametrize("who", ["member", "anonymous"])
def test_org_page_and_actions_are_hidden_from_non_admins(client, busy_org, member, who):
    if who == "member":
        client.force_login(member)
    access = access_of(busy_org[0])
    request = CreditRequest.objects.get()
    urls = [
        ("get", ORG_URL),
        ("post", "/organization/credits/buy/"),
        ("post", f"/organization/credits/access/{access.pk}/"),
        ("post", "/organization/credits/access/bulk/"),
        ("post", f"/organization/credits/requests/{request.pk}/close/"),
        ("post", f"/organization/credits/requests/{request.pk}/approve/"),
    ]
    for method, url in urls:
        response = getattr(client, method)(url, {"buy-amount": "10", "selected": [access.pk]})
        if who == "anonymous":
            assert response.status_code == 302 and "/accounts/login/" in response["Location"]
        else:
            assert response.status_code == 404, url
    assert access_of(busy_org[0]).mode == "quota"
    assert Lot.objects.count() == 1


def test_another_organizations_admin_sees_and_touches_only_their_own(client, busy_org, outsider):
    client.force_login(outsider)
    html = client.get(ORG_URL).content.decode()
    assert all(account.email not in html for account in busy_org)
    assert "Deadline" not in html and "458.00" not in html
    access = access_of(busy_org[0])
    request = CreditRequest.objects.get()
    post = {f"a{access.pk}-mode": "disabled", "selected": [access.pk], "bulk-mode": "disabled"}
    assert client.post(f"/organization/credits/access/{access.pk}/", post).status_code == 404
    assert client.post(f"/organization/credits/requests/{request.pk}/close/").status_code == 404
    client.post("/organization/credits/access/bulk/", post)
    assert access_of(busy_org[0]).mode == "quota"
    assert CreditRequest.objects.get().state == "open"


def test_admin_cannot_touch_another_organizations_access(admin_client, outsider):
    stranger = add_member(outsider.administered_organization).account
    access = access_of(stranger)
    response = admin_client.post(
        f"/organization/credits/access/{access.pk}/", {f"a{access.pk}-mode": "unlimited"}
    )
    assert response.status_code == 404
    assert access_of(stranger).mode == "disabled"


def test_buy_credits_for_the_pool(admin_client, organization):
    response = admin_client.post(
        "/organization/credits/buy/", {"buy-amount": "250.5", "checkout_token": "a" * 32}
    )
    assert response.status_code == 302
    assert Lot.objects.get(wallet__organization=organization).amount == D("250.50")
    assert Order.objects.get(organization=organization).lines.get().item == "credits"


@pytest.mark.parametrize("bad", ["", "0", "-5", "1.234", "abc", "1e5"])
def test_buy_credits_refuses_bad_amounts_next_to_the_field(admin_client, bad):
    response = admin_client.post(
        "/organization/credits/buy/", {"buy-amount": bad, "checkout_token": "b" * 32}
    )
    assert response.status_code == 422
    assert 'id="id_buy-amount_error"' in response.content.decode()
    assert not Lot.objects.exists()


def test_inline_access_edit_returns_the_row(admin_client, busy_org, django_assert_max_num_queries):
    access = access_of(busy_org[2])
    with django_assert_max_num_queries(22):
        response = admin_client.post(
            f"/organization/credits/access/{access.pk}/",
            {
                f"a{access.pk}-mode": "quota",
                f"a{access.pk}-limit": "40",
                f"a{access.pk}-period": "monthly",
            },
            **HTMX,
        )
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert html.strip().startswith(f'<tr id="access-{access.pk}"')
    access.refresh_from_db()
    assert (access.mode, access.limit, access.period) == ("quota", D("40.00"), "monthly")


def test_inline_access_edit_shows_r21_refusal_next_to_the_field(admin_client, organization):
    account = add_member(organization).account
    fund_personal(account, "9.00", days=20)
    access = access_of(account)
    response = admin_client.post(
        f"/organization/credits/access/{access.pk}/", {f"a{access.pk}-mode": "unlimited"}, **HTMX
    )
    html = response.content.decode()
    assert response.status_code == 422
    assert "9.00 active personal credits" in html
    assert access_of(account).mode == "disabled"


def test_inline_access_edit_needs_a_limit_for_quota(admin_client, busy_org):
    access = access_of(busy_org[2])
    response = admin_client.post(
        f"/organization/credits/access/{access.pk}/", {f"a{access.pk}-mode": "quota"}, **HTMX
    )
    assert response.status_code == 422 and "A quota needs a limit." in response.content.decode()


def test_bulk_update_sets_every_selected_member(admin_client, organization):
    members = [add_member(organization).account for _ in range(3)]
    response = admin_client.post(
        "/organization/credits/access/bulk/",
        {
            "selected": [access_of(a).pk for a in members],
            "bulk-mode": "quota",
            "bulk-limit": "20",
            "bulk-period": "monthly",
        },
        follow=True,
    )
    assert "saved for 3 members" in response.content.decode()
    assert all(access_of(a).limit == D("20.00") for a in members)


def test_bulk_update_is_all_or_nothing_and_lists_each_refusal(admin_client, organization):
    ok = [add_member(organization).account for _ in range(3)]
    refused = add_member(organization).account
    fund_personal(refused, "1.00")
    ids = [access_of(a).pk for a in ok + [refused]]
    response = admin_client.post(
        "/organization/credits/access/bulk/",
        {"selected": ids, "bulk-mode": "quota", "bulk-limit": "20", "bulk-period": "monthly"},
        follow=True,
    )
    html = response.content.decode()
    assert "Nothing was changed" in html and "active personal credits" in html
    assert all(access_of(a).mode == "disabled" for a in ok + [refused])


def test_bulk_update_refusals_of_the_form_are_shown_by_the_form(admin_client, organization):
    """Nothing ticked, or a quota without a limit: the page answers 422 with the reason in the
    bulk form, next to where the administrator acts, and changes nothing."""
    member = add_member(organization).account
    response = admin_client.post(
        "/organization/credits/access/bulk/",
        {"bulk-mode": "unlimited", "bulk-period": "none"},
    )
    assert response.status_code == 422
    assert "Select at least one member first" in response.content.decode()
    response = admin_client.post(
        "/organization/credits/access/bulk/",
        {"selected": [access_of(member).pk], "bulk-mode": "quota", "bulk-period": "monthly"},
    )
    assert response.status_code == 422 and "id_bulk-limit_error" in response.content.decode()
    assert access_of(member).mode == "disabled"


def test_bulk_update_ignores_other_organizations_members(admin_client, outsider):
    stranger = add_member(outsider.administered_organization).account
    admin_client.post(
        "/organization/credits/access/bulk/",
        {"selected": [access_of(stranger).pk], "bulk-mode": "unlimited"},
    )
    assert access_of(stranger).mode == "disabled"


def test_close_a_request(admin_client, busy_org):
    request = CreditRequest.objects.get()
    response = admin_client.post(f"/organization/credits/requests/{request.pk}/close/", **HTMX)
    assert response.status_code == 200 and "No requests waiting" in response.content.decode()
    request.refresh_from_db()
    assert request.state == "closed"


def test_approve_raises_the_quota_and_emails_the_member(admin_client, organization, member):
    set_access(member, organization, "quota", limit="100", period="monthly")
    request = services.credit_request_create(account=member, amount="40")
    mail.outbox.clear()
    response = admin_client.post(
        f"/organization/credits/requests/{request.pk}/approve/", follow=True
    )
    assert "was approved" in response.content.decode()
    access = access_of(member)
    assert (access.mode, access.limit, access.period) == ("quota", D("140.00"), "monthly")
    assert mail.outbox[-1].to == [member.email] and "approved" in mail.outbox[-1].subject


def test_approve_enables_disabled_access_as_a_quota_for_all_time(
    admin_client, organization, member
):
    request = services.credit_request_create(account=member, amount="25")
    admin_client.post(f"/organization/credits/requests/{request.pk}/approve/")
    access = access_of(member)
    assert (access.mode, access.limit, access.period) == ("quota", D("25.00"), "none")


def test_approve_refused_by_r21_keeps_the_request_open_and_says_why(
    admin_client, organization, member
):
    request = services.credit_request_create(account=member, amount="25")
    fund_personal(member, "5.00")
    response = admin_client.post(f"/organization/credits/requests/{request.pk}/approve/", **HTMX)
    html = response.content.decode()
    assert "active personal credits" in html and 'role="alert"' in html
    request.refresh_from_db()
    assert request.state == "open" and access_of(member).mode == "disabled"


def test_deny_with_a_reason_the_member_reads(admin_client, client, organization, member):
    request = services.credit_request_create(account=member, amount="25")
    admin_client.post(
        f"/organization/credits/requests/{request.pk}/deny/", {"reason": "Budget is spent"}
    )
    request.refresh_from_db()
    assert request.state == "denied" and mail.outbox[-1].to == [member.email]
    assert "Budget is spent" in mail.outbox[-1].body
    client.force_login(member)
    page = client.get("/credits/").content.decode()
    assert "Denied" in page and "Reason: Budget is spent" in page


def test_unlimited_members_requests_can_only_be_closed(admin_client, organization, member):
    set_access(member, organization, "unlimited")
    request = services.credit_request_create(account=member, amount="25")
    page = admin_client.get("/organization/credits/").content.decode()
    assert "Close: access is unlimited" in page and "Approve:" not in page
    admin_client.post(f"/organization/credits/requests/{request.pk}/approve/")
    request.refresh_from_db()
    assert request.state == "open" and access_of(member).mode == "unlimited"


def test_unknown_answers_and_other_organizations_requests_are_404(admin_client, outsider, busy_org):
    request = CreditRequest.objects.get()
    assert (
        admin_client.post(f"/organization/credits/requests/{request.pk}/shrug/").status_code == 404
    )
    stranger = add_member(outsider.administered_organization).account
    elsewhere = services.credit_request_create(account=stranger, amount="5")
    url = f"/organization/credits/requests/{elsewhere.pk}/approve/"
    assert admin_client.post(url).status_code == 404


# --- My credits ---------------------------------------------------------------------------


def test_my_credits_under_a_quota_shows_what_can_be_spent(
    client, organization, busy_org, django_assert_max_num_queries
):
    client.force_login(busy_org[0])
    # The session, the account, the announcements; the page's summary and its history.
    with django_assert_max_num_queries(5):
        response = client.get("/credits/")
    html = response.content.decode()
    assert response.status_code == 200
    assert organization.name in html and "88.00" in html and "of 100.00" in html
    assert "Ask for more credits" in html


def test_my_credits_history_fragment(client, busy_org):
    client.force_login(busy_org[0])
    response = client.get("/credits/?page=1", **HTMX)
    html = response.content.decode()
    assert "<html" not in html and 'id="history"' in html


def test_my_credits_buy_personal_and_refusal_with_org_access(client, busy_org):
    freelancer = AccountFactory()
    client.force_login(freelancer)
    response = client.post("/credits/buy/", {"buy-amount": "75", "checkout_token": "c" * 32})
    assert response.status_code == 302
    assert Lot.objects.get(wallet__account=freelancer).amount == D("75.00")
    client.force_login(busy_org[0])
    response = client.post(
        "/credits/buy/", {"buy-amount": "75", "checkout_token": "d" * 32}, follow=True
    )
    assert "pool of" in response.content.decode()
    assert not Lot.objects.filter(wallet__account=busy_org[0]).exists()


def test_my_credits_trial_once(client, settings):
    settings.TRIAL_CREDITS = "30.00"
    account = AccountFactory()
    client.force_login(account)
    assert "Get 30.00 free trial credits" in client.get("/credits/").content.decode()
    client.post("/credits/trial/")
    client.post("/credits/trial/")
    assert Lot.objects.filter(wallet__account=account).count() == 1
    assert "free trial credits" not in client.get("/credits/").content.decode()


def test_ask_for_more_emails_the_admin(client, organization, org_admin, member):
    client.force_login(member)
    mail.outbox.clear()
    response = client.post("/credits/ask/", {"ask-amount": "120", "ask-message": "Film due"})
    assert response.status_code == 302
    assert CreditRequest.objects.get().amount == D("120.00")
    assert mail.outbox[0].to == [org_admin.email] and "Film due" in mail.outbox[0].body
    response = client.post("/credits/ask/", {"ask-amount": "1.001"})
    assert response.status_code == 200 and "id_ask-amount_error" in response.content.decode()


def test_a_member_sees_their_request_waiting_and_can_withdraw_it(client, organization, member):
    """R29: one open request at a time, shown on My credits with its state; withdrawn, the
    member may ask again."""
    client.force_login(member)
    client.post("/credits/ask/", {"ask-amount": "75", "ask-message": "More frames"})
    page = client.get("/credits/").content.decode()
    assert "75.00 credits, asked on" in page and "Waiting for an answer" in page
    assert "You can ask again once this request is answered or withdrawn." in page
    request = CreditRequest.objects.get()
    client.post(f"/credits/requests/{request.pk}/withdraw/")
    request.refresh_from_db()
    assert request.state == "withdrawn"
    assert 'name="ask-amount"' in client.get("/credits/").content.decode()


def test_a_second_open_request_is_refused_next_to_the_field(organization, member):
    services.credit_request_create(account=member, amount="10")
    with pytest.raises(errors.Conflict) as refused:
        services.credit_request_create(account=member, amount="20")
    assert refused.value.field == "amount" and "withdraw it first" in refused.value.message
    assert CreditRequest.objects.count() == 1


def test_someone_elses_request_cannot_be_withdrawn(client, organization, member):
    request = services.credit_request_create(account=member, amount="10")
    client.force_login(add_member(organization).account)
    assert client.post(f"/credits/requests/{request.pk}/withdraw/").status_code == 404
    request.refresh_from_db()
    assert request.state == "open"


def test_my_credits_without_organization_has_no_request_form(client):
    client.force_login(AccountFactory())
    html = client.get("/credits/").content.decode()
    assert "Ask for more credits" not in html and "None" in html


def test_access_rows_exist_for_every_member(organization, busy_org):
    assert CreditAccess.objects.filter(organization=organization).count() == 4


@pytest.mark.parametrize(
    ("mode", "limit", "period"),
    [
        ("disabled", None, "none"),
        ("unlimited", None, "none"),
        ("quota", "40", "monthly"),
        ("quota", "0", "none"),
        ("quota", "1234.50", "none"),
    ],
)
def test_access_row_inputs_match_the_form_rendering(organization, mode, limit, period):
    """The access rows write their inputs out (`views._access_fields_html`) instead of
    rendering AccessForm widgets, for speed; the markup must stay what the form gives (labels,
    ids, names, selected options, value)."""
    import re

    from django.template.loader import render_to_string
    from django.utils import timezone

    from credits import selectors, views
    from credits.forms import AccessForm

    account = add_member(organization).account
    if mode != "disabled":
        set_access(account, organization, mode, limit, period)
    access = access_of(account)
    row = selectors.pool_access_row(
        organization_id=organization.pk, access_id=access.pk, now=timezone.now()
    )
    views._access_rows([row])
    written = str(row.fields_html)
    form = AccessForm(
        prefix=f"a{access.pk}",
        initial={"mode": access.mode, "limit": row.limit_text, "period": access.period},
    )
    rendered = "".join(
        render_to_string("components/field.html", {"field": form[name]})
        for name in ("mode", "limit", "period")
    )

    def squash(html):
        return re.sub(r">\s+<", "><", re.sub(r"\s+", " ", html)).strip()

    assert squash(written) == squash(rendered)
    assert f'value="{access.mode}" selected' in written


@pytest.mark.parametrize(
    ("mode", "limit", "period", "role", "name"),
    [
        ("disabled", None, "none", "member", ""),
        ("unlimited", None, "none", "admin", "Ada <Keller>"),
        ("quota", "40", "monthly", "member", "Bruno"),
        ("quota", "1234.50", "none", "member", ""),
    ],
)
def test_access_row_matches_the_partial(mode, limit, period, role, name):
    """The full access table writes each row out (`views._access_row_html`) instead of
    rendering the `access-row` partial 25 times; the markup must stay what the partial gives
    (the partial still renders the single row an edit sends back)."""
    import difflib
    import re

    from django.template.loader import render_to_string
    from django.test import RequestFactory

    from credits import views
    from credits.selectors import AccessRow

    row = AccessRow(
        pk=17,
        email="ann+<x>@example.com",
        name=name,
        role=role,
        mode=mode,
        limit=None if limit is None else D(limit),
        period=period,
        used_now=D("1234.5"),
        spendable=D("12.5"),
    )
    request = RequestFactory().get("/")
    request.META["CSRF_COOKIE"] = "x" * 32
    csrf = views.csrf_input(request)
    token = csrf.split('value="')[1].split('"')[0]
    views._access_rows([row], csrf)
    rendered = render_to_string(
        "credits/org_credits.html#access-row",
        {"access": row, "csrf_token": token},
        request=request,
    )

    def squash(html):
        return re.sub(r">\s+<", "><", re.sub(r"\s+", " ", html)).strip()

    written, expected = squash(str(row.row_html)), squash(rendered)
    assert written == expected, [
        d for d in difflib.ndiff(written.split("><"), expected.split("><")) if d[0] in "-+?"
    ]
    assert "&lt;Keller&gt;" in str(row.row_html) or "<" not in name


def test_access_table_counts_a_window_of_pages(admin_client, organization, busy_org):
    """The access table counts at most ten pages past the one shown (and one row more, to
    know there is more: "Page 1 of 12+"), not every member of a large organization."""
    from credits import views

    with patch.object(views, "MEMBERS_PER_PAGE", 1):
        html = admin_client.get(ORG_URL).content.decode()
        more = [add_member(organization).account for _ in range(9)]
        html = admin_client.get(ORG_URL).content.decode()
    assert len(more) + 4 > 12
    assert "Page 1 of 12+" in html


def test_usage_chart_shows_a_month_with_its_top_members(admin_client, busy_org):
    """The chart reads the month from the usage rollups: bars per day, the month's top
    members by net consumption, earlier months one link away."""
    from django.utils import timezone

    html = admin_client.get(ORG_URL).content.decode()
    this_month = timezone.now()
    assert f"Consumption in {this_month:%B %Y}" in html
    leaders = html.split('class="chart__leaders"')[1].split("</ol>")[0]
    # busy_org: members[1] consumed 30.00, members[0] 12.00.
    assert leaders.index(busy_org[1].email) < leaders.index(busy_org[0].email)
    assert "30.00" in leaders and "12.00" in leaders
    assert "Later →" not in html
    earlier = html.split('href="?month=')[1].split("#")[0]
    previous = admin_client.get(ORG_URL + f"?month={earlier}").content.decode()
    assert "No credits were consumed from the pool" in previous
    assert "Later →" in previous


@pytest.mark.parametrize("month", ["garbage", "2027-13", "9999-01", "0001-01"])
def test_usage_chart_month_out_of_range_or_malformed_is_never_an_error(
    admin_client, busy_org, month
):
    response = admin_client.get(ORG_URL + f"?month={month}")
    assert response.status_code == 200
    html = response.content.decode()
    if month == "0001-01":
        assert "Consumption in January 2000" in html and "← Earlier" not in html
    else:
        from django.utils import timezone

        assert f"Consumption in {timezone.now():%B %Y}" in html


def test_lots_shows_the_ten_spent_first_and_counts_the_rest(admin_client, organization):
    """A pool that buys often holds dozens of lots: the page lists the ten spent first (R23
    order), says how many more hold credits, and leaves out the empty and expired ones."""
    for days in range(30, 44):  # 14 lots, expiring in 30..43 days
        fund_pool(organization, "10.00", days=days)
    soonest = Lot.objects.order_by("expires_at").first()
    # The soonest is spent (no ledger needed for what the page lists).
    Lot.objects.filter(pk=soonest.pk).update(remaining=0)
    html = admin_client.get(ORG_URL).content.decode()
    section = html.split('id="lots-heading"')[1].split("</section>")[0]
    assert section.count('data-label="Arrived"') == 10
    assert "3 more hold credits" in section


def test_my_credits_says_what_is_true_for_each_kind_of_account(client, org_admin, organization):
    """A member is sent to their administrator, the administrator to their own Cloud
    credits page, an account without organization to buying or trial credits."""
    member = add_member(organization).account
    loner = AccountFactory()
    expectations = [
        (member, f"Ask the administrator of {organization.name} for access"),
        (org_admin, "Give yourself access to the pool"),
        (loner, "Buy credits or start with free trial credits."),
    ]
    for account, text in expectations:
        client.force_login(account)
        page = client.get("/credits/").content.decode()
        assert text in page, account
        assert "used first" not in page


def test_requests_for_credits_are_limited_per_day(organization, member):
    """Security finding: each request emails the administrator; asking and withdrawing in a
    loop could flood them."""
    for _ in range(5):
        request = services.credit_request_create(account=member, amount="1")
        services.credit_request_withdraw(account=member, credit_request=request)
    mail.outbox.clear()
    with pytest.raises(errors.Conflict) as refused:
        services.credit_request_create(account=member, amount="1")
    assert "ask again tomorrow" in refused.value.message and mail.outbox == []


def test_my_credits_explains_why_the_pool_waits_for_personal_credits(client, organization):
    member = add_member(organization).account
    fund_personal(member, "3.00")
    client.force_login(member)
    page = client.get("/credits/").content.decode()
    assert f"Until then {organization.name} cannot give you access to its pool." in page


def test_my_credits_says_before_a_purchase_or_trial_that_the_pool_would_wait(client, organization):
    member = add_member(organization).account
    client.force_login(member)
    page = client.get("/credits/").content.decode()
    assert f"You are a user of {organization.name}: while you have personal credits" in page


def test_the_pages_read_the_figures_the_selectors_give(organization, org_admin):
    """Both pages read their figures in a statement of their own; what they show must stay
    what `pool_available`, `held_total`, `access_used_now`, `access_spendable` and
    `account_spendable` give (R18, R22, R23), open holds past their expiry included (R37)."""
    from django.utils import timezone

    from credits import selectors
    from credits.models import Hold
    from tests.credits.factories import consume

    members = [add_member(organization).account for _ in range(4)]
    fund_pool(organization, "200.00")
    set_access(members[0], organization, "quota", "100", "monthly")
    set_access(members[1], organization, "unlimited")
    set_access(members[2], organization, "quota", "30", "none")
    set_access(org_admin, organization, "quota", "0", "monthly")
    consume(members[0], "12.00")
    consume(members[2], "5.00")
    services.hold_open(email=members[0].email, amount="20", reference="late-0")
    services.hold_open(email=members[2].email, amount="7", reference="late-2")
    services.hold_open(email=members[1].email, amount="9", reference="running-1")
    Hold.objects.filter(reference__startswith="late-").update(expires_at=timezone.now())
    fund_personal(members[3], "3.00")
    now = timezone.now()
    page = selectors.pool_page(
        organization_id=organization.pk,
        now=now,
        month=now.date().replace(day=1),
        holds_page=1,
        holds_per_page=10,
        lots_shown=10,
        query="",
        members_page=1,
        members_per_page=25,
        history_page=1,
        history_per_page=20,
        requests_shown=50,
    )
    assert page["available"] == selectors.pool_available(organization=organization, moment=now)
    assert page["held"] == selectors.held_total(organization=organization, moment=now) == D(9)
    assert [hold.reference for hold in page["holds"].object_list] == ["running-1"]
    rows = page["members"].object_list
    assert len(rows) == 5
    for row in rows:
        access = CreditAccess.objects.get(pk=row.pk)
        assert row.used_now == selectors.access_used_now(access, now), access
        assert row.spendable == selectors.access_spendable(access, page["available"], now)
    assert {row.email: row.used_now for row in rows}[members[0].email] == D("12.00")
    for account in [*members, org_admin, AccountFactory()]:
        mine = selectors.my_credits_page(
            account_id=account.pk,
            now=now,
            history_page=1,
            history_per_page=20,
            holds_shown=11,
            requests_shown=5,
        )["summary"]
        expected = selectors.account_spendable(account, now)
        for key in ("source", "available", "quota", "personal_available", "pool_available"):
            assert mine[key] == expected[key], (account, key)
        assert (mine["access"] is None) == (expected["access"] is None)


def test_a_page_past_the_last_shows_the_last(admin_client, busy_org):
    """As Django's paginator: a page number past the end shows the last page (four members,
    three entries in the pool's history, one per page here)."""
    from credits import views

    with (
        patch.object(views, "MEMBERS_PER_PAGE", 1),
        patch.object(views, "HISTORY_PER_PAGE", 1),
    ):
        html = admin_client.get(ORG_URL + "?page=50&hp=99").content.decode()
        fragment = admin_client.get(
            ORG_URL + "?page=7", HTTP_HX_TARGET="member-table", **HTMX
        ).content.decode()
    assert "Page 4 of 4</span>" in html and "Page 3 of 3</span>" in html
    assert "Page 4 of 4</span>" in fragment and "<html" not in fragment


def test_my_history_reads_the_personal_wallet_and_the_pools_page_by_page(organization):
    """My credits reads an account's history in two parts (its personal wallet, what it drew
    from pools), each along its own index; together, page by page, they are the history
    `history_for_account` gives, newest first, with the window of pages counted."""
    from django.utils import timezone

    from credits import selectors
    from tests.credits.factories import consume

    member = add_member(organization).account
    fund_pool(organization, "100.00")
    set_access(member, organization, "quota", "50", "monthly")
    for amount in ("1.00", "2.00", "3.00"):
        consume(member, amount)
    set_access(member, organization, "disabled")
    fund_personal(member, "10.00")
    for amount in ("0.50", "0.25"):
        consume(member, amount)
    expected = [(e.created_at, e.amount) for e in selectors.history_for_account(account=member)]
    assert len(expected) == 6
    for per_page in (2, 4, 20):
        read = []
        for number in range(1, 5):
            page = selectors.my_credits_page(
                account_id=member.pk,
                now=timezone.now(),
                history_page=number,
                history_per_page=per_page,
                holds_shown=11,
                requests_shown=5,
            )["history"]
            assert page.paginator.count == 6 and not page.paginator.capped
            if page.number == number:
                read += [(e.created_at, e.amount) for e in page.object_list]
        assert read == expected, per_page
