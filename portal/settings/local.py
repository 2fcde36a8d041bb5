"""Local development: DEBUG on, the embedded PostgreSQL unless DATABASE_URL is set, emails to
the console."""

from .base import *  # noqa: F403
from .base import database, env
from .embedded_db import database_url

DEBUG = env.bool("DJANGO_DEBUG", default=True)
PORTAL_SSO_ALLOW_PRIVATE_ISSUERS = env.bool("PORTAL_SSO_ALLOW_PRIVATE_ISSUERS", default=True)
DATABASES = {"default": database(database_url("dev"))}
EMAIL_BACKEND = env(
    "DJANGO_EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend"
)
# Browsers refuse passkeys on an IP address: locally they work at http://localhost:<port>.
PORTAL_WEBAUTHN_RP_ID = env("PORTAL_WEBAUTHN_RP_ID", default="localhost")
