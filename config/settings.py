"""Django settings for the issue tracker's AI assistant, read from the environment."""

import os
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DJANGO_DEBUG", default=False)
# Production values have no default: only a DEBUG run may fall back to a throwaway key.
SECRET_KEY = env("DJANGO_SECRET_KEY") if not DEBUG else env("DJANGO_SECRET_KEY", default="dev")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

# Behind HTTPS (docs/operations.md): each set from the environment, off by default so that the
# service works on plain http://127.0.0.1 as it starts.
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=False)
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=False)
SESSION_COOKIE_SECURE = env.bool("DJANGO_SESSION_COOKIE_SECURE", default=False)
CSRF_COOKIE_SECURE = env.bool("DJANGO_CSRF_COOKIE_SECURE", default=False)
# A proxy that ends TLS says so in a header, e.g. "HTTP_X_FORWARDED_PROTO,https".
_proxy_ssl_header = env.list("DJANGO_SECURE_PROXY_SSL_HEADER", default=[])
SECURE_PROXY_SSL_HEADER = tuple(_proxy_ssl_header) if _proxy_ssl_header else None
# Bodies are read in full before a view runs: a larger one is refused unread (config.asgi).
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DJANGO_DATA_UPLOAD_MAX_MEMORY_SIZE", default=1_048_576)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files, served by us: the docs work offline
    "axes",  # failed logins: a username is locked out from an address after AXES_FAILURE_LIMIT
    "config",
    # ai_assist before issues: its templates/issues/issue_detail.html adds the AI panel to the
    # issue page by extending issues' own (the app found first wins, as for admin templates).
    "ai_assist",
    "issues",
    "insights",  # the staff page of figures and charts (reads ai_assist; nothing reads it)
]

# No GZipMiddleware: it buffers event streams, and the streams must flow as they are written.
# Django's own, whose header work runs on the event loop under ASGI (config/middleware.py).
MIDDLEWARE = [
    "config.middleware.SecurityMiddleware",
    "servestatic.middleware.ServeStaticMiddleware",
    "config.middleware.SessionMiddleware",
    "config.middleware.CommonMiddleware",
    "config.middleware.CsrfViewMiddleware",
    "config.middleware.AuthenticationMiddleware",
    "config.middleware.MessageMiddleware",
    "config.middleware.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # async: no thread hop, unless it answers a lockout
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"

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
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["ENGINE"] = "config.sqlite3"
    # Many async writers at once: WAL lets readers run beside the writer, IMMEDIATE takes the
    # write lock up front (no deadlock on upgrade) and the busy timeout queues writers.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000;"
        ),
    }
    # Kept open: opening one costs more than the queries of a request (the streams share one).
    DATABASES["default"]["CONN_MAX_AGE"] = None
    # A file, not memory, so that a test server in another process sees the test database;
    # one per test run, so that runs side by side do not share it.
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / "var" / f"test-{os.getpid()}.sqlite3")}
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Django's own psycopg pool: connections are reused instead of opened per request.
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": env.int("DATABASE_POOL_MIN", default=2),
        "max_size": env.int("DATABASE_POOL_MAX", default=20),
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.float("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_DISABLE_ACCESS_LOG = True  # failures are what it needs; no row for every login

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]

REST_FRAMEWORK = {
    "DEFAULT_PARSER_CLASSES": [
        "config.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "config.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Issue tracker AI assistant",
    "DESCRIPTION": "Issues, and AI suggestions for them: streamed (SSE) and as plain JSON.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The event streams are plain async views, out of drf-spectacular's sight: described there.
    "PREPROCESSING_HOOKS": ["ai_assist.schema.add_streams"],
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "SWAGGER_UI_SETTINGS": {"persistAuthorization": True},
    "ENUM_NAME_OVERRIDES": {
        "IssueTypeEnum": "issues.models.Issue.Type",
        "StoryPointScaleEnum": "ai_assist.schema.POINT_CHOICES",
    },
}

# The AI assistant. The provider defaults to OpenAI as soon as it is configured, else offline.
OPENAI_API_KEY = env("OPENAI_API_KEY", default="")
OPENAI_BASE_URL = env("OPENAI_BASE_URL", default="")
AI_PROVIDER = env(
    "AI_PROVIDER", default="openai" if OPENAI_API_KEY or OPENAI_BASE_URL else "offline"
)
AI_MODEL = env("AI_MODEL", default="gpt-4o-mini")
AI_MAX_TOKENS = env.int("AI_MAX_TOKENS", default=2000)
AI_TEMPERATURE = env.float("AI_TEMPERATURE", default=0.7)
AI_TIMEOUT = env.float("AI_TIMEOUT", default=60.0)
AI_MAX_RETRIES = env.int("AI_MAX_RETRIES", default=2)
AI_SSE_KEEPALIVE = env.float("AI_SSE_KEEPALIVE", default=15.0)
AI_SSE_FLUSH_INTERVAL = env.float("AI_SSE_FLUSH_INTERVAL", default=0.1)
AI_OFFLINE_DELAY = env.float("AI_OFFLINE_DELAY", default=0.02)
AI_MAX_CONCURRENT_STREAMS = env.int("AI_MAX_CONCURRENT_STREAMS", default=3)
AI_RATE_LIMIT = env("AI_RATE_LIMIT", default="60/min")  # calls per user: DRF's s, min, hour, day
# The longest a call may run, start to end, whatever the upstream or the client does; a call
# still running then ends `failed`, and stops counting against AI_MAX_CONCURRENT_STREAMS.
AI_DEADLINE = env.float("AI_DEADLINE", default=300.0)
# Tokens per user and calendar month (UTC); unset: no budget. Staff override it per user in
# admin (ai_assist.TokenBudget). A call that would start past it gets 429 until the month turns.
AI_MONTHLY_TOKEN_BUDGET = env.int("AI_MONTHLY_TOKEN_BUDGET", default=None)
# Per model, USD per million input and output tokens, over ai_assist/usage.py's defaults:
# {"my-model": [0.15, 0.60]}. A model without a price has a cost of null.
try:
    AI_PRICES = env.json("AI_PRICES", default={})
except ValueError as error:
    raise ImproperlyConfigured(f"AI_PRICES is not JSON: {error}") from None
# How often (seconds) each server process refits the confidence's calibration on the latest
# review outcomes (at its heartbeat, in a thread of its own).
AI_CALIBRATION_REFRESH = env.float("AI_CALIBRATION_REFRESH", default=600.0)
# Each server process says it is alive this often; the calls of one not heard from for three
# beats (it was killed, or its machine died) end `failed` ("interrupted").
AI_HEARTBEAT = env.float("AI_HEARTBEAT", default=10.0)
# When the last reader of a running call goes away, the call goes on this many seconds for a
# reader to come back (a reload, a dropped connection); then it ends `cancelled`. 0: at once.
AI_DETACH_GRACE = env.float("AI_DETACH_GRACE", default=10.0)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {"ai_assist": {"level": env("AI_LOG_LEVEL", default="INFO")}},
}
