"""Bounded pagination of long feeds (rules.md "Performance": bounded work whatever the size)."""

import pytest

from portal.models import AuditEvent
from portal.pagination import WindowPaginator
from tests.factories import AuditEventFactory

pytestmark = pytest.mark.django_db


def test_window_paginator_counts_only_a_window_ahead(organization):
    for i in range(30):
        AuditEventFactory(organization=organization, action="seat.assigned", target=f"s{i}")
    events = AuditEvent.objects.filter(organization=organization).order_by("-created_at", "-id")
    paginator = WindowPaginator(events, 2, number=1, ahead=3)
    page = paginator.get_page(1)
    # 1 + 3 pages of 2, plus one row to know that more exist.
    assert paginator.count == 9 and paginator.capped
    assert page.has_next() and len(page.object_list) == 2
    far = WindowPaginator(events, 2, number=14, ahead=3)
    last = far.get_page(14)
    assert not far.capped and far.num_pages == 16 and last.number == 14


def test_window_paginator_survives_a_bad_page_number(organization):
    events = AuditEvent.objects.filter(organization=organization).order_by("-created_at", "-id")
    paginator = WindowPaginator(events, 10, number="abc")
    assert paginator.get_page("abc").number == 1


def test_activity_page_says_when_there_are_more_pages_than_counted(admin_client, organization):
    AuditEventFactory.create_batch(600, organization=organization, action="seat.assigned")
    page = admin_client.get("/organization/activity/").content.decode()
    assert "Page 1 of 12+" in page
