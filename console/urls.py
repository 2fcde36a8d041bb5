from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path

from console.api import api
from console.views import exports, members
from console.views import home as views
from console.views import organization as overview_views
from organizations import urls as organizations_urls
from organizations.forms import LoginForm, ThrottledPasswordResetForm
from organizations.views import security as security_views
from organizations.views import sso as sso_views
from portal.api import api_not_found

# The organization's namespace: its own pages, and those that show licensing and credits too.
organization_pages = [
    path("organization/", overview_views.overview, name="overview"),
    path("organization/users/export.csv", exports.members, name="export_members"),
    path("organization/licenses/export.csv", exports.seats, name="export_seats"),
    path("organization/credits/export.csv", exports.credit_history, name="export_credit_history"),
    path("organization/activity/export.csv", exports.activity, name="export_activity"),
    path("organization/activity/", overview_views.activity, name="activity"),
    # Users (R6–R10)
    path("organization/users/", members.users, name="users"),
    path("organization/users/add/", members.member_add, name="member_add"),
    path("organization/users/remove/", members.members_bulk_remove, name="members_bulk_remove"),
    path("organization/users/<int:pk>/", members.member_detail, name="member_detail"),
    path("organization/users/<int:pk>/remove/", members.member_remove, name="member_remove"),
    path(
        "organization/users/invitations/bulk/",
        members.invitations_bulk,
        name="invitations_bulk",
    ),
    path(
        "organization/users/invitations/<int:pk>/resend/",
        members.invitation_resend,
        name="invitation_resend",
    ),
    path(
        "organization/users/invitations/<int:pk>/cancel/",
        members.invitation_cancel,
        name="invitation_cancel",
    ),
    path("organization/users/import/", members.member_import, name="member_import"),
    path(
        "organization/users/import/apply/",
        members.member_import_apply,
        name="member_import_apply",
    ),
    path(
        "organization/users/import/template.csv",
        members.member_import_template,
        name="member_import_template",
    ),
    path(
        "organization/users/import/<int:pk>/",
        members.member_import_report,
        name="member_import_report",
    ),
    path(
        "organization/users/import/<int:pk>/progress/",
        members.member_import_progress,
        name="member_import_progress",
    ),
]

urlpatterns = [
    # First: the API's consumption endpoint is the hot path, and every pattern tried before
    # a match costs its time (the pages' empty-prefix includes try all of theirs).
    path("api/v1/", api.urls),
    re_path(r"^api/", api_not_found),
    # R44: the organization's directory (SCIM 2.0).
    path("scim/v2/", include("provisioning.urls")),
    path("", views.home, name="home"),
    path(
        "accounts/login/",
        sso_views.EmailFirstLoginView.as_view(authentication_form=LoginForm),
        name="login",
    ),
    # R43: single sign-on through the organization's identity provider.
    path("accounts/sso/discover/", sso_views.discover, name="sso_discover"),
    path("accounts/sso/callback/", sso_views.callback, name="sso_callback"),
    path("credits/export.csv", exports.my_credit_history, name="export_my_credit_history"),
    path("accounts/logout/", views.sign_out, name="logout"),
    # R42: the second sign-in step, and signing in with a passkey.
    path("accounts/verify/", security_views.verify, name="second_factor_verify"),
    path(
        "accounts/passkey/options/",
        security_views.passkey_sign_in_options,
        name="passkey_sign_in_options",
    ),
    path("accounts/passkey/", security_views.passkey_sign_in, name="passkey_sign_in"),
    path("accounts/password_change/", views.PasswordChangeView.as_view(), name="password_change"),
    path(
        "accounts/reset/<uidb64>/<token>/",
        views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "accounts/password_reset/",
        auth_views.PasswordResetView.as_view(form_class=ThrottledPasswordResetForm),
        name="password_reset",
    ),
    path("accounts/", include("django.contrib.auth.urls")),
    # Browsers ask for /favicon.ico whatever the page says.
    path("favicon.ico", views.favicon),
    path("account/", views.account, name="account"),
    path(
        "announcements/<int:pk>/dismiss/", views.dismiss_announcement, name="dismiss_announcement"
    ),
    path("", include((organizations_urls.urlpatterns + organization_pages, "organizations"))),
    path("", include("billing.urls")),
    path("", include("licensing.urls")),
    path("", include("credits.urls")),
    path("admin/", admin.site.urls),
]

admin.site.site_header = "Self-Service Portal administration"
admin.site.site_title = "Portal admin"
admin.site.index_title = "Support and operations"
# The lists need the width more than a second list of models beside them (the index has it).
admin.site.enable_nav_sidebar = False
