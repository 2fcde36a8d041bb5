from django.urls import path

from billing import views

app_name = "billing"

urlpatterns = [
    path("organization/billing/", views.org_billing, name="org_billing"),
    path("account/orders/", views.my_orders, name="my_orders"),
    path("orders/<int:pk>/", views.receipt, name="receipt"),
    path("orders/<int:pk>/receipt.pdf", views.receipt_pdf_download, name="receipt_pdf"),
]
