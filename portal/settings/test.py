"""Test runs: fast hashing, emails kept in memory, no throttling lockouts between tests."""

from .base import *  # noqa: F403
from .base import database
from .embedded_db import database_url

# The embedded server's `.pg/test`, apart from `make run`'s; pytest-django creates a test
# database per xdist worker on it.
DATABASES = {"default": database(database_url("test"))}

DEBUG = False
SECRET_KEY = "test-only-secret-key-with-enough-length-to-be-valid-0123456789"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
ALLOWED_HOSTS = ["*"]
PORTAL_BASE_URL = "http://testserver"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
