"""Uploads that are cheap to send and dear to decode are refused from their header, and decoding is
bounded: a 7000 x 7000 PNG of ~150 KB (under the old 50 MP cap) stalled the API for seconds each."""

from __future__ import annotations

import io
import time
import zlib
from typing import Any

import pytest
from PIL import Image

from campaign.errors import ServiceBusy
from campaign.intake.uploads import UploadLimits, UploadRejected, _decode_slots, sanitize_upload


def _flat_png(width: int, height: int) -> bytes:
    """A valid PNG of one colour: tiny on the wire, width x height x 3 bytes once decoded."""
    import struct

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" + b"\x80" * (width * 3)
    compressor = zlib.compressobj(9)
    body = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


BIG_PNG = _flat_png(7000, 7000)


def test_a_7000_square_png_is_refused_from_its_header_in_milliseconds() -> None:
    started = time.perf_counter()
    with pytest.raises(UploadRejected) as refused:
        sanitize_upload(BIG_PNG, UploadLimits())
    elapsed = time.perf_counter() - started

    assert len(BIG_PNG) < 400_000
    assert (refused.value.code, refused.value.status) == ("image_too_large", 413)
    assert "7000 x 7000 pixels, more than 30 megapixels" in refused.value.detail
    assert elapsed < 0.5  # decoding it took 5-9.5 s


def test_the_default_pixel_cap_is_what_a_phone_photo_needs(settings: Any) -> None:
    assert UploadLimits.from_settings().max_pixels == settings.MAX_PHOTO_PIXELS == 30_000_000
    assert Image.MAX_IMAGE_PIXELS == 30_000_000  # Pillow's own guard behind ours


def test_a_decode_waits_for_a_slot_and_gives_up_with_503_busy(settings: Any) -> None:
    settings.PHOTO_DECODE_CONCURRENCY = 1
    settings.PHOTO_DECODE_WAIT_S = 0.2
    photo = io.BytesIO()
    Image.new("RGB", (640, 480), (90, 120, 150)).save(photo, "PNG")
    slots = _decode_slots()

    assert slots.acquire(timeout=1)  # another request is decoding
    try:
        with pytest.raises(ServiceBusy) as busy:
            sanitize_upload(photo.getvalue(), UploadLimits(max_edge=1024, min_edge=200))
    finally:
        slots.release()

    assert (busy.value.code, busy.value.status, busy.value.retry_after_s) == ("busy", 503, 5)
    assert sanitize_upload(photo.getvalue(), UploadLimits(max_edge=1024, min_edge=200)).width == 640
