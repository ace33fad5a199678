"""Django settings, all from environment variables (django-environ) with defaults for one machine.

One code path, two setups: with no environment at all the platform runs on SQLite, an embedded Valkey
(started by `scripts/run` / `manage.py valkey`) and local files under `var/`; production sets
`DATABASE_URL`, `BROKER_URL`, `CHANNEL_REDIS_URL` and `STORAGE_BACKEND=s3` (see README).
"""

from __future__ import annotations

import logging
import secrets
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()
# A local `.env` lets an operator keep settings next to the checkout; the environment wins.
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

VAR_DIR = Path(env("PROTAGONIST_VAR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def _local_secret_key() -> str:
    """A per-checkout random key kept in var/, so a fresh machine is never run with a published key."""
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = env("SECRET_KEY", default=None) or _local_secret_key()
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# Public origin used in links handed to visitors (share URLs, QR codes); empty = the request's host.
PUBLIC_BASE_URL = env("PUBLIC_BASE_URL", default="")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "channels",
    "axes",  # admin login lockout (campaign.security.settings)
    "campaign",
]

MIDDLEWARE = [
    "campaign.observability.logging.RequestContextMiddleware",  # request/job ids on every log line
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",  # Content-Security-Policy (campaign.security.settings)
    # Static files, path-safe (no request can name a file outside the collected/found static tree);
    # hashed names cached for a year, the rest no-cache.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # The signed device id on every page and API answer without one (campaign.intake.device).
    "campaign.intake.device.DeviceCookieMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes requires: refuses a locked-out client's login with 429.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "campaign.urls"
ASGI_APPLICATION = "campaign.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Workers and the web process write the same file: wait for locks instead of failing at once, and
    # use WAL so readers never block the writer. synchronous=NORMAL (SQLITE_SYNCHRONOUS): in WAL mode a
    # commit is not fsynced on its own (the WAL is synced at checkpoints), so intake commits are not
    # serialised behind a ~5 ms fsync each; still safe against process crashes and never corrupts the
    # file, but a power cut can undo the last commits. FULL restores an fsync per commit; production
    # runs PostgreSQL.
    _sqlite_synchronous = env.str("SQLITE_SYNCHRONOUS", default="NORMAL").upper()
    if _sqlite_synchronous not in ("NORMAL", "FULL", "EXTRA"):
        raise ValueError(f"SQLITE_SYNCHRONOUS must be NORMAL, FULL or EXTRA, not {_sqlite_synchronous!r}")
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["OPTIONS"].update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": f"PRAGMA journal_mode=WAL;PRAGMA synchronous={_sqlite_synchronous};",
        }
    )
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and env.bool("DB_POOL", default=True):
    # Under ASGI, Django runs each request's sync code in a fresh thread and persistent connections are
    # per thread: CONN_MAX_AGE > 0 exhausted PostgreSQL's connections within seconds of an intake burst.
    # A psycopg pool per process bounds them (DB_POOL_MAX_SIZE) and makes "a connection per request" a
    # checkout; Django requires CONN_MAX_AGE = 0 with it. (The API's own threads keep theirs anyway:
    # campaign.asgi_api.) Workers return theirs to the pool after each message.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True  # with a pool: psycopg checks on checkout
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": env.int("DB_POOL_MIN_SIZE", default=2),
        "max_size": env.int("DB_POOL_MAX_SIZE", default=16),
        "timeout": env.float("DB_POOL_TIMEOUT_S", default=10.0),
    }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# django-axes first: it counts failed logins and refuses a locked-out client before the password check.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "campaign" / "locale"]
TIME_ZONE = env("TIME_ZONE", default="Asia/Shanghai")
USE_I18N = True
USE_TZ = True

# --- files ---------------------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
# A checkout without `collectstatic` (tests, a development shell) serves from the finders too;
# WhiteNoise only ever serves files it listed under those roots, never a path a request spells.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = env.bool("WHITENOISE_AUTOREFRESH", default=False)
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env("MEDIA_ROOT", default=str(VAR_DIR / "media")))
# Scratch space for films copied out of object storage and videos being encoded (per machine).
LOCAL_CACHE_DIR = Path(env("LOCAL_CACHE_DIR", default=str(VAR_DIR / "cache")))

