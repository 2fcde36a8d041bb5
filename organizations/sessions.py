"""The session store: Django's database sessions in `AccountSession`, whose extra columns say
whose session it is and where it was used (R42).

The middleware (organizations.middleware) keeps the client's address, browser and last use in
the session's own data, refreshed at most every few minutes; the store copies them into the
columns whenever the session is saved anyway. A password change or sign-in cycles the key, and
the row under the new key carries the same columns, so the list of sessions stays true.
"""

from datetime import UTC, datetime

from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore as DatabaseStore
from django.db import connection
from django.utils import timezone

CLIENT_KEY = "_client"
SEEN_KEY = "_seen"
SINCE_KEY = "_since"


def _moment(value) -> datetime | None:
    return datetime.fromtimestamp(value, tz=UTC) if isinstance(value, int | float) else None


class SessionStore(DatabaseStore):
    @classmethod
    def get_model_class(cls):
        from organizations.models import AccountSession

        return AccountSession

    def load(self):
        """The session's data: read on every page, so one plain statement for the one column
        it needs rather than a model instance built through the ORM (the same lookup as
        Django's: the key, not yet expired; an unknown key starts an empty session)."""
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT session_data FROM organizations_accountsession"
                " WHERE session_key = %s AND expire_date > %s",
                [self.session_key, timezone.now()],
            )
            row = cursor.fetchone()
        if row is None:
            self._session_key = None
            return {}
        return self.decode(row[0])

    def create_model_instance(self, data):
        session = super().create_model_instance(data)
        account_id = data.get(SESSION_KEY)
        session.account_id = int(account_id) if str(account_id or "").isdigit() else None
        ip, user_agent = (data.get(CLIENT_KEY) or [None, ""])[:2]
        session.ip = ip or None
        session.user_agent = (user_agent or "")[:300]
        session.signed_in_at = _moment(data.get(SINCE_KEY))
        session.last_seen_at = _moment(data.get(SEEN_KEY))
        return session


BROWSERS = (("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"))
SYSTEMS = (
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Android", "Android"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("CrOS", "ChromeOS"),
    ("Linux", "Linux"),
)


def describe_user_agent(user_agent: str) -> str:
    """ "Chrome on Windows": enough for a person to recognise their own devices."""
    user_agent = user_agent or ""
    browser = next((name for mark, name in BROWSERS if mark in user_agent), None)
    if browser is None and "Safari/" in user_agent:
        browser = "Safari"
    system = next((name for mark, name in SYSTEMS if mark in user_agent), None)
    if browser and system:
        return f"{browser} on {system}"
    return browser or system or "Unknown browser"
