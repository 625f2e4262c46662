"""Django settings: every value that comes from the environment is read here and nowhere else.

About 345 lines, past our usual 300: one home for every environment variable outweighs splitting the settings.
"""

from __future__ import annotations

import math
import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from documents.conf import CollabConfig
from documents.conf import from_environment as collab_from_environment

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    """Read a 0/1 (or true/false) flag from the environment."""
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: list[str]) -> list[str]:
    """Read a comma separated list from the environment."""
    value = os.environ.get(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def env_number(name: str, default: float) -> float:
    """Read a number from the environment; a value that is not one stops the start, naming the variable."""
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise ImproperlyConfigured(
            f"{name} must be a number (for example {default:g}), not {value!r} (default {default:g})"
        )
    return number


DEBUG = env_bool("DEBUG", False)

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off (make run sets DEBUG=1 for development).")
    SECRET_KEY = "insecure-development-key-only-for-make-run"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "csp",
    "documents",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "documents.web.security.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "documents.web.unavailable.DatabaseUnavailableMiddleware",
    # Last, as django-axes asks: turns a locked-out login attempt into 429 (documents.web.throttling).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "collab.urls"
ASGI_APPLICATION = "collab.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------------------------
# SQLite by default (a file in the repository); PostgreSQL (or anything dj-database-url knows) via DATABASE_URL.
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        # Connections are kept (and health-checked) between uses: the WebSocket handshake and the store's writer
        # thread would otherwise open a new one for every query.
        conn_max_age=int(env_number("DATABASE_CONN_MAX_AGE", 60)),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers run beside the writer; the busy timeout and IMMEDIATE transactions make concurrent writers
    # wait for the lock instead of failing with "database is locked". Past 5 s the store keeps its updates and
    # retries, and a web request answers 503, rather than either waiting much longer.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 5,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000;",
    }
    # A file (not SQLite's in-memory default) so server subprocesses started by tests share it; one per test run.
    DATABASES["default"].setdefault("TEST", {})["NAME"] = str(BASE_DIR / f".test-db-{os.getpid()}.sqlite3")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Channel layer --------------------------------------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "capacity": 5000, "expiry": 30},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# --- Auth, sessions, security ---------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# django-axes refuses attempts of a locked-out username and address before the password is checked; its
# AxesBackend is also a ModelBackend, so sessions may name it (the signup view logs in with the first backend).
AUTHENTICATION_BACKENDS = ["axes.backends.AxesBackend", "django.contrib.auth.backends.ModelBackend"]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

SECURE_HTTPS = env_bool("SECURE_HTTPS", not DEBUG and env_bool("BEHIND_HTTPS", False))
SESSION_COOKIE_SECURE = SECURE_HTTPS
CSRF_COOKIE_SECURE = SECURE_HTTPS
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
if SECURE_HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = int(env_number("SECURE_HSTS_SECONDS", 0))
# Reverse proxies in front of the service that append the client's address to X-Forwarded-For. 0: the header is
# ignored (a client could write anything there) and the throttles key on the connection's address.
PROXY_COUNT = int(env_number("PROXY_COUNT", 0))

# --- Password guessing (documents.web.throttling, docs/security.md) ---------------------------------------------------
# django-axes: LOGIN_FAILURE_LIMIT failed logins (form or POST /api/token/) by one username from one address lock
# that pair out for LOGIN_LOCKOUT_SECONDS; the pair, so an attacker cannot lock the account's owner out elsewhere.
AXES_ENABLED = env_bool("LOGIN_LOCKOUT", True)
AXES_FAILURE_LIMIT = max(1, int(env_number("LOGIN_FAILURE_LIMIT", 10)))
AXES_COOLOFF_TIME = timedelta(seconds=env_number("LOGIN_LOCKOUT_SECONDS", 15 * 60))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_DISABLE_ACCESS_LOG = True
AXES_LOCKOUT_CALLABLE = "documents.web.throttling.lockout_response"
AXES_CLIENT_IP_CALLABLE = "documents.web.throttling.client_ip"
# Rate throttles per client address (DRF's, in the cache below): every POST of the login form, every POST /api/token/.
LOGIN_THROTTLE_RATE = os.environ.get("LOGIN_THROTTLE_RATE", "20/min")
TOKEN_THROTTLE_RATE = os.environ.get("TOKEN_THROTTLE_RATE", "20/min")
# Raw Yjs updates over HTTP (POST /api/documents/<id>/update), per user: a script's pace, not a keystroke's (editors
# type over the WebSocket, whose own budgets apply).
UPDATE_THROTTLE_RATE = os.environ.get("UPDATE_THROTTLE_RATE", "600/min")
# Image uploads (POST /api/documents/<id>/images/), per user: pasting a handful at once is fine, a loop is not.
IMAGE_THROTTLE_RATE = os.environ.get("IMAGE_THROTTLE_RATE", "60/min")
# The throttles' counters: per process by default; CACHE_URL=redis://... shares them between processes.
CACHE_URL = os.environ.get("CACHE_URL", "")
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL, "KEY_PREFIX": "collab"}
        if CACHE_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

