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

from campaign.privacy.envelope import KeyConfigurationError, load_master_keys

_env = environ.Env()
_var_dir = Path(_env("PROTAGONIST_VAR", default=str(Path(__file__).resolve().parents[2] / "var")))

PROTAGONIST_ENV = _env("PROTAGONIST_ENV", default="development")
if PROTAGONIST_ENV not in ("development", "production"):
    raise ImproperlyConfigured(
        f"PROTAGONIST_ENV must be 'development' or 'production', not {PROTAGONIST_ENV!r}"
    )
_production = PROTAGONIST_ENV == "production"

# --- encryption at rest (campaign.privacy.envelope) ---------------------------------------------------
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
    from campaign.services.storage_s3 import CDN_UNSIGNED_MESSAGE

    raise ImproperlyConfigured(CDN_UNSIGNED_MESSAGE)

# --- rate limits (campaign.intake.ratelimit): (burst, per minute) ------------------------------------
RATELIMIT_ENABLED = _env.bool("RATELIMIT_ENABLED", default=True)
RATELIMIT_DEVICE = (
    _env.int("RATELIMIT_DEVICE_BURST", default=5),
    _env.float("RATELIMIT_DEVICE_PER_MIN", default=6.0),
)
RATELIMIT_IP = (
    _env.int("RATELIMIT_IP_BURST", default=600),
    _env.float("RATELIMIT_IP_PER_MIN", default=1200.0),
)
# Requests without a valid signed device id (no cookie, forged, one per request): per address, tighter.
RATELIMIT_ANONYMOUS = (
    _env.int("RATELIMIT_ANONYMOUS_BURST", default=2),
    _env.float("RATELIMIT_ANONYMOUS_PER_MIN", default=2.0),
)
# Empty: the channel layer's Redis.
RATELIMIT_REDIS_URL = _env("RATELIMIT_REDIS_URL", default="")
RATELIMIT_REDIS_TIMEOUT_S = _env.float("RATELIMIT_REDIS_TIMEOUT_S", default=0.25)

# --- client address (campaign.security.proxies) -----------------------------------------------------
# Addresses/CIDRs of *our* proxies (load balancer, ingress). X-Forwarded-For is read only when the
# socket peer is one of them, from the right, up to the first address that is not. Empty: the socket
# peer is the client and X-Forwarded-For is ignored (uvicorn runs with --no-proxy-headers).
TRUSTED_PROXIES = _env.list("TRUSTED_PROXIES", default=[])
if _env("RATELIMIT_TRUSTED_PROXY_COUNT", default=""):
    raise ImproperlyConfigured(
        "RATELIMIT_TRUSTED_PROXY_COUNT is gone: set TRUSTED_PROXIES to your proxies' addresses/CIDRs "
        "(a hop count let any client choose its address)."
    )
try:
    from campaign.security.proxies import trusted_networks_parse

    trusted_networks_parse(TRUSTED_PROXIES)
except ValueError as _error:
    raise ImproperlyConfigured(str(_error)) from None

# --- broker sends (campaign.services.dispatch, campaign.broker) ---------------------------------------
# A send the broker has not confirmed within this many seconds fails: intake answers 503 and keeps nothing.
BROKER_SOCKET_TIMEOUT_S = _env.float("BROKER_SOCKET_TIMEOUT_S", default=2.0)

# --- admission control (campaign.intake.admission) -------------------------------------------------
ADMISSION_SNAPSHOT_TTL_S = _env.float("ADMISSION_SNAPSHOT_TTL_S", default=1.0)
GPU_WORKER_SLOTS = _env.int("GPU_WORKER_SLOTS", default=1)
# One client's share of the queue's capacity within the promise (campaign.intake.fairshare).
ADMISSION_SHARE_ENABLED = _env.bool("ADMISSION_SHARE_ENABLED", default=True)
ADMISSION_SHARE_IP = _env.float("ADMISSION_SHARE_IP", default=0.5)
ADMISSION_SHARE_DEVICE = _env.float("ADMISSION_SHARE_DEVICE", default=0.1)
ADMISSION_SHARE_MIN_JOBS = _env.int("ADMISSION_SHARE_MIN_JOBS", default=3)
DEFAULT_VIDEO_SECONDS = _env.float("DEFAULT_VIDEO_SECONDS", default=60.0)

# --- retention (campaign.services.retention) ----------------------------------------------------------
RETENTION_SWEEP_INTERVAL_S = _env.float("RETENTION_SWEEP_INTERVAL_S", default=600.0)
ORIGINAL_PHOTO_GRACE_HOURS = _env.float("ORIGINAL_PHOTO_GRACE_HOURS", default=24.0)

# --- admin logins (django-axes) ---------------------------------------------------------------------
# After AXES_FAILURE_LIMIT wrong passwords for one username from one address, that pair is refused with
# 429 for AXES_COOLOFF_MINUTES (a success resets the count). Keyed on the pair, not the username alone,
# so a stranger cannot lock an editor out; addresses come from REMOTE_ADDR, which
# campaign.security.proxies sets from TRUSTED_PROXIES only (never a client's X-Forwarded-For).
AXES_FAILURE_LIMIT = _env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = _env.float("AXES_COOLOFF_MINUTES", default=15.0) / 60.0  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "campaign.security.proxies.request_client_address"
AXES_ENABLED = _env.bool("AXES_ENABLED", default=True)

# --- Content-Security-Policy (django-csp) ---------------------------------------------------------
# Scripts only from this site (the H5 page and the admin load files, no inline script); inline styles
# allowed (the admin's and the dashboard's); images, films and fetches also from the object store or
# CDN that the media view redirects to (CSP_MEDIA_ORIGINS, default from CDN_DOMAIN / S3_ENDPOINT_URL).
from csp.constants import NONE, SELF, UNSAFE_INLINE  # noqa: E402


def _media_origins() -> list[str]:
    explicit = _env.list("CSP_MEDIA_ORIGINS", default=[])
    if explicit or _env("STORAGE_BACKEND", default="local") != "s3":
        return explicit
    origins = []
    if _env("CDN_DOMAIN", default=""):
        origins.append(f"https://{_env('CDN_DOMAIN')}")
    endpoint = _env("S3_ENDPOINT_URL", default="")
    if endpoint:
        from urllib.parse import urlsplit

        parts = urlsplit(endpoint)
        origins.append(f"{parts.scheme}://{parts.netloc}")
    elif _env("S3_BUCKET", default=""):  # AWS: virtual-hosted style presigned URLs
        origins.append(f"https://{_env('S3_BUCKET')}.s3.amazonaws.com")
        if _env("S3_REGION", default=""):
            origins.append(f"https://{_env('S3_BUCKET')}.s3.{_env('S3_REGION')}.amazonaws.com")
    return origins


CSP_MEDIA_ORIGINS = _media_origins()
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, UNSAFE_INLINE],
        "img-src": [SELF, "data:", "blob:", *CSP_MEDIA_ORIGINS],
        "media-src": [SELF, "blob:", *CSP_MEDIA_ORIGINS],
        "connect-src": [SELF, *CSP_MEDIA_ORIGINS],  # 'self' covers this host's ws:/wss: (CSP level 3)
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

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
