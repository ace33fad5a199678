"""Settings of privacy, upload hardening and peak shaving, all from the environment.

Star-imported at the end of `campaign.settings`, so every name here is a Django setting. One switch,
``PROTAGONIST_ENV=production``, turns on what production must have: the process refuses to start
without ``PROTAGONIST_MASTER_KEYS`` (and without ``SECRET_KEY``), and HTTPS-only cookies, HSTS and the
SSL redirect make ``manage.py check --deploy`` clean. Development (the default) derives a key file
under the data dir and says so loudly in the log.
"""

from __future__ import annotations

import os
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from campaign.security.envelope import KeyConfigurationError, load_master_keys

_env = environ.Env()
_var_dir = Path(_env("PROTAGONIST_VAR", default=str(Path(__file__).resolve().parents[2] / "var")))

PROTAGONIST_ENV = _env("PROTAGONIST_ENV", default="development")
if PROTAGONIST_ENV not in ("development", "production"):
    raise ImproperlyConfigured(
        f"PROTAGONIST_ENV must be 'development' or 'production', not {PROTAGONIST_ENV!r}"
    )
_production = PROTAGONIST_ENV == "production"

# --- encryption at rest (campaign.security.envelope) ---------------------------------------------------
PROTAGONIST_DEV_KEY_FILE = _var_dir / "dev-master-key"
try:
    PROTAGONIST_MASTER_KEYS = load_master_keys(
        env_value=os.environ.get("PROTAGONIST_MASTER_KEYS"),
        dev_key_path=None if _production else PROTAGONIST_DEV_KEY_FILE,
    )
except KeyConfigurationError as error:
    raise ImproperlyConfigured(str(error)) from None
if _production and not os.environ.get("SECRET_KEY"):
    raise ImproperlyConfigured(
        "SECRET_KEY is not set. Production refuses to start with the per-checkout development key: "
        "set SECRET_KEY to a long random value shared by all web nodes (it signs result URLs)."
    )

if (
    _env("STORAGE_BACKEND", default="local") == "s3"
    and _env("CDN_DOMAIN", default="")
    and not (os.environ.get("CLOUDFRONT_KEY_ID") and os.environ.get("CLOUDFRONT_KEY"))
):
    from campaign.security.storage_s3 import CDN_UNSIGNED_MESSAGE

    raise ImproperlyConfigured(CDN_UNSIGNED_MESSAGE)

# --- rate limits (campaign.security.ratelimit): (burst, per minute) ------------------------------------
RATELIMIT_ENABLED = _env.bool("RATELIMIT_ENABLED", default=True)
RATELIMIT_DEVICE = (
    _env.int("RATELIMIT_DEVICE_BURST", default=5),
    _env.float("RATELIMIT_DEVICE_PER_MIN", default=6.0),
)
RATELIMIT_IP = (
    _env.int("RATELIMIT_IP_BURST", default=600),
    _env.float("RATELIMIT_IP_PER_MIN", default=1200.0),
)
# Empty: the channel layer's Redis. Behind N trusted proxies, the client is N hops from the right of XFF.
RATELIMIT_REDIS_URL = _env("RATELIMIT_REDIS_URL", default="")
RATELIMIT_REDIS_TIMEOUT_S = _env.float("RATELIMIT_REDIS_TIMEOUT_S", default=0.25)
RATELIMIT_TRUSTED_PROXY_COUNT = _env.int("RATELIMIT_TRUSTED_PROXY_COUNT", default=0)

# --- admission control (campaign.security.admission) -------------------------------------------------
ADMISSION_SNAPSHOT_TTL_S = _env.float("ADMISSION_SNAPSHOT_TTL_S", default=1.0)
GPU_WORKER_SLOTS = _env.int("GPU_WORKER_SLOTS", default=1)
DEFAULT_VIDEO_SECONDS = _env.float("DEFAULT_VIDEO_SECONDS", default=60.0)

# --- retention (campaign.security.retention) ----------------------------------------------------------
RETENTION_SWEEP_INTERVAL_S = _env.float("RETENTION_SWEEP_INTERVAL_S", default=600.0)
ORIGINAL_PHOTO_GRACE_HOURS = _env.float("ORIGINAL_PHOTO_GRACE_HOURS", default=24.0)

# --- HTTPS-only in production (manage.py check --deploy) ---------------------------------------------
if _production:
    SECURE_SSL_REDIRECT = _env.bool("SECURE_SSL_REDIRECT", default=True)
    # TLS ends at the load balancer, which says so in X-Forwarded-Proto.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = _env.int("SECURE_HSTS_SECONDS", default=31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = _env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
    SECURE_HSTS_PRELOAD = _env.bool("SECURE_HSTS_PRELOAD", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_REFERRER_POLICY = "same-origin"
