"""Local development: DEBUG on, the embedded PostgreSQL unless DATABASE_URL is set, emails to
the console."""

from .base import *  # noqa: F403
from .base import database, env
from .embedded_db import database_url

DEBUG = env.bool("DJANGO_DEBUG", default=True)
DATABASES = {"default": database(database_url("dev"))}
EMAIL_BACKEND = env(
    "DJANGO_EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend"
)
