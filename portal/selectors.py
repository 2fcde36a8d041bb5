from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from portal.models import Announcement, AnnouncementDismissal


def announcements_for(account):
    """Current announcements the account has not dismissed (R33)."""
    now = timezone.now()
    dismissed = AnnouncementDismissal.objects.filter(announcement=OuterRef("pk"), account=account)
    return list(
        Announcement.objects.filter(starts_at__lte=now)
        .filter(Q(ends_at__isnull=True) | Q(ends_at__gt=now))
        .exclude(Exists(dismissed))
        .order_by("-starts_at")[:5]
    )
