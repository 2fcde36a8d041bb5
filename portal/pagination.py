"""Pagination for feeds too long to count (rules.md "Performance": bounded work per page)."""

from django.core.paginator import Paginator
from django.utils.functional import cached_property

# Beyond any real list; a larger number asked for is read as this (the last page is shown).
MAX_PAGE = 1_000_000


def page_number(value) -> int:
    """A page number from the query string: whole, at least 1, at most MAX_PAGE."""
    try:
        return min(max(1, int(str(value).strip())), MAX_PAGE)
    except (TypeError, ValueError):
        return 1


class WindowPaginator(Paginator):
    """A paginator that counts at most a window of pages beyond the one asked for.

    Counting a feed of a million events reads a million index entries on every page view;
    counting only `ahead` pages past the requested one costs a few hundred entries, and there
    is still always a "Next" when more exist. `capped` tells the template that the total is a
    lower bound ("Page 1 of 11+").
    """

    def __init__(self, object_list, per_page, *, number=1, ahead: int = 10, **kwargs):
        super().__init__(object_list, per_page, **kwargs)
        number = page_number(number)
        self._cap = (number + ahead) * int(per_page) + 1
        self.capped = False

    @cached_property
    def count(self):
        seen = self.object_list.order_by()[: self._cap].count()
        self.capped = seen >= self._cap
        return seen

    def get_page(self, number):
        page = super().get_page(page_number(number))
        self.count  # noqa: B018 - sets `capped` before the template reads it
        return page
