"""Orders and receipts (R40): the organization's Billing tab, an account's own orders, and a
receipt that prints cleanly."""

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from billing import selectors
from billing.pdf import receipt_pdf
from billing.permissions import order_for_viewer_or_404
from organizations.permissions import org_admin_required
from portal.pagination import page_number

ORDERS_PER_PAGE = 25


@org_admin_required
@require_GET
def org_billing(request):
    orders = selectors.orders_for_org(organization=request.organization)
    page = Paginator(orders, ORDERS_PER_PAGE).get_page(page_number(request.GET.get("page")))
    context = {"organization": request.organization, "page": page}
    return render(request, "billing/org_billing.html", context)


@login_required
@require_GET
def my_orders(request):
    orders = selectors.personal_orders(account=request.user)
    page = Paginator(orders, ORDERS_PER_PAGE).get_page(page_number(request.GET.get("page")))
    return render(request, "billing/my_orders.html", {"page": page})


@login_required
@require_GET
def receipt(request, pk: int):
    order = order_for_viewer_or_404(user=request.user, pk=pk)
    return render(request, "billing/receipt.html", {"order": order})


@login_required
@require_GET
def receipt_pdf_download(request, pk: int):
    order = order_for_viewer_or_404(user=request.user, pk=pk)
    response = HttpResponse(receipt_pdf(order=order), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="receipt-order-{order.pk}.pdf"'
    return response
