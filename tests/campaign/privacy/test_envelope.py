"""Encryption at rest: ciphertext hides the photo, only the right key and context decrypt, rotation works."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from campaign.privacy.envelope import (
    DecryptionError,
    KeyConfigurationError,
    Keyring,
    load_master_keys,
    parse_master_keys,
)

AAD = b"uploads/3f2a9c/original.jpg|original"


@pytest.fixture(scope="module")
def photo_bytes() -> bytes:
    # A real JPEG: its JFIF header and quantisation tables are recognisable byte strings.
    import io

    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(7)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def test_ciphertext_contains_nothing_of_the_jpeg(photo_bytes: bytes) -> None:
    blob = Keyring([Fernet.generate_key()]).encrypt(photo_bytes, AAD)

    assert b"JFIF" not in blob and b"\xff\xd8\xff" not in blob
    windows = {photo_bytes[i : i + 16] for i in range(0, len(photo_bytes) - 16, 16)}
    assert not any(window in blob for window in windows)


def test_right_key_and_context_decrypt(photo_bytes: bytes) -> None:
    key = Fernet.generate_key()
    blob = Keyring([key]).encrypt(photo_bytes, AAD)

    assert Keyring([key]).decrypt(blob, AAD) == photo_bytes


def test_wrong_key_does_not_decrypt(photo_bytes: bytes) -> None:
    blob = Keyring([Fernet.generate_key()]).encrypt(photo_bytes, AAD)

    with pytest.raises(DecryptionError):
        Keyring([Fernet.generate_key()]).decrypt(blob, AAD)


def test_blob_moved_to_another_object_does_not_decrypt(photo_bytes: bytes) -> None:
    keyring = Keyring([Fernet.generate_key()])
    blob = keyring.encrypt(photo_bytes, AAD)

    with pytest.raises(DecryptionError):
        keyring.decrypt(blob, b"uploads/other-job/original.jpg|original")


@pytest.mark.parametrize("where", ["header", "wrapped-key", "nonce", "ciphertext", "tag"])
def test_tampered_ciphertext_fails(photo_bytes: bytes, where: str) -> None:
    keyring = Keyring([Fernet.generate_key()])
    blob = bytearray(keyring.encrypt(photo_bytes, AAD))
    wrapped_length = int.from_bytes(blob[4:6], "big")
    nonce_at = 6 + wrapped_length
    position = {
        "header": 1,
        "wrapped-key": 6 + wrapped_length // 2,
        "nonce": nonce_at + 3,
        "ciphertext": nonce_at + 12 + 100,
        "tag": len(blob) - 1,
    }[where]
    blob[position] ^= 0x01

    with pytest.raises(DecryptionError):
        keyring.decrypt(bytes(blob), AAD)


def test_truncated_or_foreign_blob_fails() -> None:
    keyring = Keyring([Fernet.generate_key()])
    blob = keyring.encrypt(b"face asset", AAD)

    for broken in (b"", b"PGE", blob[:40], b"\xff\xd8\xff\xe0 plain jpeg"):
        with pytest.raises(DecryptionError):
            keyring.decrypt(broken, AAD)


def test_rotation_keeps_old_data_readable_and_rewraps_without_touching_the_payload(
    photo_bytes: bytes,
) -> None:
    old_key, new_key = Fernet.generate_key(), Fernet.generate_key()
    old_blob = Keyring([old_key]).encrypt(photo_bytes, AAD)
    rotated = Keyring([new_key, old_key])

    assert rotated.decrypt(old_blob, AAD) == photo_bytes
    assert not rotated.is_current(old_blob)

    rewrapped = rotated.rewrap(old_blob)

    assert rotated.is_current(rewrapped)
    assert rewrapped[-len(photo_bytes) - 16 :] == old_blob[-len(photo_bytes) - 16 :]  # payload untouched
    assert Keyring([new_key]).decrypt(rewrapped, AAD) == photo_bytes  # old key can now be retired
    with pytest.raises(DecryptionError):
        Keyring([new_key]).decrypt(old_blob, AAD)


def test_each_object_gets_its_own_data_key_and_nonce() -> None:
    keyring = Keyring([Fernet.generate_key()])

    first, second = keyring.encrypt(b"same photo", AAD), keyring.encrypt(b"same photo", AAD)

    assert first != second
    assert first[-26:] != second[-26:]


def test_missing_keys_refuse_to_start_in_production() -> None:
    with pytest.raises(KeyConfigurationError, match="PROTAGONIST_MASTER_KEYS is not set"):
        load_master_keys(env_value="", dev_key_path=None)


@pytest.mark.parametrize("value", ["not-base64!!", "c2hvcnQ=", " , "])
def test_malformed_keys_are_explained(value: str) -> None:
    with pytest.raises(KeyConfigurationError, match="PROTAGONIST_MASTER_KEYS"):
        parse_master_keys(value)


def test_environment_keys_are_split_first_is_current() -> None:
    current, old = Fernet.generate_key().decode(), Fernet.generate_key().decode()

    assert load_master_keys(env_value=f" {current} ,{old},", dev_key_path=None) == [current, old]


def test_development_key_is_generated_once_private_and_loudly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    key_file = tmp_path / "var" / "dev-master-key"

    with caplog.at_level(logging.WARNING, logger="campaign.privacy.envelope"):
        first = load_master_keys(env_value=None, dev_key_path=key_file)
    second = load_master_keys(env_value=None, dev_key_path=key_file)

    assert first == second and len(first) == 1
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert "DEVELOPMENT master key" in caplog.text


def test_development_key_banner_is_left_to_scripts_run_when_it_said_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from campaign.privacy.envelope import DEV_KEY_NOTICE_ENV

    monkeypatch.setenv(DEV_KEY_NOTICE_ENV, "shown")  # scripts/run printed it once in its summary
    with caplog.at_level(logging.WARNING, logger="campaign.privacy.envelope"):
        keys = load_master_keys(env_value=None, dev_key_path=tmp_path / "var" / "dev-master-key")

    assert len(keys) == 1
    assert "DEVELOPMENT master key" not in caplog.text
