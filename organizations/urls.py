from django.urls import path

from organizations.views import invitations, security, sso
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
    # R43: the organization's single sign-on.
    path("organization/settings/sign-on/", sso.sign_on_save, name="sign_on_save"),
    path("organization/settings/sign-on/test/", sso.sign_on_test, name="sign_on_test"),
    path("organization/settings/sign-on/remove/", sso.sign_on_remove, name="sign_on_remove"),
    path("invitations/<str:token>/", invitations.invitation_accept, name="invitation_accept"),
    # R42: second factors and sessions.
    path("account/security/", security.security, name="security"),
    path("account/security/app/", security.app_setup, name="security_app"),
    path(
        "account/security/<str:kind>/<int:pk>/remove/",
        security.factor_remove,
        name="security_factor_remove",
    ),
    path("account/security/recovery-codes/", security.recovery_codes, name="recovery_codes"),
    path(
        "account/security/sessions/end-others/",
        security.sessions_end_others,
        name="sessions_end_others",
    ),
    path("account/security/passkeys/options/", security.passkey_options, name="passkey_options"),
    path("account/security/passkeys/", security.passkey_add, name="passkey_add"),
]
