"""Intake check of an uploaded photo: decided by decoding the bytes, never by name or content type.

This runs inside the web request, so it does only what must be synchronous: prove the bytes are one
still image of sane size, turn it upright, drop every piece of metadata (EXIF/GPS, XMP, ICC, comments)
by re-encoding only the pixels, and bound the pixel count that workers will see.
"""

from __future__ import annotations

import io

from django.conf import settings
from PIL import Image, ImageOps, UnidentifiedImageError

from campaign.errors import PhotoInvalid

try:  # iPhones hand over HEIC; without the plugin such uploads are refused as not_an_image
    from pillow_heif import register_heif_opener

    register_heif_opener()
except ImportError:  # pragma: no cover - pillow-heif is a declared dependency
    pass


def photo_normalize(*, data: bytes) -> bytes:
    """Return an upright, metadata-free JPEG of at most PHOTO_MAX_EDGE px, or raise PhotoInvalid."""
    if not data:
        raise PhotoInvalid("The file is empty. Please choose a photo.", code="empty_file")
    if len(data) > settings.MAX_PHOTO_BYTES:
        raise PhotoInvalid(
            f"The photo is larger than {settings.MAX_PHOTO_BYTES // (1024 * 1024)} MB. "
            "Please choose a smaller photo.",
            code="photo_too_large",
            status=413,
        )
    Image.MAX_IMAGE_PIXELS = settings.MAX_PHOTO_PIXELS
    try:
        with Image.open(io.BytesIO(data)) as image:
            if getattr(image, "is_animated", False):
                raise PhotoInvalid(
                    "Animated images cannot be used. Please choose a still photo.", code="animated_image"
                )
            width, height = image.size
            if width * height > settings.MAX_PHOTO_PIXELS:
                raise PhotoInvalid("The photo has too many pixels.", code="too_many_pixels", status=413)
            image.load()
            upright = ImageOps.exif_transpose(image)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise PhotoInvalid("The photo has too many pixels.", code="too_many_pixels", status=413) from exc
    except UnidentifiedImageError as exc:
        raise PhotoInvalid(
            "This file is not a photo we can read. Please upload a JPEG, PNG, WebP or HEIC photo.",
            code="not_an_image",
        ) from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise PhotoInvalid(
            "The photo file is damaged or incomplete. Please take or choose the photo again.",
            code="corrupt_image",
        ) from exc
    rgb = upright.convert("RGB")
    rgb.thumbnail((settings.PHOTO_MAX_EDGE, settings.PHOTO_MAX_EDGE), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    # A fresh image from raw pixels carries no info dict: no EXIF, XMP, ICC profile or comment.
    clean = Image.frombytes("RGB", rgb.size, rgb.tobytes())
    clean.save(out, format="JPEG", quality=92)
    return out.getvalue()
