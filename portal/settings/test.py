"""Test runs: fast hashing, emails kept in memory, no throttling lockouts between tests."""

import os

from .base import *  # noqa: F403
from .base import database
from .embedded_db import database_url

# The embedded server's `.pg/test`, apart from `make run`'s; pytest-django creates a test
# database per xdist worker on it.
DATABASES = {"default": database(database_url("test"))}
# A test database of this run's own (pytest-xdist adds each worker's suffix): two test runs
# at once on one server never drop each other's database.
DATABASES["default"]["TEST"] = {"NAME": f"test_portal_{os.getpid()}"}

DEBUG = False
SECRET_KEY = "test-only-secret-key-with-enough-length-to-be-valid-0123456789"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
ALLOWED_HOSTS = ["*"]
PORTAL_BASE_URL = "http://testserver"
# The test identity provider (tests/sso/idp.mjs) listens on 127.0.0.1.
PORTAL_SSO_ALLOW_PRIVATE_ISSUERS = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
