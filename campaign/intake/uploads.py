"""Turn an untrusted photo upload into a clean JPEG, or refuse it with a specific code.

What the web request guarantees before anything is stored (and why):

- **Size limits first** (bytes before reading, pixels from the header before decoding): a 20,000 x 20,000
  PNG is 60 KB on the wire and 1.2 GB in memory, so the pixel count is checked before any decode, against
  a cap a phone photo needs (``MAX_PHOTO_PIXELS``, 30 MP); Pillow's ``MAX_IMAGE_PIXELS`` is the same cap.
- **Bounded decoding**: at most ``PHOTO_DECODE_CONCURRENCY`` photos decode at once per process (a
  semaphore; a request that waits more than ``PHOTO_DECODE_WAIT_S`` for a slot gets 503 ``busy``), so
  a burst of large images costs bounded memory and leaves API threads for everyone else.
- **Content is decided by decoding**, never by file name or the client's content type, and only with the
  Pillow plugins a phone photo needs (JPEG/MPO, PNG, WebP, HEIF/HEIC via pillow-heif): fewer parsers,
  fewer parser bugs reachable from the internet.
- **Animated or multi-frame images are refused** (which frame would be "the face"?); truncated or corrupt
  files are refused (Pillow's ``LOAD_TRUNCATED_IMAGES`` must stay off).
- **No metadata survives**: EXIF (GPS, camera serial, time), XMP, IPTC, ICC profiles, JPEG comments,
  embedded thumbnails and data after the end of the image. EXIF orientation is applied to the pixels
  first and colour profiles are converted to sRGB, so dropping them changes nothing visible.
- The result is a baseline JPEG no larger than `UploadLimits.max_edge` on its long side.

Two paths, one contract. The **fast path** handles what most phones and the H5 page send (a JPEG already
upright, sRGB, small enough): it rebuilds the file from its image segments only (tables, frame, scans),
dropping every metadata segment, and proves the result decodes with libjpeg's 1/8-scale decode (all
entropy data is read, only the inverse DCT is cheaper). That is lossless and ~3x cheaper than the
**full path** (decode, orient, colour-convert, downscale, re-encode), which everything else takes.
"""

from __future__ import annotations

import io
import re
import struct
import threading
import warnings
from dataclasses import dataclass, field
from typing import IO

from PIL import Image, ImageCms, ImageFile, ImageOps, UnidentifiedImageError

from campaign.errors import PhotoInvalid, ServiceBusy
from swap import thresholds as engine_thresholds

# Plugins Pillow may use for uploads. The JPEG plugin also opens phone JPEGs that carry a second picture
# (preview/depth) after the main one as format "MPO"; only the primary picture is used.
ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP", "HEIF")
_JPEG_QUALITY = 90


class UploadRejected(PhotoInvalid):
    """A refused upload: `code` for machines, `detail` for the visitor, `status` for the HTTP answer.

    A `PhotoInvalid`, so the API's error handler answers ``{"code", "detail"}`` with `status` as is.
    """

    def __init__(self, code: str, detail: str, status: int = 400) -> None:
        super().__init__(detail, code=code, status=status)

    def __str__(self) -> str:
        return self.detail


@dataclass(frozen=True)
class UploadLimits:
    """Configurable limits (settings ``MAX_PHOTO_BYTES``, ``MAX_PHOTO_PIXELS``, ``PHOTO_MAX_EDGE``,
    ``PHOTO_MIN_EDGE``); the defaults suit phone photos."""

    max_bytes: int = 20 * 1024 * 1024
    max_pixels: int = 30_000_000
    max_edge: int = engine_thresholds.MAX_ANALYSIS_SIDE
    min_edge: int = engine_thresholds.MIN_IMAGE_SIDE

    @classmethod
    def from_settings(cls) -> UploadLimits:
        from django.conf import settings

        default = cls()
        return cls(
            max_bytes=int(settings.MAX_PHOTO_BYTES),
            max_pixels=int(settings.MAX_PHOTO_PIXELS),
            max_edge=int(settings.PHOTO_MAX_EDGE),
            min_edge=int(getattr(settings, "PHOTO_MIN_EDGE", default.min_edge)),
        )


@dataclass(frozen=True)
class SanitizedPhoto:
    """A metadata-free, upright, sRGB baseline JPEG ready to be encrypted and stored."""

    jpeg_bytes: bytes
    width: int
    height: int


def _register_heif() -> bool:
    try:
        import pillow_heif
    except ImportError:  # pragma: no cover - pillow-heif is a declared dependency
        return False
    pillow_heif.register_heif_opener()
    return True


