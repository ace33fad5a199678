"""Encrypted blobs: the visitor's photo and face asset never reach a storage backend in plain text.

The storage key is the AES-GCM associated data, so a blob copied under another job's key does not
decrypt. Workers call `private_blob_get` and hold the plaintext in memory only (never a local file).
Results (posters, film) are not encrypted by the application: they are served to the visitor through
signed, expiring URLs (and a CDN in production) and are protected at rest by the object store's
server-side encryption (``S3_SSE``).
"""

from __future__ import annotations

from campaign.privacy.envelope import decrypt, encrypt, get_keyring
from campaign.services.storage import blob_exists, blob_get, blob_put
from campaign.services.storage_s3 import object_context


def _aad(key: str) -> bytes:
    return b"protagonist-blob:" + key.encode("utf-8")


def private_blob_put(*, key: str, data: bytes, campaign: str | None = None) -> str:
    """Encrypt `data` with a fresh data key and store it under exactly `key`.

    `campaign` (slug) tags the object in object storage when the job row does not exist yet (intake).
    """
    with object_context(campaign=campaign):
        return blob_put(key=key, data=encrypt(data, _aad(key)))


def private_blob_get(*, key: str) -> bytes:
    """Read and decrypt a blob stored with `private_blob_put`; DecryptionError if it was tampered with."""
    return decrypt(blob_get(key=key), _aad(key))


def private_blob_rewrap(*, key: str) -> bool:
    """Re-wrap the blob's data key with the current master key (rotation); False if it already was.

    A blob deleted meanwhile (job finished or deleted) is skipped, not an error.
    """
    if not blob_exists(key=key):
        return False
    keyring = get_keyring()
    blob = blob_get(key=key)
    if keyring.is_current(blob):
        return False
    blob_put(key=key, data=keyring.rewrap(blob))
    return True
