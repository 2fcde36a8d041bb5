"""Links of table rows: `reverse` once per page, not once per row (a page of 100 rows with
three actions each would resolve 300 URLs)."""

from django.urls import reverse

_PK = 987654321


def url_maker(name: str):
    """A function of a primary key giving the URL `name` for it."""
    pattern = reverse(name, args=[_PK])
    return lambda pk: pattern.replace(str(_PK), str(pk))
