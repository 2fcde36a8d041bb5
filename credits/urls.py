from django.urls import path

from credits import views

app_name = "credits"

urlpatterns = [
    path("credits/", views.my_credits, name="my_credits"),
    path("credits/buy/", views.my_credits_buy, name="my_credits_buy"),
    path("credits/trial/", views.my_credits_trial, name="my_credits_trial"),
    path("credits/ask/", views.my_credits_ask, name="my_credits_ask"),
    path("organization/credits/", views.org_credits, name="org_credits"),
    path("organization/credits/buy/", views.org_credits_buy, name="org_credits_buy"),
    path(
        "organization/credits/access/<int:pk>/",
        views.org_access_update,
        name="org_access_update",
    ),
    path("organization/credits/access/bulk/", views.org_access_bulk, name="org_access_bulk"),
    path(
        "organization/credits/requests/<int:pk>/<str:answer>/",
        views.org_request_answer,
        name="org_request_answer",
    ),
    path(
        "credits/requests/<int:pk>/withdraw/",
        views.my_request_withdraw,
        name="my_request_withdraw",
    ),
]
