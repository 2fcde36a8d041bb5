from django.urls import path

from organizations.views import invitations
from organizations.views import organization as views

app_name = "organizations"

# The organization pages that show other apps too (overview, users, activity) are added to this
# namespace by console.urls.

urlpatterns = [
    path("organization/setup/", views.setup, name="setup"),
    path(
        "organization/setup/<int:pk>/withdraw/",
        views.setup_withdraw,
        name="setup_withdraw",
    ),
    path("organization/settings/", views.settings_page, name="settings"),
    path("organization/settings/tokens/", views.token_create, name="token_create"),
    path("organization/settings/tokens/<int:pk>/revoke/", views.token_revoke, name="token_revoke"),
    path("invitations/<str:token>/", invitations.invitation_accept, name="invitation_accept"),
]
