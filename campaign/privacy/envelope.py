"""Envelope encryption at rest for visitors' photos and face assets.

Why envelope encryption: every object gets its own random 256-bit data key (AES-GCM, authenticated), and
only that small data key is encrypted ("wrapped") with the master key from the environment. Rotating the
master key then means re-wrapping ~140 bytes per object (`Keyring.rewrap`), never re-encrypting megabytes, and a
leaked data key exposes one object, not the campaign.

Master keys are Fernet keys (urlsafe base64 of 32 bytes) in ``PROTAGONIST_MASTER_KEYS``, comma-separated,
the first one current: `cryptography`'s MultiFernet wraps with the first and unwraps with any, which is
exactly what rotation needs (add the new key in front, run ``manage.py rewrap_encrypted`` or let objects
age out, then drop the old key).

Blob layout (version 1)::

    b"PGE" | version (1 byte) | len(wrapped) (2 bytes, big endian) | wrapped data key (Fernet token)
          | nonce (12 bytes) | AES-GCM ciphertext + 16-byte tag

The AES-GCM associated data is ``magic + version + aad``: the caller's `aad` (the storage key and purpose)
binds a blob to where it belongs, so a blob copied to another job's key does not decrypt. The wrapped key
is *not* in the associated data so that rotation can replace it; its integrity comes from Fernet's HMAC.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import secrets
import struct
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

logger = logging.getLogger(__name__)

MAGIC = b"PGE"
VERSION = 1
_PREFIX = MAGIC + bytes([VERSION])
_NONCE_BYTES = 12
_HEADER = struct.Struct(">H")
ENV_VAR = "PROTAGONIST_MASTER_KEYS"
DEV_KEY_NOTICE_ENV = "PROTAGONIST_DEV_KEY_NOTICE"


class KeyConfigurationError(Exception):
    """The master keys are missing or malformed; the message says which and how to fix it."""


class DecryptionError(Exception):
    """A blob cannot be decrypted: wrong key, tampered bytes, wrong associated data or not our format.

    Deliberately one class without detail: callers must treat all of these the same (the object is
    unusable), and an oracle distinguishing them helps nobody but an attacker.
    """


def _validate_fernet_key(key: str, position: int) -> str:
    try:
        raw = base64.urlsafe_b64decode(key.encode("ascii"))
    except (binascii.Error, UnicodeEncodeError, ValueError) as error:
        raise KeyConfigurationError(
            f"{ENV_VAR} key #{position + 1} is not urlsafe base64 ({error}). Generate one with "
            "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`."
        ) from None
    if len(raw) != 32:
        raise KeyConfigurationError(
            f"{ENV_VAR} key #{position + 1} decodes to {len(raw)} bytes; a Fernet key is 32 bytes of urlsafe "
            "base64 (44 characters). Generate one with `Fernet.generate_key()`."
        )
    return key


def parse_master_keys(value: str | Sequence[str]) -> list[str]:
    """Split and validate a comma-separated key list (first = current); raises KeyConfigurationError."""
    items = value.split(",") if isinstance(value, str) else list(value)
    keys = [item.strip() for item in items if item.strip()]
    if not keys:
        raise KeyConfigurationError(f"{ENV_VAR} is empty; it needs at least one Fernet key.")
    return [_validate_fernet_key(key, position) for position, key in enumerate(keys)]


def load_master_keys(*, env_value: str | None, dev_key_path: Path | None) -> list[str]:
    """Master keys from the environment, or (development only) from a generated key file.

    Production settings call this with ``dev_key_path=None`` so that a missing ``PROTAGONIST_MASTER_KEYS``
    stops the process at start-up instead of silently encrypting with a key nobody backed up.
    """
    if env_value and env_value.strip():
        return parse_master_keys(env_value)
    if dev_key_path is None:
        raise KeyConfigurationError(
            f"{ENV_VAR} is not set. Production refuses to start without master keys: set it to one or more "
            "comma-separated Fernet keys (first = current), e.g. from "
            "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`, "
            "and keep a backup: without the key, stored photos and face assets cannot be read."
        )
    if not dev_key_path.exists():
        dev_key_path.parent.mkdir(parents=True, exist_ok=True)
        # O_EXCL: two processes starting at once must not each write (and use) a different key.
        try:
            fd = os.open(dev_key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(Fernet.generate_key().decode("ascii") + "\n")
    # scripts/run says this once in its summary and sets DEV_KEY_NOTICE_ENV for its processes, so that
    # its five processes do not each print the same banner into the terminal.
    logger.log(
        logging.DEBUG if os.environ.get(DEV_KEY_NOTICE_ENV) == "shown" else logging.WARNING,
        "!!! %s is not set: using the DEVELOPMENT master key stored in %s. Anyone who can read that file "
        "can decrypt every stored photo. Never run production like this. !!!",
        ENV_VAR,
        dev_key_path,
    )
    return parse_master_keys(dev_key_path.read_text(encoding="ascii"))


class Keyring:
    """Encrypts and decrypts blobs with per-object data keys wrapped by the master keys (first = current)."""

    def __init__(self, master_keys: Sequence[str | bytes]) -> None:
        if not master_keys:
            raise KeyConfigurationError("a Keyring needs at least one master key")
        self._current = Fernet(master_keys[0])
        self._wrapper = MultiFernet([Fernet(key) for key in master_keys])

    def encrypt(self, plaintext: bytes, aad: bytes) -> bytes:
        """Encrypt `plaintext` under a fresh data key; `aad` must be given again, identical, to decrypt."""
        data_key = AESGCM.generate_key(bit_length=256)
        nonce = secrets.token_bytes(_NONCE_BYTES)
        wrapped = self._current.encrypt(data_key)
        ciphertext = AESGCM(data_key).encrypt(nonce, plaintext, _PREFIX + aad)
        return b"".join((_PREFIX, _HEADER.pack(len(wrapped)), wrapped, nonce, ciphertext))

    def decrypt(self, blob: bytes, aad: bytes) -> bytes:
        """The plaintext, or DecryptionError if the blob was tampered with, the key or `aad` is wrong."""
        wrapped, nonce, ciphertext = _split(blob)
        try:
            data_key = self._wrapper.decrypt(wrapped)
            return AESGCM(data_key).decrypt(nonce, ciphertext, _PREFIX + aad)
        except (InvalidToken, InvalidTag, ValueError):
            raise DecryptionError(
                "the encrypted object cannot be decrypted with the configured keys"
            ) from None

    def rewrap(self, blob: bytes) -> bytes:
        """The same blob with its data key wrapped by the current master key; the payload is untouched."""
        wrapped, nonce, ciphertext = _split(blob)
        try:
            rewrapped = self._wrapper.rotate(wrapped)
        except InvalidToken:
            raise DecryptionError("the data key is not wrapped by any configured master key") from None
        return b"".join((_PREFIX, _HEADER.pack(len(rewrapped)), rewrapped, nonce, ciphertext))

    def is_current(self, blob: bytes) -> bool:
        """Whether the blob's data key is wrapped by the current (first) master key."""
        wrapped, _, _ = _split(blob)
        try:
            self._current.decrypt(wrapped)
        except InvalidToken:
            return False
        return True


