from django.urls import path

from licensing import views

app_name = "licensing"

urlpatterns = [
    path("licenses/", views.my_licenses, name="my_licenses"),
    path("licenses/apply/", views.apply, name="apply"),
    path("licenses/checkout/", views.personal_checkout, name="checkout"),
    path("organization/licenses/", views.org_licenses, name="org_licenses"),
    path("organization/licenses/members/", views.member_search, name="member_search"),
    path("organization/licenses/assign/", views.assign_any, name="assign_any"),
    path("organization/licenses/bulk-assign/", views.bulk_assign, name="bulk_assign"),
    path("organization/licenses/checkout/", views.org_checkout, name="org_checkout"),
    path("organization/licenses/seats/<int:seat_id>/", views.seat_row, name="seat_row"),
    path(
        "organization/licenses/seats/<int:seat_id>/assign/",
        views.seat_assign,
        name="seat_assign",
    ),
    path(
        "organization/licenses/seats/<int:seat_id>/revoke/",
        views.seat_revoke,
        name="seat_revoke",
    ),
]
