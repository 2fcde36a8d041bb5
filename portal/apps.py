from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Portal"

    def ready(self):
        from portal.models import Announcement
        from portal.selectors import forget_announcements

        # Each process keeps the current announcements a moment (portal.selectors); a change
        # made here is seen here at once.
        post_save.connect(forget_announcements, sender=Announcement, dispatch_uid="announce-s")
        post_delete.connect(forget_announcements, sender=Announcement, dispatch_uid="announce-d")
