"""Pagination for feeds too long to count (rules.md "Performance": bounded work per page)."""

from django.core.paginator import Paginator
from django.utils.functional import cached_property


class WindowPaginator(Paginator):
    """A paginator that counts at most a window of pages beyond the one asked for.

    Counting a feed of a million events reads a million index entries on every page view;
    counting only `ahead` pages past the requested one costs a few hundred entries, and there
    is still always a "Next" when more exist. `capped` tells the template that the total is a
    lower bound ("Page 1 of 11+").
    """

    def __init__(self, object_list, per_page, *, number=1, ahead: int = 10, **kwargs):
        super().__init__(object_list, per_page, **kwargs)
        try:
            number = max(1, int(number))
        except (TypeError, ValueError):
            number = 1
        self._cap = (number + ahead) * int(per_page) + 1
        self.capped = False

    @cached_property
    def count(self):
        seen = self.object_list.order_by()[: self._cap].count()
        self.capped = seen >= self._cap
        return seen

    def get_page(self, number):
        page = super().get_page(number)
        self.count  # noqa: B018 - sets `capped` before the template reads it
        return page