_HEIF_AVAILABLE = _register_heif()
Image.init()  # register every plugin now: `formats=` only looks up what is already registered (MPO is not)


def _pillow_bomb_limit() -> int:
    try:
        from django.conf import settings

        return int(settings.MAX_PHOTO_PIXELS)
    except Exception:  # imported without Django settings (engine tools): the default
        return UploadLimits.max_pixels


# Pillow's own bomb guard (it errors at twice this) as a second line behind our header check.
Image.MAX_IMAGE_PIXELS = _pillow_bomb_limit()


# ------------------------------------------------------------------------------------ decode slots

_slots_lock = threading.Lock()
_slots: tuple[int, threading.BoundedSemaphore] | None = None


def _decode_slots() -> threading.BoundedSemaphore:
    """The process's decode semaphore, sized from ``PHOTO_DECODE_CONCURRENCY`` (rebuilt if it changes)."""
    global _slots
    from django.conf import settings

    size = max(1, int(settings.PHOTO_DECODE_CONCURRENCY))
    with _slots_lock:
        if _slots is None or _slots[0] != size:
            _slots = (size, threading.BoundedSemaphore(size))
        return _slots[1]


def _decoding_busy() -> ServiceBusy:
    return ServiceBusy(
        "Many photos are being checked right now: we will try again automatically in a moment.",
        retry_after_s=5,
    )


# ---------------------------------------------------------------------------------------------- refusals


def _empty() -> UploadRejected:
    return UploadRejected("empty_file", "The uploaded file is empty: choose a photo and try again.", 400)


def _too_many_bytes(limits: UploadLimits) -> UploadRejected:
    return UploadRejected(
        "file_too_large",
        f"The photo is larger than {limits.max_bytes // (1024 * 1024)} MB: upload a normal phone photo "
        "or a smaller copy.",
        413,
    )


def _too_many_pixels(width: int, height: int, limits: UploadLimits) -> UploadRejected:
    size = f"{width} x {height} pixels" if width and height else "too many pixels"
    return UploadRejected(
        "image_too_large",
        f"The picture is {size}, more than {limits.max_pixels / 1_000_000:g} megapixels: "
        "upload a normal phone photo.",
        413,
    )


def _not_an_image() -> UploadRejected:
    return UploadRejected(
        "not_an_image",
        "This file is not a photo we can read: upload a JPEG, PNG, WebP or HEIC picture.",
        415,
    )


def _unsupported(format_name: str) -> UploadRejected:
    return UploadRejected(
        "unsupported_format",
        f"{format_name} pictures are not accepted: upload a JPEG, PNG, WebP or HEIC photo.",
        415,
    )


def _animated() -> UploadRejected:
    return UploadRejected(
        "animated_image",
        "This is an animation or a picture with several frames: upload one still photo of your face.",
        400,
    )


def _corrupt() -> UploadRejected:
    return UploadRejected(
        "corrupt_image",
        "The photo is damaged or incomplete (perhaps the upload was cut off): take or pick it again.",
        400,
    )


def _too_small(width: int, height: int, limits: UploadLimits) -> UploadRejected:
    return UploadRejected(
        "image_too_small",
        f"The picture is only {width} x {height} pixels; it needs at least {limits.min_edge} pixels on each "
        "side: upload the original photo, not a thumbnail.",
        400,
    )


# ------------------------------------------------------------------------------------------------ entry


def read_upload(uploaded_file: bytes | bytearray | memoryview | IO[bytes], limits: UploadLimits) -> bytes:
    """The upload's bytes, refusing oversize files before reading them whole (Django has no per-file cap)."""
    if isinstance(uploaded_file, bytes | bytearray | memoryview):
        data = bytes(uploaded_file)
    else:
        declared = getattr(uploaded_file, "size", None)
        if isinstance(declared, int) and declared > limits.max_bytes:
            raise _too_many_bytes(limits)
        handle: IO[bytes] = uploaded_file
        if hasattr(handle, "seek"):
            handle.seek(0)
        data = handle.read(limits.max_bytes + 1)
    if not data:
        raise _empty()
    if len(data) > limits.max_bytes:
        raise _too_many_bytes(limits)
    return data


