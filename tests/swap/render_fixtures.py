"""Shared helpers for the render-side engine tests: photos, analyses and assets, computed once per session."""

from __future__ import annotations

import io
from functools import lru_cache

import numpy as np
from PIL import Image

from swap.asset import FaceAsset, build_face_asset
from swap.face import FaceAnalysis
from tests.conftest import SHARED_MEDIA

PHOTOS = SHARED_MEDIA / "photos"


def png_bytes(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "PNG")
    return buf.getvalue()


@lru_cache(maxsize=16)
def analysis_of(name: str) -> FaceAnalysis:
    """`analyze_photo` of a shared photo (or of "astronaut"): the engine's real entry point."""
    from swap.analysis import analyze_photo

    if name == "astronaut":
        from skimage import data

        return analyze_photo(png_bytes(data.astronaut()))
    return analyze_photo((PHOTOS / name).read_bytes())


@lru_cache(maxsize=16)
def asset_of(name: str) -> FaceAsset:
    return build_face_asset(analysis_of(name))
