"""The device id is the server's: signed when issued, anything else (unsigned, forged, tampered, another
purpose's signature, a retired key) does not verify; a rotation with fallbacks keeps issued ids."""

from __future__ import annotations

import secrets
from typing import Any

from django.core import signing

from campaign.intake.device import device_id_new, device_id_sign, device_id_verify


def test_issued_device_id_verifies_and_anything_else_does_not(settings: Any) -> None:
    issued = device_id_new()
    raw = issued.rsplit(":", 1)[0]

    assert device_id_verify(issued) == raw
    assert device_id_verify(raw) is None  # unsigned: made up by the client
    assert device_id_verify(f"{raw}:{'A' * 27}") is None  # forged signature
    assert device_id_verify(device_id_sign("x" * 16)[:-1] + "Q") is None  # tampered
    assert device_id_verify(signing.Signer(salt="other").sign(raw)) is None  # another purpose's signature
    assert device_id_verify("") is None and device_id_verify(None) is None
    settings.SECRET_KEY = "rotated-" + secrets.token_urlsafe(40)
    assert device_id_verify(issued) is None  # a key the server no longer has


def test_device_ids_survive_a_secret_key_rotation_with_fallbacks(settings: Any) -> None:
    issued = device_id_new()
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "rotated-" + secrets.token_urlsafe(40)

    assert device_id_verify(issued) == issued.rsplit(":", 1)[0]
