"""Upload hardening: every malformed class has its code, metadata never survives, nothing crashes."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pillow_heif
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageCms

from campaign.intake.uploads import (
    SanitizedPhoto,
    UploadLimits,
    UploadRejected,
    _loading_truncated_images_is_off,
    sanitize_upload,
)

LIMITS = UploadLimits(max_bytes=2_000_000, max_pixels=6_000_000, max_edge=1024, min_edge=200)

SECRET_COMMENT = b"visitor-secret-comment-4711"
XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    b"<rdf:Description>PhotographerName=Alice</rdf:Description></rdf:RDF></x:xmpmeta>"
)


def _face_like_rgb(width: int = 400, height: int = 300) -> np.ndarray:
    """Left half red, right half blue, a gradient on top: orientation and colour are easy to check."""
    rgb = np.zeros((height, width, 3), np.uint8)
    rgb[:, : width // 2] = (220, 30, 30)
    rgb[:, width // 2 :] = (30, 30, 220)
    rgb[..., 1] = np.linspace(0, 120, width, dtype=np.uint8)[None, :]
    return rgb


def _exif_with_gps(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "SecretCameraMaker"
    exif[0x8825] = {1: "N", 2: (52.0, 31.0, 12.0), 3: "E", 4: (13.0, 24.0, 36.0)}  # GPS IFD
    return exif


def _jpeg(rgb: np.ndarray, **save_args: object) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "JPEG", quality=92, **save_args)
    return buffer.getvalue()


def _display_p3_like_profile() -> bytes:
    # A non-sRGB RGB profile (Adobe-like primaries via LAB round trip is overkill): a D50 LAB-based
    # profile is not RGB, so use a built-in sRGB profile renamed to look foreign.
    profile = ImageCms.createProfile("sRGB")
    profile_bytes = ImageCms.ImageCmsProfile(profile).tobytes()
    return profile_bytes.replace(b"sRGB", b"XXXX")


def _assert_metadata_free(photo: SanitizedPhoto) -> None:
    raw = photo.jpeg_bytes
    assert raw[:2] == b"\xff\xd8" and raw.endswith(b"\xff\xd9")
    assert b"Exif" not in raw
    assert b"SecretCameraMaker" not in raw
    assert b"http://ns.adobe.com/xap" not in raw and b"xmpmeta" not in raw
    assert b"ICC_PROFILE" not in raw
    assert SECRET_COMMENT not in raw
    assert b"\xff\xfe" not in raw.split(b"\xff\xda", 1)[0]  # no COM segment before the first scan
    with Image.open(io.BytesIO(raw)) as image:
        assert image.format == "JPEG"
        assert (image.width, image.height) == (photo.width, photo.height)
        assert len(image.getexif()) == 0
        assert "icc_profile" not in image.info
        assert "comment" not in image.info
        assert "xmp" not in image.info


def test_every_kind_of_metadata_is_stripped_and_orientation_applied() -> None:
    upload = _jpeg(
        _face_like_rgb(),
        exif=_exif_with_gps(orientation=6),
        comment=SECRET_COMMENT,
        xmp=XMP,
        icc_profile=ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes(),
    )
    with Image.open(io.BytesIO(upload)) as original:  # the fixture really carries everything
        assert original.getexif()[0x0112] == 6 and "icc_profile" in original.info
        assert original.info["comment"] == SECRET_COMMENT and "xmp" in original.info

    photo = sanitize_upload(upload, LIMITS)

    _assert_metadata_free(photo)
    # Orientation 6 means "rotate 90 degrees clockwise to display": the red left half ends up on top.
    assert (photo.width, photo.height) == (300, 400)
    pixels = np.asarray(Image.open(io.BytesIO(photo.jpeg_bytes)).convert("RGB")).astype(int)
    assert pixels[50, 150, 0] > 180 and pixels[50, 150, 2] < 80
    assert pixels[350, 150, 2] > 180 and pixels[350, 150, 0] < 80


def test_upright_srgb_jpeg_is_cleaned_losslessly() -> None:
    rgb = _face_like_rgb()
    upload = _jpeg(rgb, exif=_exif_with_gps(orientation=1), comment=SECRET_COMMENT, xmp=XMP)

    photo = sanitize_upload(upload, LIMITS)

    _assert_metadata_free(photo)
    before = np.asarray(Image.open(io.BytesIO(upload)).convert("RGB"))
    after = np.asarray(Image.open(io.BytesIO(photo.jpeg_bytes)).convert("RGB"))
    assert np.array_equal(before, after)  # the same scans, no re-encoding generation loss


def test_data_after_the_end_of_the_jpeg_is_dropped() -> None:
    upload = _jpeg(_face_like_rgb()) + b"\xff\xd8TRAILING-SECOND-PICTURE-WITH-GPS\xff\xd9"

    photo = sanitize_upload(upload, LIMITS)

    assert b"TRAILING-SECOND-PICTURE" not in photo.jpeg_bytes


def test_foreign_colour_profile_is_converted_then_dropped() -> None:
    upload = _jpeg(_face_like_rgb(), icc_profile=_display_p3_like_profile())

    photo = sanitize_upload(upload, LIMITS)

    _assert_metadata_free(photo)
    assert (photo.width, photo.height) == (400, 300)


def test_large_photo_is_downscaled_to_the_maximum_edge() -> None:
    upload = _jpeg(_face_like_rgb(2400, 1600))

    photo = sanitize_upload(upload, LIMITS)

    assert (photo.width, photo.height) == (1024, 683)
    _assert_metadata_free(photo)


def test_png_with_transparency_becomes_an_opaque_jpeg() -> None:
    rgba = np.dstack([_face_like_rgb(), np.full((300, 400), 128, np.uint8)])
    buffer = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buffer, "PNG")

    photo = sanitize_upload(buffer.getvalue(), LIMITS)

    assert (photo.width, photo.height) == (400, 300)
    assert Image.open(io.BytesIO(photo.jpeg_bytes)).mode == "RGB"


def test_iphone_heic_is_accepted_and_oriented() -> None:
    pillow_heif.register_heif_opener()
    buffer = io.BytesIO()
    Image.fromarray(_face_like_rgb()).save(buffer, "HEIF", quality=90, exif=_exif_with_gps(1).tobytes())

    photo = sanitize_upload(buffer.getvalue(), LIMITS)

    _assert_metadata_free(photo)
    assert (photo.width, photo.height) == (400, 300)


def _refusal(upload: bytes, limits: UploadLimits = LIMITS) -> UploadRejected:
    with pytest.raises(UploadRejected) as caught:
        sanitize_upload(upload, limits)
    return caught.value


def _png(width: int, height: int, mode: str = "L") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, (width, height)).save(buffer, "PNG")
    return buffer.getvalue()


def _png_bomb(width: int, height: int) -> bytes:
    """A few hundred bytes that declare width x height pixels (zeros compress ~1000:1)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 100_000, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _other(format_name: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (300, 300), (10, 200, 10)).save(buffer, format_name)
    return buffer.getvalue()


