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


def framed_astronaut() -> tuple[FaceAnalysis, FaceAnalysis]:
    """The astronaut bare and with a dark 4-px frame drawn on the photo: a rim hugging each eye and a
    bridge over the nose between them, as real frames sit (the shared photos' geometry)."""
    from dataclasses import replace

    import cv2

    a = analysis_of("astronaut")
    photo = a.rgb.copy()
    pts = a.landmarks.points
    for inner, outer in ((133, 33), (362, 263)):
        c = (pts[inner, :2] + pts[outer, :2]) / 2
        half = abs(pts[outer, 0] - pts[inner, 0]) / 2 + 4
        cv2.ellipse(photo, (round(c[0]), round(c[1])), (round(half), 11), 0, 0, 360, (15, 15, 15), 4)
    bridge = np.round(pts[[133, 168, 362], :2]).astype(np.int32)
    cv2.polylines(photo, [bridge], False, (15, 15, 15), 4)
    return a, replace(a, rgb=photo)