def _split(blob: bytes) -> tuple[bytes, bytes, bytes]:
    if len(blob) < len(_PREFIX) + _HEADER.size or blob[: len(_PREFIX)] != _PREFIX:
        raise DecryptionError("not an encrypted object of this application (bad header or version)")
    (wrapped_length,) = _HEADER.unpack_from(blob, len(_PREFIX))
    start = len(_PREFIX) + _HEADER.size
    nonce_start = start + wrapped_length
    payload_start = nonce_start + _NONCE_BYTES
    if len(blob) < payload_start + 16:
        raise DecryptionError("the encrypted object is truncated")
    return blob[start:nonce_start], blob[nonce_start:payload_start], blob[payload_start:]


def _configured_keys() -> list[str]:
    from django.conf import settings

    configured = getattr(settings, ENV_VAR, None)
    if configured:
        return parse_master_keys(configured)
    dev_key_file = settings.PROTAGONIST_DEV_KEY_FILE
    if dev_key_file is None:
        base = Path(getattr(settings, "PROTAGONIST_DATA_DIR", None) or Path.cwd() / "var")
        dev_key_file = base / "dev-master-key"
    return load_master_keys(env_value=os.environ.get(ENV_VAR), dev_key_path=Path(dev_key_file))


@lru_cache(maxsize=1)
def get_keyring() -> Keyring:
    """The process-wide keyring from settings/environment (cached; `reset_keyring` after changing keys)."""
    return Keyring(_configured_keys())


def reset_keyring() -> None:
    """Forget the cached keyring so the next call re-reads the keys (tests, settings changes)."""
    get_keyring.cache_clear()


def encrypt(plaintext: bytes, aad: bytes) -> bytes:
    """Encrypt with the configured keys; see `Keyring.encrypt`."""
    return get_keyring().encrypt(plaintext, aad)


def decrypt(blob: bytes, aad: bytes) -> bytes:
    """Decrypt with the configured keys; see `Keyring.decrypt`."""
    return get_keyring().decrypt(blob, aad)
