"""Protagonist's face-swap engine: one visitor photo in, that face in posters and films out.

The public API is re-exported here lazily, so `import swap` stays cheap (torch and MediaPipe load on
first use). See `swap/README.md` for the whole flow.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "PhotoRejected": "swap.errors",
    "TemplateError": "swap.errors",
    "SwapError": "swap.errors",
    "FaceAnalysis": "swap.face",
    "HeadPose": "swap.face",
    "FaceLandmarks": "swap.landmarks",
    "analyze_photo": "swap.analysis",
    "FaceAsset": "swap.asset",
    "build_face_asset": "swap.asset",
    "TargetFace": "swap.target",
    "prepare_target": "swap.target",
    "FaceRenderer": "swap.render",
    "PosterTemplate": "swap.poster",
    "prepare_poster_template": "swap.poster",
    "render_poster": "swap.poster",
    "FilmTrack": "swap.film",
    "ingest_film": "swap.film",
    "render_film": "swap.film",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'swap' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