def _animated(format_name: str) -> bytes:
    frames = [Image.new("RGB", (300, 300), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    buffer = io.BytesIO()
    frames[0].save(buffer, format_name, save_all=True, append_images=frames[1:], duration=100, loop=0)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("upload", "code", "status"),
    [
        pytest.param(b"", "empty_file", 400, id="empty"),
        pytest.param(b"x" * 2_000_001, "file_too_large", 413, id="too-many-bytes"),
        pytest.param(_png(3000, 2500), "image_too_large", 413, id="too-many-pixels"),
        pytest.param(_png_bomb(4000, 4000), "image_too_large", 413, id="bomb-under-pillow-limit"),
        pytest.param(_png_bomb(100_000, 100_000), "image_too_large", 413, id="bomb-100k-square"),
        pytest.param(b"%PDF-1.7 not a photo at all", "not_an_image", 415, id="pdf"),
        pytest.param(b"<svg xmlns='http://www.w3.org/2000/svg'/>", "not_an_image", 415, id="svg"),
        pytest.param(_png(300, 300)[:-40], "corrupt_image", 400, id="truncated-png"),
        pytest.param(_jpeg(_face_like_rgb())[:3000], "corrupt_image", 400, id="truncated-jpeg"),
        pytest.param(_animated("WEBP"), "animated_image", 400, id="animated-webp"),
        pytest.param(_animated("PNG"), "animated_image", 400, id="apng"),
        pytest.param(_animated("GIF"), "unsupported_format", 415, id="gif"),
        pytest.param(_other("BMP"), "unsupported_format", 415, id="bmp"),
        pytest.param(_other("TIFF"), "unsupported_format", 415, id="tiff"),
        pytest.param(_png(150, 400), "image_too_small", 400, id="thumbnail"),
    ],
)
def test_malformed_upload_is_refused_with_its_code(upload: bytes, code: str, status: int) -> None:
    refusal = _refusal(upload)

    assert (refusal.code, refusal.status) == (code, status)
    assert refusal.detail  # a sentence for the visitor, never empty


def test_oversize_django_upload_is_refused_before_reading() -> None:
    class HugeUpload(io.BytesIO):
        size = 3_000_000

        def read(self, *args: object) -> bytes:  # pragma: no cover - must not be called
            raise AssertionError("the body of an oversize upload must not be read")

    assert _refusal(HugeUpload()).code == "file_too_large"  # type: ignore[arg-type]


def test_pillow_keeps_refusing_truncated_files() -> None:
    assert _loading_truncated_images_is_off()


_SEED_JPEG = _jpeg(_face_like_rgb(), exif=_exif_with_gps(orientation=3), comment=SECRET_COMMENT)
_SEED_PNG = _png(256, 256, "RGB")


def _assert_clean_result_or_refusal(upload: bytes) -> None:
    try:
        photo = sanitize_upload(upload, LIMITS)
    except UploadRejected as refusal:
        assert refusal.status in (400, 413, 415) and refusal.code
        return
    with Image.open(io.BytesIO(photo.jpeg_bytes)) as image:
        image.load()
        assert image.size == (photo.width, photo.height)
        assert max(image.size) <= LIMITS.max_edge and min(image.size) >= LIMITS.min_edge
    assert b"Exif" not in photo.jpeg_bytes and SECRET_COMMENT not in photo.jpeg_bytes


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4096))
def test_random_bytes_never_crash_the_sanitiser(upload: bytes) -> None:
    _assert_clean_result_or_refusal(upload)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.sampled_from([_SEED_JPEG, _SEED_PNG]),
    edits=st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), min_size=1, max_size=8),
    cut=st.one_of(st.none(), st.floats(0, 1)),
)
def test_mutated_real_images_never_crash_the_sanitiser(
    seed: bytes, edits: list[tuple[float, int]], cut: float | None
) -> None:
    mutated = bytearray(seed)
    for where, value in edits:
        mutated[min(len(mutated) - 1, int(where * len(mutated)))] = value
    if cut is not None:
        mutated = mutated[: int(cut * len(mutated))]
    _assert_clean_result_or_refusal(bytes(mutated))
