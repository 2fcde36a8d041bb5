"""The receipt as a PDF (R40), rendered by WeasyPrint from its own HTML template.

Nothing is fetched while rendering: the template carries its styles inline and uses the
system's fonts, so a receipt never reaches for another host, a file or a stylesheet URL."""

from pathlib import Path

from django.template.loader import render_to_string
from weasyprint import CSS, HTML

STYLESHEET = Path(__file__).with_name("receipt_pdf.css")


class _NoFetching(Exception):
    pass


def _refuse(url, *args, **kwargs):
    raise _NoFetching(f"Receipts load nothing from outside: {url}")


def receipt_pdf(*, order) -> bytes:
    html = render_to_string("billing/receipt_pdf.html", {"order": order})
    stylesheet = CSS(filename=str(STYLESHEET), url_fetcher=_refuse)
    return HTML(string=html, url_fetcher=_refuse).write_pdf(stylesheets=[stylesheet])
