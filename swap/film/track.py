"""`FilmTrack`: everything about a film template that does not depend on the visitor, saved beside the film.

A film is shared by every visitor, so the expensive, film-only work (Face Mesh on every frame, tracking
the protagonist, smoothing, lighting, expression detail, occlusion) is done once at ingest and stored
as `<film>.track.npz`. Rendering a visitor's video then needs no landmark model at all.

Storage is compact because it is loaded for every render and kept beside every film variant:

* landmarks as int16 in 1/16 px (exact to 0.03 px; 2.9 KB per frame),
* light maps as uint8 at `LIGHT_STORE` texels (they are low-pass: sigma ~9 % of the face width, so
  32 texels hold all they carry; the renderer samples them bilinearly),
* expression detail as uint8 log2-ratio in [-0.5, 0.5] (ratios 0.71..1.41), occlusion as uint8 0..1,
* everything in a compressed npz with a format version; a reader refuses versions it does not know.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from swap.target import TargetFace

FORMAT_VERSION = 1
SUFFIX = ".track.npz"
LANDMARK_SCALE = 16.0  # int16 units per pixel
DETAIL_LOG_RANGE = 0.5  # detail stored as log2 ratio in [-range, range]

# per-frame flags (bit set)
ABSENT = 1  # the protagonist is not in the frame (or could not be found)
TOO_SMALL = 2  # face narrower than the minimum the swap can render convincingly
TOO_TURNED = 4  # head turned or tilted beyond what the texture can show
SHOT_START = 8  # first frame of a shot (a cut precedes it)
INTERPOLATED = 16  # landmarks interpolated over a short detection gap
TOO_BRIEF = 32  # a covered run too short to swap without popping
UNCOVERED = ABSENT | TOO_SMALL | TOO_TURNED | TOO_BRIEF

FloatArray = npt.NDArray[np.float32]


def track_path(film_path: Path | str) -> Path:
    """`film.mp4` -> `film.track.npz` beside it."""
    p = Path(film_path)
    return p.with_name(p.stem + SUFFIX)


def encode_landmarks(points: npt.NDArray[np.floating[Any]]) -> npt.NDArray[np.int16]:
    q = np.round(np.asarray(points, np.float64) * LANDMARK_SCALE)
    if q.size and (q.max() > 32767 or q.min() < -32768):
        raise ValueError("landmarks out of the int16 range (film wider than 2047 px?)")
    return q.astype(np.int16)


def encode_detail(ratio: npt.NDArray[np.floating[Any]]) -> npt.NDArray[np.uint8]:
    lg = np.clip(np.log2(np.maximum(ratio, 1e-6)), -DETAIL_LOG_RANGE, DETAIL_LOG_RANGE)
    return np.round((lg / DETAIL_LOG_RANGE + 1) * 127.5).astype(np.uint8)


def decode_detail(q: npt.NDArray[np.uint8]) -> FloatArray:
    return np.exp2((q.astype(np.float32) / 127.5 - 1) * DETAIL_LOG_RANGE).astype(np.float32)


def encode_unit(x: npt.NDArray[np.floating[Any]]) -> npt.NDArray[np.uint8]:
    return np.round(np.clip(x, 0, 1) * 255).astype(np.uint8)


@dataclass
class FilmTrack:
    """The protagonist's face in every frame of one film (see the module docstring for units).

    Arrays are per frame (N = `frames`); frames whose `flags & UNCOVERED` are left untouched at render.
    `strength` ramps at the edges of covered runs that do not start/end at a shot cut (cross-fade).
    """

    film_name: str
    width: int
    height: int
    fps_num: int
    fps_den: int
    frames: int
    flags: npt.NDArray[np.uint8]
    landmarks_q: npt.NDArray[np.int16]  # (N, 478, 3)
    strength: npt.NDArray[np.float16]  # (N,)
    light_q: npt.NDArray[np.uint8]  # (N, L, L, 3)
    detail_q: npt.NDArray[np.uint8]  # (N, D, D)
    occlusion_q: npt.NDArray[np.uint8]  # (N, O, O)
    shot: npt.NDArray[np.int32]  # (N,) shot index
    report: dict[str, Any] = field(default_factory=dict)
    # (N, 2, 21, 2) float32 pixels: MediaPipe Hands' landmarks of hands over the face (NaN: none);
    # (0, ...) for a track ingested before hands were found (`swap.film.hands`)
    hands: npt.NDArray[np.float32] = field(default_factory=lambda: np.zeros((0, 2, 21, 2), np.float32))
    # (N, G, G) uint8 0..255 in UV: the actor's glasses frame (`swap.film.glasses`); (0, G, G) when the
    # film has none, or for a track ingested before glasses were found
    glasses_q: npt.NDArray[np.uint8] = field(default_factory=lambda: np.zeros((0, 128, 128), np.uint8))
    version: int = FORMAT_VERSION

    # ---- access --------------------------------------------------------------------------------------

    @property
    def fps(self) -> float:
        return self.fps_num / self.fps_den

    @property
    def covered(self) -> npt.NDArray[np.bool_]:
        return (self.flags & UNCOVERED) == 0

    def landmarks(self, i: int) -> FloatArray:
        return (self.landmarks_q[i].astype(np.float32) / LANDMARK_SCALE).astype(np.float32)

    def hands_at(self, i: int) -> FloatArray | None:
        """The hands over the face in frame `i` ((2, 21, 2) pixels, NaN rows absent), or None."""
        if i >= len(self.hands) or not np.isfinite(self.hands[i]).all(axis=(1, 2)).any():
            return None
        return np.asarray(self.hands[i], np.float32)

    def glasses_at(self, i: int) -> FloatArray | None:
        """The actor's glasses in frame `i` ((G, G) 0..1 in UV), or None where there are none."""
        if i >= len(self.glasses_q) or not self.glasses_q[i].any():
            return None
        return (self.glasses_q[i].astype(np.float32) / 255.0).astype(np.float32)

    def target(self, i: int) -> TargetFace | None:
        """The renderer's target for frame `i`, or None where the frame stays untouched."""
        from swap.target import TargetFace

        if i >= self.frames or not self.covered[i] or float(self.strength[i]) <= 0:
            return None
        return TargetFace(
            landmarks=self.landmarks(i),
            light_map=(self.light_q[i].astype(np.float32) / 255.0),
            detail=decode_detail(self.detail_q[i]) if self.detail_q.size else None,
            occlusion=(self.occlusion_q[i].astype(np.float32) / 255.0) if self.occlusion_q.size else None,
            strength=float(self.strength[i]),
        )

    # ---- persistence ---------------------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        np.savez_compressed(
            buf,
            version=np.array(self.version, np.int32),
            meta=np.frombuffer(
                json.dumps(
                    {
                        "film_name": self.film_name,
                        "width": self.width,
                        "height": self.height,
                        "fps_num": self.fps_num,
                        "fps_den": self.fps_den,
                        "frames": self.frames,
                        "report": self.report,
                    }
                ).encode(),
                np.uint8,
            ),
            flags=self.flags,
            landmarks_q=self.landmarks_q,
            strength=self.strength,
            light_q=self.light_q,
            detail_q=self.detail_q,
            occlusion_q=self.occlusion_q,
            shot=self.shot,
            hands=self.hands,
            glasses_q=self.glasses_q,
        )
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> FilmTrack:
        with np.load(io.BytesIO(data)) as z:
            version = int(z["version"])
            if version != FORMAT_VERSION:
                raise ValueError(
                    f"film track format {version} is not supported (this engine reads {FORMAT_VERSION}): "
                    "re-ingest the film"
                )
            meta = json.loads(bytes(z["meta"]).decode())
            landmarks_q = z["landmarks_q"]
            hands = z["hands"] if "hands" in z.files else np.zeros((0, 2, 21, 2), np.float32)
            return cls(
                film_name=meta["film_name"],
                width=meta["width"],
                height=meta["height"],
                fps_num=meta["fps_num"],
                fps_den=meta["fps_den"],
                frames=meta["frames"],
                report=meta["report"],
                flags=z["flags"],
                landmarks_q=landmarks_q,
                strength=z["strength"],
                light_q=z["light_q"],
                detail_q=z["detail_q"],
                occlusion_q=z["occlusion_q"],
                shot=z["shot"],
                # a track ingested before `face_read_as_hand` existed may hold the face read as a hand
                hands=_without_faces_read_as_hands(hands, landmarks_q),
                glasses_q=z["glasses_q"] if "glasses_q" in z.files else np.zeros((0, 128, 128), np.uint8),
                version=version,
            )

    def save(self, path: Path | str) -> Path:
        path = Path(path)
        tmp = path.with_name(path.name + ".part")
        tmp.write_bytes(self.to_bytes())
        tmp.replace(path)  # atomic: a render never sees half a track
        return path

    @classmethod
    def load(cls, path: Path | str) -> FilmTrack:
        return cls.from_bytes(Path(path).read_bytes())

    @classmethod
    def for_film(cls, film_path: Path | str) -> FilmTrack:
        """The track saved beside `film_path` by `ingest_film`."""
        p = track_path(film_path)
        if not p.is_file():
            raise FileNotFoundError(
                f"no track for {Path(film_path).name}: run `python -m swap.film ingest {film_path}`"
            )
        return cls.load(p)


def _without_faces_read_as_hands(
    hands: npt.NDArray[np.float32], landmarks_q: npt.NDArray[np.int16]
) -> npt.NDArray[np.float32]:
    """`hands` (N, 2, 21, 2) with every hand that `face_read_as_hand` finds to be the face set to NaN
    (the filter ingest applies, once more for older tracks: a no-op on newer ones)."""
    from swap.film.hands import face_read_as_hand

    out = np.array(hands, np.float32)
    for i, k in zip(*np.nonzero(np.isfinite(out).all(axis=(2, 3))), strict=True):
        face = landmarks_q[i].astype(np.float32) / LANDMARK_SCALE
        if face_read_as_hand(out[i, k], face):
            out[i, k] = np.nan
    return out