STORAGE_BACKEND = env("STORAGE_BACKEND", default="local")  # "local" | "s3"
if STORAGE_BACKEND == "s3":
    _default_storage = {
        "BACKEND": "campaign.services.storage_s3.TaggedS3Storage",  # S3Storage + campaign/purpose tags
        "OPTIONS": {
            "bucket_name": env("S3_BUCKET"),
            "endpoint_url": env("S3_ENDPOINT_URL", default=None),
            "region_name": env("S3_REGION", default=None),
            "access_key": env("S3_ACCESS_KEY_ID", default=None),
            "secret_key": env("S3_SECRET_ACCESS_KEY", default=None),
            "custom_domain": env("CDN_DOMAIN", default=None) or None,
            "querystring_auth": True,
            "querystring_expire": env.int("OBJECT_URL_TTL", default=300),  # see OBJECT_URL_TTL
            "file_overwrite": True,
            "default_acl": None,
            "object_parameters": {"ServerSideEncryption": "AES256"}
            if env.bool("S3_SSE", default=False)
            else {},
        },
    }
else:
    _default_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        # Stages write fixed keys (jobs/<id>/poster-1.jpg); a redelivered message overwrites instead
        # of creating poster-1_aB3x.jpg next to it.
        "OPTIONS": {"location": str(MEDIA_ROOT), "base_url": MEDIA_URL, "allow_overwrite": True},
    }
STORAGES = {
    "default": _default_storage,
    "staticfiles": {
        # Hashed names so WeChat's aggressive cache never serves stale JS; non-strict so that a
        # checkout without `collectstatic` (tests) still renders.
        "BACKEND": "campaign.staticfiles.ForgivingManifestStaticFilesStorage",
    },
}
SIGNED_URL_TTL = env.int("SIGNED_URL_TTL", default=3600)
# Lifetime of the object-store URL (S3 presigned / CloudFront-signed) the media view redirects a
# checked app link to: short, since the app link is what carries the 410 after deletion.
OBJECT_URL_TTL = env.int("OBJECT_URL_TTL", default=300)

# Uploads: the photo is read into memory and checked by decoding it (see campaign.services.photos).
MAX_PHOTO_BYTES = env.int("MAX_PHOTO_BYTES", default=15 * 1024 * 1024)
# 30 MP: a phone's full-resolution photo (12-24 MP; 48 MP sensors save 12 MP by default) with margin.
# Refused from the header before any decode; Pillow's own bomb limit is set to the same figure.
MAX_PHOTO_PIXELS = env.int("MAX_PHOTO_PIXELS", default=30_000_000)
# Photos decoded at once per web process (each up to MAX_PHOTO_PIXELS x 4 bytes), and how long a request
# waits for a slot before it is answered 503 busy (campaign.intake.uploads).
PHOTO_DECODE_CONCURRENCY = env.int("PHOTO_DECODE_CONCURRENCY", default=2)
PHOTO_DECODE_WAIT_S = env.float("PHOTO_DECODE_WAIT_S", default=10.0)
PHOTO_MAX_EDGE = env.int("PHOTO_MAX_EDGE", default=2048)
# Bodies: refused before Django reads them (campaign.intake.asgi): /api/ at the photo's limit, the admin's
# film upload (staff sessions only) at ADMIN_UPLOAD_MAX_BYTES, everything else at REQUEST_MAX_BYTES.
REQUEST_MAX_BYTES = env.int("REQUEST_MAX_BYTES", default=1024 * 1024)
ADMIN_UPLOAD_MAX_BYTES = env.int("ADMIN_UPLOAD_MAX_BYTES", default=512 * 1024 * 1024)
# Form fields other than files (Django refuses more with 400; the API answers it as JSON).
DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
# Files above this spool to a temporary file (the admin's films); photos use their own in-memory handler.
FILE_UPLOAD_MAX_MEMORY_SIZE = MAX_PHOTO_BYTES + 1024 * 1024
# A changelist action posts one field per selected row (100 per page) plus a few.
DATA_UPLOAD_MAX_NUMBER_FIELDS = 400
# Editors upload a variant with its film and five posters (+ overlays) in one admin form; the visitor
# API accepts exactly one file and refuses more itself (campaign.api.views.JobCreateApi).
DATA_UPLOAD_MAX_NUMBER_FILES = 12
# Editors upload films through admin; large files stream to disk.
FILE_UPLOAD_TEMP_DIR = None

