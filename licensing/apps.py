from django.apps import AppConfig


class LicensingConfig(AppConfig):
    name = "licensing"
    verbose_name = "Licensing"

    def ready(self):
        from licensing import services
        from organizations import hooks

        hooks.member_removing.register(services.seats_revoke_on_removal)
