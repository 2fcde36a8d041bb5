from django.apps import AppConfig


class OrganizationsConfig(AppConfig):
    name = "organizations"
    verbose_name = "Accounts and organizations"

    def ready(self):
        from django.contrib.auth.signals import user_logged_in

        from organizations.middleware import note_client

        # The session records where it was opened as it is opened (R42: active sessions), in
        # the sign-in's own save rather than a second write on the next page.
        user_logged_in.connect(
            lambda sender, request, user, **kwargs: note_client(request),
            dispatch_uid="organizations.note_client",
            weak=False,
        )