# --- queues and realtime ---------------------------------------------------------------------------
EMBEDDED_VALKEY_PORT = env.int("EMBEDDED_VALKEY_PORT", default=6390)
_embedded_valkey_url = f"redis://127.0.0.1:{EMBEDDED_VALKEY_PORT}/0"
# redis://..., rediss://..., amqp://... (RabbitMQ) or stub:// (in-process, tests only)
BROKER_URL = env("BROKER_URL", default=_embedded_valkey_url)
CHANNEL_REDIS_URL = env(
    "CHANNEL_REDIS_URL", default=BROKER_URL if BROKER_URL.startswith("redis") else _embedded_valkey_url
)
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            # The read timeout must exceed channels_redis' 5 s blocking pop: redis-py >= 6 defaults to
            # 5 s, which makes idle websockets fail with "Timeout reading from ...".
            "hosts": [{"address": CHANNEL_REDIS_URL, "socket_timeout": 30, "socket_connect_timeout": 5}],
            "capacity": 200,
            "expiry": 30,
        },
    }
}
# Seconds between progress writes for one job (to the DB and the channel layer); stage changes and
# results are always written at once.
PROGRESS_MIN_INTERVAL_S = env.float("PROGRESS_MIN_INTERVAL_S", default=0.5)
# How many cpu-queue jobs the deployment works on at once (processes x threads), for the ETA.
CPU_WORKER_SLOTS = env.int("CPU_WORKER_SLOTS", default=1)
# Default seconds for the analyse+posters stages before real throughput figures exist.
DEFAULT_STAGE_SECONDS = env.float("DEFAULT_STAGE_SECONDS", default=20.0)
# Mobile proxies close idle sockets after ~60 s; the page pings every 20 s.
WEBSOCKET_AUTH_TIMEOUT_S = env.float("WEBSOCKET_AUTH_TIMEOUT_S", default=10.0)

# --- reliability (workers.watchdog, workers.reconciler; see docs/deploy.md) ---------------------------
# A stage's lease lives this long without a heartbeat: the bound on noticing a dead worker.
LEASE_TTL_S = env.float("LEASE_TTL_S", default=60.0)
# Seconds between reconciler passes; worker-loss recovery <= LEASE_TTL_S + RECONCILE_INTERVAL_S.
RECONCILE_INTERVAL_S = env.float("RECONCILE_INTERVAL_S", default=10.0)
# A job waiting in a queue without a lease this long is re-enqueued (a lost or never-sent message).
RECONCILE_WAITING_AFTER_S = env.float("RECONCILE_WAITING_AFTER_S", default=900.0)
# Re-enqueues after lost workers before the job is failed with `stage_timeout`.
MAX_RECOVERIES = env.int("MAX_RECOVERIES", default=3)
# A film ingest still `running` after this long lost its worker: the reconciler sends it again.
RECONCILE_INGEST_AFTER_S = env.float("RECONCILE_INGEST_AFTER_S", default=2400.0)
# The JSON API's thread pool per web process (campaign.asgi_api): each thread keeps one database
# connection for API_CONN_MAX_AGE seconds. A few threads suffice: the work is CPU-bound under the GIL,
# and more threads mostly add GIL hand-offs (measured with bench/intake.py).
API_THREADS = env.int("API_THREADS", default=4)
API_CONN_MAX_AGE = env.int("API_CONN_MAX_AGE", default=60)
# Bearer token for /metrics. Empty: /metrics answers loopback clients only (a scraper on the same
# machine); anyone else gets 401.
METRICS_TOKEN = env("METRICS_TOKEN", default="")

REST_FRAMEWORK = {
    # The API is used by anonymous visitors holding capability tokens; no sessions, no CSRF.
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "campaign.api.errors.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Protagonist API",
    "DESCRIPTION": "Upload one face photo, receive five posters and a short film.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
}

# JSON lines with job ids in production (LOG_FORMAT=json), readable lines in a terminal; both redact
# tokens and signatures (campaign.observability.logging).
from campaign.observability.logging import logging_config  # noqa: E402

LOGGING = logging_config(fmt=env("LOG_FORMAT", default="plain"), level=env("LOG_LEVEL", default="INFO"))
# uvicorn's own loggers through the same redacting handler: its websocket lines ("WebSocket
# /ws/jobs/<id>/?token=...") and access lines print query strings. Django configures logging when
# uvicorn imports the app, after uvicorn's own setup, so these replace uvicorn's handlers.
for _uvicorn_logger in ("uvicorn", "uvicorn.error", "uvicorn.access"):
    LOGGING["loggers"][_uvicorn_logger] = {"handlers": ["console"], "level": "INFO", "propagate": False}
# `uvicorn --no-access-log` (scripts/run, deploy/) empties the access logger before the app is imported;
# configuring it (or only its parent: dictConfig resets children) would bring back a line per request,
# and the page polls. Keep it off then.
_uvicorn_access = logging.getLogger("uvicorn.access")
if not _uvicorn_access.handlers and not _uvicorn_access.propagate:
    LOGGING["loggers"]["uvicorn.access"] = {"handlers": [], "propagate": False}

SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# Privacy, upload hardening, rate limits, admission, retention; PROTAGONIST_ENV=production checks.
from campaign.security.settings import *  # noqa: E402, F403
