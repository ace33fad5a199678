"""The film (video) path of the engine.

A film template is ingested once (`ingest_film`: landmarks of the protagonist in every frame, smoothed,
with lighting, expression detail and occlusion maps) and saved beside the film as `<film>.track.npz`.
Each visitor's video is then `render_film`: stream decode, render the visitor's face into the covered
frames with the track (no landmark model at this stage), encode H.264 with the film's own audio.

Names are imported lazily so that `import swap.film` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "FilmTrack": "swap.film.track",
    "ingest_film": "swap.film.ingest",
    "render_film": "swap.film.render",
    "render_film_frame": "swap.film.render",
    "FilmResult": "swap.film.render",
    "RenderTimeout": "swap.film.render",
    "FilmInfo": "swap.film.io",
    "probe": "swap.film.io",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'swap.film' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
