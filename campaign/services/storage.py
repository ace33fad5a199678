"""Blobs by storage key through Django's default storage (local files or S3), and signed app URLs.

Every stage reads and writes through these functions, never through local paths shared between
processes, so the same code runs with web and workers on different machines. Keys are fixed per job
and purpose (`jobs/<id>/poster-1.jpg`): writing again overwrites, which makes stages idempotent.
"""

from __future__ import annotations

import shutil
import time
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlencode

from django.conf import settings
from django.core.files.base import ContentFile, File
from django.core.files.storage import FileSystemStorage, default_storage
from django.db.models.fields.files import FieldFile
from django.urls import reverse
from django.utils.crypto import constant_time_compare, salted_hmac

_SIGN_SALT = "campaign.media"


def blob_put(*, key: str, data: bytes) -> str:
    """Store bytes under exactly `key` (overwriting), return the key."""
    saved = default_storage.save(key, ContentFile(data))
    if saved != key:  # a storage that renames instead of overwriting would break idempotency
        raise RuntimeError(f"storage renamed {key!r} to {saved!r}; enable overwriting")
    return key


def blob_put_file(*, key: str, path: Path) -> str:
    with path.open("rb") as fh:
        saved = default_storage.save(key, File(fh, name=path.name))
    if saved != key:
        raise RuntimeError(f"storage renamed {key!r} to {saved!r}; enable overwriting")
    return key


def blob_get(*, key: str) -> bytes:
    with default_storage.open(key, "rb") as fh:
        return fh.read()


def blob_exists(*, key: str) -> bool:
    return bool(key) and default_storage.exists(key)


def blob_delete(*, key: str) -> None:
    """Delete if present; deleting twice is fine (redelivered delete messages)."""
    if key and default_storage.exists(key):
        default_storage.delete(key)


def field_key(field: FieldFile) -> str:
    """The storage key a model's file field holds; ValueError when it holds none."""
    if not field.name:
        raise ValueError(f"{field.field.name} holds no file")
    return field.name


def storage_is_local() -> bool:
    return isinstance(default_storage, FileSystemStorage)


def blob_local_path(*, key: str) -> Path:
    """A local file holding the blob: the file itself on local storage, a per-machine cached copy else.

    The engine reads films by path (PyAV seeks); object storage is copied once per machine and reused
    while the size matches.
    """
    if isinstance(default_storage, FileSystemStorage):
        return Path(default_storage.path(key))
    cached = Path(settings.LOCAL_CACHE_DIR) / "blobs" / key
    size = default_storage.size(key)
    if not cached.exists() or cached.stat().st_size != size:
        cached.parent.mkdir(parents=True, exist_ok=True)
        partial = cached.with_name(cached.name + ".part")
        with default_storage.open(key, "rb") as src, partial.open("wb") as dst:
            shutil.copyfileobj(src, dst, length=1 << 20)
        partial.replace(cached)
    return cached


def _signature(key: str, expires: int) -> str:
    return salted_hmac(_SIGN_SALT, f"{key}:{expires}", algorithm="sha256").hexdigest()


def blob_signed_url(*, key: str, ttl_s: int | None = None) -> str:
    """The app URL (`/media/<key>?e=..&s=..`) that serves a blob for `ttl_s` seconds, on every backend.

    Visitors never get an object-store URL directly: an S3/CDN link outlives the job it belongs to and
    answers 403/404 after deletion, while this one answers 410 Gone once the job is deleted (by its
    owner or by retention). The media view serves local files itself (with Range) and redirects to a
    short-lived object URL (`blob_object_url`) on S3.
    """
    ttl_s = ttl_s or settings.SIGNED_URL_TTL
    # Round the expiry up to the minute so that repeated snapshots hand out identical URLs (the
    # browser keeps its cached image instead of fetching it again for every progress event).
    expires = (int(time.time()) + ttl_s + 59) // 60 * 60
    query = urlencode({"e": expires, "s": _signature(key, expires)})
    return f"{reverse('campaign:media', kwargs={'key': key})}?{query}"


class Signature(StrEnum):
    VALID = "valid"
    EXPIRED = "expired"  # authentic (we issued it) but past its expiry
    INVALID = "invalid"  # forged, tampered with or malformed


def blob_signature_check(*, key: str, expires: str, signature: str) -> Signature:
    """Is a `blob_signed_url` link authentic, and still within its lifetime?

    Authentic-but-expired is told apart from forged so that the links of a deleted job answer 410 even
    after they expired, while a forged link learns nothing (403).
    """
    try:
        expires_at = int(expires)
    except (TypeError, ValueError):
        return Signature.INVALID
    if not constant_time_compare(_signature(key, expires_at), signature):
        return Signature.INVALID
    return Signature.VALID if expires_at >= time.time() else Signature.EXPIRED


def blob_object_url(*, key: str, ttl_s: int | None = None) -> str:
    """A short-lived direct URL of an object in object storage: S3 presigned, or CloudFront-signed when
    `CDN_DOMAIN` is set (see campaign.services.storage_s3). Only the media view hands these out, as the
    target of a redirect from a checked `blob_signed_url` link, so a leaked one works for minutes."""
    if isinstance(default_storage, FileSystemStorage):
        raise RuntimeError("local storage has no object URLs; serve the file through the media view")
    # S3Storage.url takes the lifetime (django-storages, untyped); Django's Storage.url does not.
    return str(default_storage.url(key, expire=ttl_s or settings.OBJECT_URL_TTL))  # type: ignore[call-arg]
