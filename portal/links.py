"""Links: those of table rows, `reverse` once per page rather than once per row (a page of 100
rows with three actions each would resolve 300 URLs), and the safe target of a `next`."""

from django.middleware.csrf import get_token
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme

_PK = 987654321


def url_maker(name: str):
    """A function of a primary key giving the URL `name` for it."""
    pattern = reverse(name, args=[_PK])
    return lambda pk: pattern.replace(str(_PK), str(pk))


def safe_next(request, target) -> str:
    """Where to go after an action: an address of the portal's own, never another site
    (`//evil.test`, `https://evil.test`); else the start page."""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return reverse("home")


def csrf_input(request) -> str:
    """What `{% csrf_token %}` writes, for rows written out in Python: one token per page."""
    return format_html(
        '<input type="hidden" name="csrfmiddlewaretoken" value="{}">', get_token(request)
    )
