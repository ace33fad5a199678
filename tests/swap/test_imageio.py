"""Decoding uploads: every common format comes out upright RGB, every bad upload gets a specific code."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from swap import thresholds as th
from swap.errors import PhotoRejected
from swap.imageio import decode_image, encode_jpeg, encode_webp


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def _gradient(w: int = 320, h: int = 240) -> np.ndarray:
    """A colourful image whose orientation is unambiguous (red grows to the right, green downwards)."""
    x = np.linspace(0, 255, w)[None, :].repeat(h, 0)
    y = np.linspace(0, 255, h)[:, None].repeat(w, 1)
    return np.stack([x, y, np.full_like(x, 60)], axis=2).astype(np.uint8)


def _refusal(data: bytes) -> str:
    with pytest.raises(PhotoRejected) as exc:
        decode_image(data)
    assert exc.value.message.endswith(".")
    return exc.value.code


def test_random_bytes_are_not_an_image():
    assert (
        _refusal(np.random.default_rng(1).integers(0, 256, 5000, dtype=np.uint8).tobytes()) == "not_an_image"
    )


def test_empty_upload_is_not_an_image():
    assert _refusal(b"") == "not_an_image"


def test_a_video_file_is_not_an_image():
    # an mp4 starts with an ISO-BMFF "ftyp" box like HEIC does: the HEIF plugin must not accept it
    fake_mp4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 200
    assert _refusal(fake_mp4) == "not_an_image"


def test_truncated_jpeg_is_refused_as_damaged():
    data = encode_jpeg(_gradient(640, 480), quality=95)
    with pytest.raises(PhotoRejected) as exc:
        decode_image(data[: len(data) // 2])
    assert exc.value.code == "not_an_image"
    assert "damaged" in exc.value.message


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims a size in its header but holds (almost) no pixel data: a decompression bomb's shape."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return (
            struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
    )


def test_decompression_bomb_is_refused_from_its_header():
    # 30000 x 30000 = 900 MP: Pillow's own bomb guard fires while opening
    assert _refusal(_png_header_only(30_000, 30_000)) == "image_too_large"


def test_picture_over_the_pixel_limit_is_refused_before_decoding():
    # 9500 x 9000 = 85.5 MP: over our limit, under Pillow's guard, so our header check must catch it
    assert th.MAX_INPUT_PIXELS < 9500 * 9000
    assert _refusal(_png_header_only(9500, 9000)) == "image_too_large"


def test_absurd_strip_is_refused_as_too_large():
    assert _refusal(_png_header_only(th.MAX_INPUT_SIDE + 1, 100)) == "image_too_large"


def test_file_over_the_byte_limit_is_refused_without_decoding():
    assert _refusal(b"\xff\xd8" + bytes(th.MAX_INPUT_BYTES)) == "image_too_large"


def test_thumbnail_is_refused_as_too_small():
    code = _refusal(_png(Image.fromarray(_gradient(60, 60))))
    assert code == "image_too_small"


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_exif_orientation_is_applied(orientation):
    upright = _gradient()
    # what the camera stores: the sensor's pixels, with a tag saying how to turn them upright
    stored = {3: np.rot90(upright, 2), 6: np.rot90(upright, 1), 8: np.rot90(upright, -1)}[orientation]
    exif = Image.Exif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(stored)).save(buf, "JPEG", quality=95, exif=exif.tobytes())
    decoded = decode_image(buf.getvalue())
    assert decoded.shape == upright.shape
    assert np.abs(decoded.astype(int) - upright.astype(int)).mean() < 3


def test_heic_is_decoded():
    import pillow_heif

    src = _gradient(256, 192)
    heif = pillow_heif.from_bytes(mode="RGB", size=(256, 192), data=src.tobytes())
    buf = io.BytesIO()
    heif.save(buf, quality=90)
    data = buf.getvalue()
    assert data[4:8] == b"ftyp"
    decoded = decode_image(data)
    assert decoded.shape == (192, 256, 3)
    assert np.abs(decoded.astype(int) - src.astype(int)).mean() < 6


def test_sixteen_bit_grey_png_is_scaled_not_clipped():
    ramp = np.linspace(0, 65535, 300 * 200).reshape(200, 300).astype(np.uint16)
    decoded = decode_image(_png(Image.fromarray(ramp)))
    assert decoded.shape == (200, 300, 3) and decoded.dtype == np.uint8
    assert decoded[0, 0].tolist() == [0, 0, 0]
    assert decoded[-1, -1].tolist() == [255, 255, 255]
    assert 120 <= int(np.median(decoded)) <= 135  # mid-grey stays mid-grey (clipping would give 255)


def test_transparent_png_is_composited_over_white():
    rgba = np.zeros((200, 200, 4), np.uint8)
    rgba[:, :100] = (200, 10, 10, 255)  # opaque red half, fully transparent other half
    decoded = decode_image(_png(Image.fromarray(rgba, "RGBA")))
    assert decoded[100, 50].tolist() == [200, 10, 10]
    assert decoded[100, 150].tolist() == [255, 255, 255]


def test_cmyk_jpeg_is_converted_to_rgb():
    cmyk = Image.new("CMYK", (240, 200), (0, 255, 255, 0))  # pure red ink
    buf = io.BytesIO()
    cmyk.save(buf, "JPEG", quality=95)
    decoded = decode_image(buf.getvalue())
    assert decoded.shape == (200, 240, 3)
    r, g, b = decoded[100, 120].astype(int)
    assert r > 200 and g < 60 and b < 60


def test_palette_and_greyscale_images_become_rgb():
    grey = Image.fromarray(_gradient()[:, :, 0], "L")
    assert decode_image(_png(grey)).shape == (240, 320, 3)
    pal = Image.fromarray(_gradient()).convert("P")
    assert decode_image(_png(pal)).shape == (240, 320, 3)


def test_large_photo_is_downsized_to_the_analysis_size():
    big = encode_jpeg(
        np.repeat(_gradient(400, 100), 10, axis=0).repeat(10, axis=1), quality=80
    )  # 4000 x 1000
    decoded = decode_image(big)
    assert decoded.shape == (512, 2048, 3)
    small = decode_image(_png(Image.fromarray(_gradient(900, 300))), max_side=600)
    assert small.shape == (200, 600, 3)


def test_encoders_round_trip():
    rgb = _gradient()
    jpeg, webp = encode_jpeg(rgb, 90), encode_webp(rgb, 85)
    assert jpeg[:2] == b"\xff\xd8" and webp[8:12] == b"WEBP"
    for data in (jpeg, webp):
        back = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
        assert np.abs(back.astype(int) - rgb.astype(int)).mean() < 3
    with pytest.raises(ValueError):
        encode_jpeg(rgb[:, :, 0])
