"""Settings shared by every environment.

The environment is read once here with django-environ; the modules local, test and production
only change what differs.
"""

from decimal import Decimal
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()

# --- Core ---------------------------------------------------------------------------------
SECRET_KEY = env("DJANGO_SECRET_KEY", default="insecure-local-development-key-change-me")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])

INSTALLED_APPS = [
    # The Django admin, open to staff only once they passed a second factor (R42).
    "organizations.admin_config.PortalAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "django_htmx",
    "template_partials",
    "ninja",
    "axes",
    # R45: background jobs are rows of this database (the worker: manage.py procrastinate worker).
    "procrastinate.contrib.django",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "portal",
    "organizations",
    "billing",
    "licensing",
    "credits",
    "provisioning",
    "console",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "portal.middleware.SecurityHeadersMiddleware",
    "portal.middleware.ApiErrorFormatMiddleware",
    "portal.middleware.QueryStringGuardMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # "...ForPages": the same middleware, stepped over under /api/ (bearer tokens, JSON), which
    # needs no session, CSRF cookie, user, messages or htmx (portal/middleware.py).
    "portal.middleware.SessionMiddlewareForPages",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "portal.middleware.AuthenticationMiddlewareForPages",
    "portal.middleware.MessageMiddlewareForPages",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "portal.middleware.HtmxMiddlewareForPages",
    # R42: a signed-in person passes their second factor (or sets one up where it is
    # required) before any other page; their session's place and last use are noted. After
    # messages and htmx, which its redirects use.
    "organizations.middleware.SecondFactorMiddleware",
    "portal.middleware.HtmxMessagesMiddleware",
    "portal.middleware.MethodNotAllowedPageMiddleware",
    # Last, so that a refused login is answered before any view runs.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "console.urls"
WSGI_APPLICATION = "portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "console.context_processors.navigation",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------------------
# PostgreSQL only. Each environment module picks the URL: DATABASE_URL when set, else (local runs
# and tests) the embedded server of `portal.settings.embedded_db`.


def database(url: str) -> dict:
    config = env.db_url_config(url)
    # Persistent connections: opening a PostgreSQL connection per request costs more than most
    # of the portal's queries together.
    config["CONN_MAX_AGE"] = env.int("DJANGO_CONN_MAX_AGE", default=60)
    config["CONN_HEALTH_CHECKS"] = True
    # No JIT compilation: the portal's queries read a page of rows along an index, but on a
    # large table the planner's estimate can pass jit_above_cost, and compiling then costs
    # 50-60 ms for a query that runs in one (seen on the Organization pages at 100,000
    # members). JIT pays off for long analytical queries, which the portal does not run.
    config.setdefault("OPTIONS", {})["options"] = "-c jit=off"
    return config


DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Accounts and authentication ----------------------------------------------------------
AUTH_USER_MODEL = "organizations.Account"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "organizations.backends.EmailBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Second factors (R42) -----------------------------------------------------------------
# The name authenticator apps show beside the code.
OTP_TOTP_ISSUER = env("PORTAL_TOTP_ISSUER", default="Self-Service Portal")
# Wrong codes are counted per account (organizations.services.security), whatever the device;
# django-otp's own per-device delays would only add a second, weaker counter.
OTP_TOTP_THROTTLE_FACTOR = 0
OTP_STATIC_THROTTLE_FACTOR = 0
# Passkeys are bound to this host name (WebAuthn's relying party id; an IP address is refused
# by browsers). By default the host of PORTAL_BASE_URL.
PORTAL_WEBAUTHN_RP_ID = env("PORTAL_WEBAUTHN_RP_ID", default="")
PORTAL_WEBAUTHN_RP_NAME = env("PORTAL_WEBAUTHN_RP_NAME", default="Self-Service Portal")
SECOND_FACTOR_FAILURE_LIMIT = env.int("PORTAL_SECOND_FACTOR_FAILURE_LIMIT", default=5)
SECOND_FACTOR_LOCK_MINUTES = env.int("PORTAL_SECOND_FACTOR_LOCK_MINUTES", default=15)

# --- Single sign-on (R43) ----------------------------------------------------------------
# Encrypts the organizations' client secrets at rest (a Fernet key: 32 url-safe base64 bytes).
# Without it a key is derived from DJANGO_SECRET_KEY; changing either makes the stored secrets
# unreadable (administrators enter them again).
PORTAL_SSO_ENCRYPTION_KEY = env("PORTAL_SSO_ENCRYPTION_KEY", default="")
# Providers on loopback or private addresses (the test provider, a development machine); off in
# production so that an issuer URL cannot make the portal call into its own network.
PORTAL_SSO_ALLOW_PRIVATE_ISSUERS = env.bool("PORTAL_SSO_ALLOW_PRIVATE_ISSUERS", default=False)
PORTAL_SSO_HTTP_TIMEOUT = env.float("PORTAL_SSO_HTTP_TIMEOUT", default=5.0)

# --- Login throttling (django-axes) -------------------------------------------------------
# Five wrong passwords for one email from one address lock that pair for 15 minutes; other
# people signing in from the same office address are not locked out.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_HOURS", default=0.25)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_USERNAME_FORM_FIELD = "username"
# One counter per email however it is spelled (case, spaces).
AXES_USERNAME_CALLABLE = "organizations.backends.throttle_username"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_IPWARE_PROXY_COUNT = env.int("AXES_PROXY_COUNT", default=0)
AXES_VERBOSE = False

# --- Internationalisation -----------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
# English only: without translation machinery every date, number and URL skips a language
# lookup (measured: about a fifth of a page's template time).
USE_I18N = False
USE_TZ = True
# One format for dates everywhere, the Django admin included: "5 Mar 2027", "5 Mar 2027, 14:05"
# (a format module, since the locale's formats take precedence over settings).
FORMAT_MODULE_PATH = ["portal.formats"]

# --- Static files -------------------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# --- Email --------------------------------------------------------------------------------
EMAIL_BACKEND = env("DJANGO_EMAIL_BACKEND", default="django.core.mail.backends.smtp.EmailBackend")
DEFAULT_FROM_EMAIL = env("DJANGO_DEFAULT_FROM_EMAIL", default="portal@localhost")
EMAIL_HOST = env("DJANGO_EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("DJANGO_EMAIL_PORT", default=25)
EMAIL_HOST_USER = env("DJANGO_EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env("DJANGO_EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("DJANGO_EMAIL_USE_TLS", default=False)
# A mail server that stops answering fails the attempt (retried later, R45) instead of
# holding a worker forever.
EMAIL_TIMEOUT = env.int("DJANGO_EMAIL_TIMEOUT", default=30)

# --- Background jobs (R45, Procrastinate) --------------------------------------------------
# Tasks live in each app's `tasks.py` (found by Procrastinate's autodiscovery); portal/jobs.py
# says how they are written, retried and watched. Workers beat every 10 s; a worker silent for
# 60 s is taken as dead and its running jobs are run again by `jobs_retry_stalled`.
PROCRASTINATE_WORKER_DEFAULTS = {
    "update_heartbeat_interval": 10.0,
    "stalled_worker_timeout": 60.0,
}
# A scheduled job that could not be deferred for longer than this (every worker stopped) is
# skipped rather than run late: the next run of the same schedule catches up.
PROCRASTINATE_PERIODIC_DEFAULTS = {"max_delay": 600}

# --- Uploads and request bodies -----------------------------------------------------------
# The largest legitimate body is a 1 MiB CSV of users (R7) plus form overhead.
DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DATA_UPLOAD_MAX_NUMBER_FIELDS = 2000

# --- Sessions and cookies -----------------------------------------------------------------
# Database sessions that know their account, address and last use (organizations.sessions).
SESSION_ENGINE = "organizations.sessions"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# --- Portal -------------------------------------------------------------------------------
# Absolute base of links in emails (invitations, password reset).
PORTAL_BASE_URL = env("PORTAL_BASE_URL", default="http://127.0.0.1:8000")
# R16: the one grant of trial credits an account without organizational access may receive.
TRIAL_CREDITS = env("PORTAL_TRIAL_CREDITS", default="50.00")
# R39: the currency of every price and order (ISO 4217 code).
PORTAL_CURRENCY = env("PORTAL_CURRENCY", default="EUR")
# R39: the price of one cloud credit, and the most one order may cost, in that currency.
PORTAL_CREDIT_PRICE = Decimal(env("PORTAL_CREDIT_PRICE", default="1.00"))
PORTAL_ORDER_LIMIT = Decimal(env("PORTAL_ORDER_LIMIT", default="100000.00"))
# R18: purchased lots expire this many days after purchase unless told otherwise.
CREDIT_LOT_DAYS = env.int("PORTAL_CREDIT_LOT_DAYS", default=365)
INVITATION_DAYS = 7

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("DJANGO_LOG_LEVEL", default="WARNING")},
}
