from django.apps import AppConfig


class CreditsConfig(AppConfig):
    name = "credits"
    verbose_name = "Cloud credits"

    def ready(self):
        from credits import services
        from organizations import hooks

        hooks.member_added.register(services.access_create_for_member)
        hooks.member_removing.register(services.access_disable_on_removal)
