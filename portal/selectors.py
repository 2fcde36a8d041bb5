from datetime import timedelta

from django.utils import timezone

from portal.models import Announcement, AnnouncementDismissal

# Announcements change a few times a year and are read on every page: each process keeps the
# ones current or starting soon for this long, and drops them at once when one is saved or
# deleted in it (portal.apps). Another server sees a new announcement within this time.
ANNOUNCEMENTS_KEPT_FOR = timedelta(seconds=30)
_kept = {"from": None, "announcements": []}


def forget_announcements(**_kwargs) -> None:
    _kept["from"] = None


def _upcoming(now) -> list[Announcement]:
    """Announcements current at any moment of the kept window (those not ended yet and
    starting before the window ends), newest start first."""
    since = _kept["from"]
    if since is None or not since <= now < since + ANNOUNCEMENTS_KEPT_FOR:
        _kept["announcements"] = list(
            Announcement.objects.filter(starts_at__lt=now + ANNOUNCEMENTS_KEPT_FOR)
            .exclude(ends_at__lte=now)
            .order_by("-starts_at")
        )
        _kept["from"] = now
    return _kept["announcements"]


def announcements_for(account) -> list[Announcement]:
    """Current announcements the account has not dismissed (R33), at most five. No query
    while there are none; otherwise one, for the account's dismissals."""
    now = timezone.now()
    current = [
        a for a in _upcoming(now) if a.starts_at <= now and (a.ends_at is None or a.ends_at > now)
    ]
    if not current:
        return []
    dismissed = set(
        AnnouncementDismissal.objects.filter(
            account=account, announcement__in=[a.pk for a in current]
        ).values_list("announcement_id", flat=True)
    )
    return [a for a in current if a.pk not in dismissed][:5]