def sanitize_upload(
    uploaded_file: bytes | bytearray | memoryview | IO[bytes], limits: UploadLimits | None = None
) -> SanitizedPhoto:
    """Check, clean and normalise one uploaded photo; raises `UploadRejected` with a specific code.

    `uploaded_file` is a Django ``UploadedFile``, any binary file object, or bytes.
    """
    from django.conf import settings

    limits = limits or UploadLimits.from_settings()
    data = read_upload(uploaded_file, limits)
    _refuse_by_header(data, limits)  # cheap refusals first, outside the decode slots
    slots = _decode_slots()
    if not slots.acquire(timeout=float(settings.PHOTO_DECODE_WAIT_S)):
        raise _decoding_busy()
    try:
        if data[:3] == b"\xff\xd8\xff":
            fast = _fast_jpeg(data, limits)
            if fast is not None:
                return fast
        return _full_path(data, limits)
    finally:
        slots.release()


def _refuse_by_header(data: bytes, limits: UploadLimits) -> None:
    """Refuse too many pixels from the image header alone (no pixel is decoded: Pillow's `open` is lazy)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS) as image:
                width, height = image.size
        except Image.DecompressionBombError:
            raise _too_many_pixels(0, 0, limits) from None
        except Exception:  # an unreadable header gets its precise refusal from the decode path
            return
    if width * height > limits.max_pixels:
        raise _too_many_pixels(width, height, limits)


# -------------------------------------------------------------------------------------- JPEG fast path

# Markers kept when a JPEG is rebuilt: quantisation and Huffman tables, restart interval, arithmetic
# coding conditioning, number of lines, the frame header and the scans. Everything else (APP0-APP15
# except a bare Adobe colour-transform marker, COM, unknown markers) is metadata and is dropped.
_SOF_BASELINE_OR_PROGRESSIVE = {0xC0, 0xC1, 0xC2}
_KEEP = {0xDB, 0xC4, 0xDD, 0xCC, 0xDC} | _SOF_BASELINE_OR_PROGRESSIVE
_ENTROPY_END = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
# A minimal JFIF APP0 (version 1.01, aspect 1:1, no thumbnail) so that every decoder reads YCbCr.
_JFIF = b"\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
_SRGB_NAMES = ("srgb", "iec61966-2.1", "iec 61966-2-1")


@dataclass
class _JpegScan:
    segments: list[bytes]
    width: int
    height: int
    components: int
    orientation: int
    icc: bytes
    adobe: bool


def _parse_jpeg(data: bytes) -> _JpegScan | None:
    """Split a JPEG into its segments; None when the layout is anything but plain (the full path decides)."""
    walk = _JpegWalk()
    pos = 2
    while pos < len(data):
        found = _read_marker(data, pos)
        if found is None:
            return None
        marker, pos = found
        if marker == 0xD9:  # EOI: anything after it (MPF pictures, vendor trailers) is dropped
            return walk.result()
        end = _segment_end(data, pos)
        if end is None:
            return None
        next_pos = walk.take(marker, data, pos, end)
        if next_pos is None:
            return None
        pos = next_pos
    return None  # ran off the end without EOI: truncated


def _read_marker(data: bytes, pos: int) -> tuple[int, int] | None:
    """The marker at `pos` (after any fill bytes) and the position after it; None when there is none."""
    if data[pos] != 0xFF:
        return None
    while pos < len(data) and data[pos] == 0xFF:  # fill bytes
        pos += 1
    if pos >= len(data):
        return None
    return data[pos], pos + 1


def _segment_end(data: bytes, pos: int) -> int | None:
    """The end of the segment whose length field starts at `pos`; None when it does not fit."""
    if pos + 2 > len(data):
        return None
    (length,) = struct.unpack_from(">H", data, pos)
    if length < 2 or pos + length > len(data):
        return None
    return pos + length


@dataclass
class _JpegWalk:
    """What `_parse_jpeg` has gathered so far, segment by segment."""

    segments: list[bytes] = field(default_factory=list)
    width: int = 0
    height: int = 0
    components: int = 0
    orientation: int = 1
    icc_parts: list[bytes] = field(default_factory=list)
    adobe: bool = False
    seen_sof: bool = False
    seen_sos: bool = False

    def take(self, marker: int, data: bytes, pos: int, end: int) -> int | None:
        """Keep, read or drop the segment `data[pos - 2 : end]`; where to go on, None to refuse."""
        body = data[pos + 2 : end]
        segment = data[pos - 2 : end]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return end if self._frame(marker, body, segment) else None
        if marker == 0xDA:
            return self._scan(data, end, segment)
        if marker == 0xE1 and body.startswith(b"Exif\x00\x00"):
            self.orientation = _exif_orientation(body[6:])
        elif marker == 0xE2 and body.startswith(b"ICC_PROFILE\x00"):
            self.icc_parts.append(body[14:])
        elif marker == 0xEE and body.startswith(b"Adobe") and len(body) == 12:
            self.adobe = True
            self.segments.append(segment)
        elif marker in _KEEP:
            self.segments.append(segment)
        elif 0xD0 <= marker <= 0xD7 or marker == 0x01:
            return None
        return end

    def _frame(self, marker: int, body: bytes, segment: bytes) -> bool:
        if marker not in _SOF_BASELINE_OR_PROGRESSIVE or self.seen_sof or len(body) < 6:
            return False  # lossless/hierarchical/arithmetic or several frames: not for the fast path
        self.height, self.width = struct.unpack_from(">HH", body, 1)
        self.components = body[5]
        self.seen_sof = True
        self.segments.append(segment)
        return True

    def _scan(self, data: bytes, pos: int, segment: bytes) -> int | None:
        """A scan header at `pos` and its entropy-coded data, up to the next marker."""
        if not self.seen_sof:
            return None
        match = _ENTROPY_END.search(data, pos)
        if match is None:
            return None  # scan runs to the end of the file: truncated
        self.segments.append(segment + data[pos : match.start()])
        self.seen_sos = True
        return match.start()

    def result(self) -> _JpegScan | None:
        if not (self.seen_sof and self.seen_sos):
            return None
        icc = b"".join(self.icc_parts)
        return _JpegScan(
            self.segments, self.width, self.height, self.components, self.orientation, icc, self.adobe
        )


def _exif_orientation(tiff: bytes) -> int:
    """The EXIF orientation tag (1..8), or 0 when the EXIF block cannot be read (full path decides)."""
    if len(tiff) < 8 or tiff[:2] not in (b"II", b"MM"):
        return 0
    endian = "<" if tiff[:2] == b"II" else ">"
    (ifd,) = struct.unpack_from(endian + "I", tiff, 4)
    if ifd + 2 > len(tiff):
        return 0
    (count,) = struct.unpack_from(endian + "H", tiff, ifd)
    for index in range(count):
        entry = ifd + 2 + 12 * index
        if entry + 12 > len(tiff):
            return 0
        tag, kind = struct.unpack_from(endian + "HH", tiff, entry)
        if tag == 0x0112:
            if kind != 3:
                return 0
            (value,) = struct.unpack_from(endian + "H", tiff, entry + 8)
            return value if 1 <= value <= 8 else 0
    return 1


def _is_srgb(icc: bytes) -> bool:
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        description = ImageCms.getProfileDescription(profile).lower()
    except (ImageCms.PyCMSError, OSError, ValueError):
        return False
    return any(name in description for name in _SRGB_NAMES)


def _fast_jpeg(data: bytes, limits: UploadLimits) -> SanitizedPhoto | None:
    scan = _parse_jpeg(data)
    if scan is None:
        return None
    if scan.width * scan.height > limits.max_pixels:
        raise _too_many_pixels(scan.width, scan.height, limits)
    if (
        scan.orientation != 1
        or scan.components not in (1, 3)
        or scan.adobe
        or max(scan.width, scan.height) > limits.max_edge
        or min(scan.width, scan.height) < limits.min_edge
        or (scan.icc and not _is_srgb(scan.icc))
    ):
        return None
    rebuilt = b"".join((b"\xff\xd8", _JFIF, *scan.segments, b"\xff\xd9"))
    try:
        with Image.open(io.BytesIO(rebuilt), formats=("JPEG",)) as image:
            if image.size != (scan.width, scan.height):
                return None
            image.draft(image.mode, (max(1, scan.width // 8), max(1, scan.height // 8)))
            image.load()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return None  # the full path gives the precise refusal
    return SanitizedPhoto(rebuilt, scan.width, scan.height)


# ------------------------------------------------------------------------------------------- full path


def _open(data: bytes, limits: UploadLimits) -> Image.Image:
    with warnings.catch_warnings():
        # Our own pixel limit decides; Pillow's bomb warning would only be noise (and its error is caught).
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
        except Image.DecompressionBombError:
            raise _too_many_pixels(0, 0, limits) from None
        except UnidentifiedImageError:
            image = None
        except (OSError, SyntaxError, ValueError, struct.error, EOFError, IndexError, TypeError):
            # A known format's header that its parser cannot make sense of.
            raise _corrupt() from None
    if image is None:
        other = _other_image_format(data)
        raise _unsupported(other) if other else _not_an_image()
    return image


# Signatures of image formats we refuse by name (a clearer message than "not an image"). Recognised by
# their magic bytes only: no other Pillow parser ever sees the upload.
_OTHER_FORMATS = (
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"8BPS", "Photoshop"),
    (b"\x00\x00\x00\x0cjP  ", "JPEG 2000"),
    (b"\xff\x4f\xff\x51", "JPEG 2000"),
    (b"\x00\x00\x01\x00", "Icon"),
)


def _other_image_format(data: bytes) -> str | None:
    for magic, name in _OTHER_FORMATS:
        if data.startswith(magic):
            return name
    if data[4:12] in (b"ftypavif", b"ftypavis"):
        return "AVIF"
    return None


def _frame_count(image: Image.Image) -> int:
    if image.format == "MPO":
        return 1  # the primary picture; the others are previews or depth maps, not frames
    try:
        return int(getattr(image, "n_frames", 1))
    except (OSError, SyntaxError, ValueError, struct.error, EOFError):
        raise _corrupt() from None


def _to_rgb(image: Image.Image) -> Image.Image:
    """RGB pixels: transparency composited onto white, 16-bit and float greys scaled, CMYK converted."""
    mode = image.mode
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if mode.startswith("I;16") or mode in ("I", "F"):
        import numpy as np

        values = np.asarray(image, dtype=np.float32)
        peak = 65535.0 if mode.startswith("I;16") or values.max(initial=0) > 255 else 255.0
        grey = np.clip(values * (255.0 / peak), 0, 255).astype(np.uint8)
        return Image.fromarray(grey).convert("RGB")
    return image if mode == "RGB" else image.convert("RGB")


def _to_srgb(image: Image.Image, icc: bytes | None) -> Image.Image:
    if not icc:
        return image
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if source.profile.xcolor_space.strip() != image.mode.replace("RGBA", "RGB").strip():
            return image  # profile for another colour space than the pixels: ignore it
        converted = ImageCms.profileToProfile(image, source, ImageCms.createProfile("sRGB"), outputMode="RGB")
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return image  # an unreadable profile is dropped, not fatal: the pixels are still a photo
    return converted if converted is not None else image


def _full_path(data: bytes, limits: UploadLimits) -> SanitizedPhoto:
    image = _open(data, limits)
    with image:
        width, height = image.size
        if width * height > limits.max_pixels:
            raise _too_many_pixels(width, height, limits)
        if width <= 0 or height <= 0:
            raise _corrupt()
        if _frame_count(image) > 1:
            raise _animated()
        if image.format in ("JPEG", "MPO") and max(width, height) > limits.max_edge:
            # Decode at the smallest DCT scale that still covers the target size: a 12 MP phone photo
            # costs a quarter of the work.
            scale = limits.max_edge / max(width, height)
            image.draft(image.mode, (max(1, int(width * scale)), max(1, int(height * scale))))
        icc = image.info.get("icc_profile")
        try:
            image.load()
            oriented = ImageOps.exif_transpose(image)
        except (
            OSError,
            SyntaxError,
            ValueError,
            struct.error,
            EOFError,
            IndexError,
            TypeError,
            ZeroDivisionError,
        ):
            raise _corrupt() from None
        except Image.DecompressionBombError:
            raise _too_many_pixels(width, height, limits) from None
        if oriented is None:  # pragma: no cover - only with in_place=True
            oriented = image
        if oriented.mode in ("RGB", "CMYK", "L"):
            oriented = _to_srgb(oriented, icc)
        rgb = _to_rgb(oriented)
    out_width, out_height = rgb.size
    if min(out_width, out_height) < limits.min_edge:
        raise _too_small(out_width, out_height, limits)
    if max(out_width, out_height) > limits.max_edge:
        scale = limits.max_edge / max(out_width, out_height)
        size = (max(1, round(out_width * scale)), max(1, round(out_height * scale)))
        rgb = rgb.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
        out_width, out_height = rgb.size
    # A fresh image from raw pixels carries no `info` (EXIF, XMP, ICC, comment, dpi) into the encoder.
    clean = Image.frombytes("RGB", rgb.size, rgb.tobytes())
    buffer = io.BytesIO()
    clean.save(buffer, "JPEG", quality=_JPEG_QUALITY, optimize=False, progressive=False)
    return SanitizedPhoto(buffer.getvalue(), out_width, out_height)


def _loading_truncated_images_is_off() -> bool:
    """Refusing truncated files relies on Pillow's default; a test asserts nobody flipped it."""
    return not ImageFile.LOAD_TRUNCATED_IMAGES
