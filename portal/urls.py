from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path

from organizations.forms import LoginForm
from portal import views
from portal.api import api, api_not_found

urlpatterns = [
    # First: the API's consumption endpoint is the hot path, and every pattern tried before
    # a match costs its time (the pages' empty-prefix includes try all of theirs).
    path("api/v1/", api.urls),
    re_path(r"^api/", api_not_found),
    path("", views.home, name="home"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(
            authentication_form=LoginForm, redirect_authenticated_user=True
        ),
        name="login",
    ),
    path("accounts/", include("django.contrib.auth.urls")),
    path("account/", views.account, name="account"),
    path(
        "announcements/<int:pk>/dismiss/", views.dismiss_announcement, name="dismiss_announcement"
    ),
    path("", include("organizations.urls")),
    path("", include("licensing.urls")),
    path("", include("credits.urls")),
    path("admin/", admin.site.urls),
]

admin.site.site_header = "Self-Service Portal administration"
admin.site.site_title = "Portal admin"
admin.site.index_title = "Support and operations"
