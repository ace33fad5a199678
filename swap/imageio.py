"""Decode whatever a visitor uploads into upright RGB pixels, and encode results (JPEG / WebP).

Why this is its own module: phones send JPEG with an EXIF orientation tag (pixels stored sideways),
iPhones send HEIC, screenshots are PNG with alpha, scanners give CMYK or 16-bit files. The engine
only ever wants an upright ``HxWx3`` uint8 sRGB-ish array of bounded size, and bad uploads must be
refused with a code and a sentence the visitor can act on instead of a traceback.

Memory safety: the pixel count is checked from the header *before* any pixel is decoded, so a
decompression bomb (a tiny file claiming 30 000 x 30 000 pixels) is refused without allocating it;
JPEGs are decoded with libjpeg's DCT scaling (``Image.draft``) straight to about the output size,
so a 50-megapixel phone photo never materialises at full size.
"""

from __future__ import annotations

import io
import threading

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageOps, UnidentifiedImageError

from swap import thresholds as th
from swap.errors import PhotoRejected

ImageArray = npt.NDArray[np.uint8]

_heif_lock = threading.Lock()
_heif_registered = False


def _register_heif() -> None:
    """Teach Pillow to open HEIC/HEIF (iPhone photos). Done on first need: the plugin costs import time."""
    global _heif_registered
    with _heif_lock:
        if not _heif_registered:
            import pillow_heif

            pillow_heif.register_heif_opener()
            _heif_registered = True


def _looks_like_heif(data: bytes) -> bool:
    # ISO base media file: bytes 4..8 are "ftyp", followed by a brand such as heic, heix, mif1, hevc, avif
    return len(data) >= 12 and data[4:8] == b"ftyp"


def _open(data: bytes) -> Image.Image:
    if _looks_like_heif(data):
        _register_heif()
    try:
        return Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise _too_large_pixels() from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        if not _heif_registered:
            # an unusual HEIF brand that the magic check missed: try once more with the plugin
            _register_heif()
            try:
                return Image.open(io.BytesIO(data))
            except Image.DecompressionBombError as exc2:
                raise _too_large_pixels() from exc2
            except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
                pass
        raise PhotoRejected(
            "not_an_image",
            "This file is not a photo we can read: upload a JPEG, PNG, HEIC or WebP picture.",
        ) from exc


def _too_large_pixels() -> PhotoRejected:
    return PhotoRejected(
        "image_too_large",
        f"This picture is too large (over {th.MAX_INPUT_PIXELS // 1_000_000} megapixels): "
        "upload a normal camera or phone photo.",
    )


def _to_rgb_array(img: Image.Image) -> ImageArray:
    """Any Pillow mode -> HxWx3 uint8. 16-bit and float greys are scaled, not clipped; alpha over white."""
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        if mode == "F" and arr.size and float(np.nanmax(arr)) <= 1.0:
            arr = arr * 255.0
        elif arr.size and float(np.nanmax(arr)) > 255.0:
            arr = arr / 257.0  # 16-bit range 0..65535 -> 0..255
        grey = np.clip(np.nan_to_num(arr), 0, 255).round().astype(np.uint8)
        return np.ascontiguousarray(np.repeat(grey[:, :, None], 3, axis=2))
    if mode == "P":
        img = img.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    if img.mode != "RGB":
        img = img.convert("RGB")  # L, 1, CMYK, YCbCr, LAB, HSV
    return np.ascontiguousarray(np.asarray(img, dtype=np.uint8))


def _to_srgb(img: Image.Image) -> Image.Image:
    """Convert an embedded ICC profile (Display P3 on iPhones, Adobe RGB, CMYK press profiles) to sRGB.

    Skipped silently when the profile cannot be parsed: the pixels are then used as they are, which is
    what every browser does with a broken profile too.
    """
    icc = img.info.get("icc_profile")
    if not icc or img.mode not in ("RGB", "CMYK"):
        return img
    try:
        from PIL import ImageCms

        src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        dst = ImageCms.createProfile("sRGB")
        out = ImageCms.profileToProfile(img, src, dst, outputMode="RGB")
        return out if out is not None else img
    except Exception:  # a corrupt or exotic profile must not refuse an otherwise fine photo
        return img


def decode_image(data: bytes, *, max_side: int = th.MAX_ANALYSIS_SIDE) -> ImageArray:
    """Decode an uploaded photo to an upright RGB uint8 array whose long side is at most `max_side`.

    Raises `PhotoRejected` with code ``not_an_image`` (not a readable picture, or damaged),
    ``image_too_large`` (file or pixel count beyond what a phone produces: bombs) or
    ``image_too_small`` (too few pixels for a face to be usable).
    """
    if not isinstance(data, (bytes, bytearray, memoryview)) or len(data) == 0:
        raise PhotoRejected("not_an_image", "The upload is empty: choose a photo and try again.")
    data = bytes(data)
    if len(data) > th.MAX_INPUT_BYTES:
        raise PhotoRejected(
            "image_too_large",
            f"This file is too large ({len(data) / 1e6:.0f} MB, the limit is "
            f"{th.MAX_INPUT_BYTES // 1_000_000} MB): upload a normal camera or phone photo.",
        )
    img = _open(data)
    w, h = img.size
    if w * h > th.MAX_INPUT_PIXELS or max(w, h) > th.MAX_INPUT_SIDE:
        raise _too_large_pixels()
    if min(w, h) < th.MIN_IMAGE_SIDE:
        raise PhotoRejected(
            "image_too_small",
            f"This picture is only {w}x{h} pixels: upload a photo at least "
            f"{th.MIN_IMAGE_SIDE} pixels on each side (any phone photo is).",
        )
    try:
        if img.format == "JPEG":
            # DCT-domain downscale by 1/2, 1/4 or 1/8 while decoding, never below the wanted size
            img.draft("RGB", (max_side, max_side))
        img.load()
        img = _to_srgb(img)
        img = ImageOps.exif_transpose(img) or img
    except Image.DecompressionBombError as exc:
        raise _too_large_pixels() from exc
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise PhotoRejected(
            "not_an_image",
            "This photo file is damaged or incomplete: upload it again or choose another photo.",
        ) from exc
    w, h = img.size
    if max(w, h) > max_side:
        scale = max_side / max(w, h)
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        if img.mode not in ("RGB", "RGBA", "L", "LA"):
            img = Image.fromarray(_to_rgb_array(img))
        img = img.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    return _to_rgb_array(img)


def _check_rgb(rgb: npt.NDArray[np.uint8]) -> Image.Image:
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an HxWx3 uint8 RGB image, got shape {rgb.shape} and dtype {rgb.dtype}")
    return Image.fromarray(np.ascontiguousarray(rgb), "RGB")


def encode_jpeg(rgb: npt.NDArray[np.uint8], quality: int = 90) -> bytes:
    """Baseline-compatible progressive JPEG, 4:2:0 chroma (what phones and browsers expect)."""
    buf = io.BytesIO()
    _check_rgb(rgb).save(buf, "JPEG", quality=int(quality), optimize=True, progressive=True, subsampling=2)
    return buf.getvalue()


def encode_webp(rgb: npt.NDArray[np.uint8], quality: int = 85) -> bytes:
    """Lossy WebP (about 25-35% smaller than JPEG at the same look); method 4 balances speed and size."""
    buf = io.BytesIO()
    _check_rgb(rgb).save(buf, "WEBP", quality=int(quality), method=4)
    return buf.getvalue()
