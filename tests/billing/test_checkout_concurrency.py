"""R39 under real concurrency: simultaneous submissions of one review page place one order."""

import re

import pytest
from django.test import Client

from billing.models import Order
from credits.models import LedgerEntry, Lot
from licensing.models import License
from tests.concurrency import run_together
from tests.factories import make_org_admin
from tests.licensing.factories import ProductFactory

pytestmark = pytest.mark.django_db(transaction=True)
SUBMISSIONS = 4


def _submit_together(account, url, params):
    """One review page, then its "Place order" pressed from several connections at once."""
    browser = Client()
    browser.force_login(account)
    html = browser.get(url, params).content.decode()
    token = re.search(r'name="checkout_token" value="([0-9a-f]{32})"', html).group(1)
    cookies = browser.cookies

    def submit():
        tab = Client()
        tab.cookies = cookies
        return tab.post(url, {**params, "checkout_token": token}).status_code

    return run_together([submit] * SUBMISSIONS)


def test_one_pool_credits_review_submitted_at_once_places_one_order():
    admin = make_org_admin()
    outcomes = _submit_together(admin, "/organization/credits/buy/", {"buy-amount": "250"})
    assert outcomes == [302] * SUBMISSIONS
    assert Order.objects.count() == 1
    assert LedgerEntry.objects.filter(kind="purchase").count() == 1
    assert Lot.objects.count() == 1


def test_one_seats_review_submitted_at_once_places_one_order():
    admin = make_org_admin()
    ProductFactory(code="compositor", price=240)
    params = {"product": "compositor", "quantity": "5", "term": "365"}
    outcomes = _submit_together(admin, "/organization/licenses/checkout/", params)
    assert outcomes == [302] * SUBMISSIONS
    assert Order.objects.count() == 1
    assert License.objects.count() == 5