# --- Content-Security-Policy (django-csp; documents.web.security adds ws(s)://<host> to connect-src) ------------
# Scripts only from this origin. Styles may be inline: the templates carry <style> blocks and the editor
# (ProseMirror, remote carets) sets style attributes. Images may be data:/blob: (favicon, pasted images).
_CSP = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:", "blob:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
        **({"report-uri": [os.environ["CSP_REPORT_URI"]]} if os.environ.get("CSP_REPORT_URI") else {}),
    }
}
# CSP_REPORT_ONLY=1 sends the policy as Content-Security-Policy-Report-Only (violations reported, nothing blocked).
if env_bool("CSP_REPORT_ONLY", False):
    CONTENT_SECURITY_POLICY = None
    CONTENT_SECURITY_POLICY_REPORT_ONLY = _CSP
else:
    CONTENT_SECURITY_POLICY = _CSP

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files ---------------------------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
FRONTEND_DIST = BASE_DIR / "frontend" / "dist"
STATICFILES_DIRS = [FRONTEND_DIST] if FRONTEND_DIST.is_dir() else []
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

# --- REST API -------------------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "documents.web.api_errors.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "DEFAULT_THROTTLE_RATES": {
        "login": LOGIN_THROTTLE_RATE,
        "token": TOKEN_THROTTLE_RATE,
        "updates": UPDATE_THROTTLE_RATE,
        "images": IMAGE_THROTTLE_RATE,
    },
    "NUM_PROXIES": PROXY_COUNT,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Collab documents API",
    "DESCRIPTION": "Documents, members and exports of the collaborative editing service.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI and Redoc from the app's own static files (drf-spectacular-sidecar), no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "DocumentRoleEnum": "documents.models.Role",
        "MemberRoleEnum": "documents.models.MEMBER_ROLES",
    },
}
# Large request bodies are refused early; imports have their own limit in documents.conf.
DATA_UPLOAD_MAX_MEMORY_SIZE = int(env_number("DATA_UPLOAD_MAX_MEMORY_SIZE", 20 * 1024 * 1024))

# --- Application tunables: every COLLAB_* variable, parsed where their defaults live (documents/conf.py) ----------
COLLAB = collab_from_environment(os.environ)

# --- Uploaded images (documents.models.DocumentImage): the default storage ----------------------------------------
# Never served from a public URL: documents.web.api_images streams each file to the document's readers only.
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT") or BASE_DIR / "media")
# COLLAB_IMAGE_STORAGE=s3: any S3-compatible store through django-storages, configured by its standard settings.
# Credentials left unset come from boto3's own chain (AWS_* variables, ~/.aws, an instance role).
AWS_STORAGE_BUCKET_NAME = os.environ.get("AWS_STORAGE_BUCKET_NAME", "")
if CollabConfig(**COLLAB).IMAGE_STORAGE == "s3":
    STORAGES["default"] = {"BACKEND": "storages.backends.s3.S3Storage"}
    AWS_S3_ENDPOINT_URL = os.environ.get("AWS_S3_ENDPOINT_URL") or None  # None: Amazon's own
    AWS_S3_REGION_NAME = os.environ.get("AWS_S3_REGION_NAME") or None
    AWS_ACCESS_KEY_ID = os.environ.get("AWS_ACCESS_KEY_ID") or None
    AWS_SECRET_ACCESS_KEY = os.environ.get("AWS_SECRET_ACCESS_KEY") or None
    AWS_LOCATION = os.environ.get("AWS_LOCATION", "")  # a key prefix inside the bucket
    AWS_S3_ADDRESSING_STYLE = os.environ.get("AWS_S3_ADDRESSING_STYLE") or None  # "path" for most self-hosted stores
    AWS_DEFAULT_ACL = None  # the bucket's own policy: objects stay private

# --- Operations: metrics and logs ---------------------------------------------------------------------------------
# /metrics answers only requests bearing this token ("Authorization: Bearer <token>") when it is set, and only
# requests from these addresses (or networks, e.g. 10.0.0.0/8) when the list is set; both empty: anyone may scrape.
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
METRICS_ALLOW = env_list("METRICS_ALLOW", [])

LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO")
# "plain" (the default) or "json": one JSON object per line (python-json-logger), for log collectors.
LOG_FORMAT = (os.environ.get("LOG_FORMAT", "").strip() or "plain").lower()
if LOG_FORMAT not in {"plain", "json"}:
    raise ImproperlyConfigured(f"LOG_FORMAT must be plain or json, not {LOG_FORMAT!r}")
# Every record gets document_id, connection_id and user_id (None outside a connection) from documents.logcontext;
# the JSON format writes them as fields, the plain one leaves them out (its messages name the connection already).
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "documents.logcontext.ContextFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": ["levelname", "name", "message", "document_id", "connection_id", "user_id"],
            "rename_fields": {"levelname": "level", "name": "logger"},
            "timestamp": "time",
        },
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["context"]},
    },
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "documents": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
        # Configuring it drops Django's own handlers (a DEBUG-only console, mail to ADMINS), which would print a
        # second copy of each line in their format; its records still reach the root's console.
        "django": {"level": "INFO"},
        "django.request": {"handlers": ["console"], "level": "WARNING", "propagate": False},
    },
}
