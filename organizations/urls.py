from django.urls import path

from organizations.views import invitations, members
from organizations.views import organization as views

app_name = "organizations"

urlpatterns = [
    path("organization/", views.overview, name="overview"),
    path("organization/activity/", views.activity, name="activity"),
    path("organization/setup/", views.setup, name="setup"),
    path("organization/settings/", views.settings_page, name="settings"),
    path("organization/settings/tokens/", views.token_create, name="token_create"),
    path("organization/settings/tokens/<int:pk>/revoke/", views.token_revoke, name="token_revoke"),
    # Users (R6–R10)
    path("organization/users/", members.users, name="users"),
    path("organization/users/add/", members.member_add, name="member_add"),
    path("organization/users/remove/", members.members_bulk_remove, name="members_bulk_remove"),
    path("organization/users/<int:pk>/", members.member_detail, name="member_detail"),
    path("organization/users/<int:pk>/remove/", members.member_remove, name="member_remove"),
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
        "organization/users/import/template.csv",
        members.member_import_template,
        name="member_import_template",
    ),
    path(
        "organization/users/import/<int:pk>/",
        members.member_import_report,
        name="member_import_report",
    ),
    path("invitations/<str:token>/", invitations.invitation_accept, name="invitation_accept"),
]
