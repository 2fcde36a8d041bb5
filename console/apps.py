from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    """The top layer: pages, API routes, demo data and checks that span organizations,
    licensing and credits, and the wiring between licensing and credits."""

    name = "console"
    verbose_name = "Console"

    def ready(self):
        from console import wiring

        wiring.connect()
