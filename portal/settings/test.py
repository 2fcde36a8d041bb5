"""Test runs: fast hashing, emails kept in memory, no throttling lockouts between tests."""

from .base import *  # noqa: F403

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
