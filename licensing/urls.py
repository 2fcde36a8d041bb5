from django.urls import path

from licensing import views

app_name = "licensing"

urlpatterns = [
    path("licenses/", views.my_licenses, name="my_licenses"),
]
