"""Quality of a rendered film against its template, measured on the decoded output (tests and bench).

* `pose_error`: per covered frame, Face Mesh (static) on the output vs the track's landmarks, mean over
  the 468 surface points in inter-ocular units (swap.quality.pose_error). The swap must keep the film's
  head pose and expression; Face Mesh's own jitter is ~0.005-0.01.
  `pose_error_film` is the same measurement on the film itself: its floor (static Face Mesh noise plus
  what the track's smoothing removed).
* `flicker_ratio`: mean absolute frame-to-frame luma change inside the face (the track's face polygon) in
  the output, divided by the same in the film. Head motion contributes equally to both, so > 1 means the
  swap adds temporal noise (landmark jitter, light-map flicker). Target <= 1.2.
* `eye_corr`, `mouth_corr`: eye opening (eyelid gaps) and mouth opening (inner-lip gap) measured by Face
  Mesh on the output and on the film, Pearson-correlated over the covered frames: blinks and speech must
  follow the film. Target >= 0.95. Meaningless when the film's own series barely moves (`*_range` says).
* `eye_slope`, `mouth_slope`: the least-squares slope of the output's opening on the film's. A
  correlation cannot see an eye that follows every blink but opens only half as wide as the actor's
  on wide-eyed frames; 1 = as wide as the film.
* `track_eye_corr`, `track_mouth_corr`: the same correlation for the smoothed track's own landmarks
  (what the renderer is told) against the film's Face Mesh: the ceiling a render can reach on this
  track, so a low `eye_corr` under a high ceiling is the render's, not the tracking's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from swap.film import io
from swap.film.track import FilmTrack
from swap.landmarks import find_faces
from swap.topology import face_topology

FloatArray = npt.NDArray[np.float32]


def _openings(points: npt.NDArray[np.floating[Any]]) -> tuple[float, float]:
    p = np.asarray(points, np.float64)
    iod = float(np.linalg.norm(p[468, :2] - p[473, :2])) or 1.0
    eye = (np.linalg.norm(p[159, :2] - p[145, :2]) + np.linalg.norm(p[386, :2] - p[374, :2])) / 2
    mouth = np.linalg.norm(p[13, :2] - p[14, :2])
    return float(eye / iod), float(mouth / iod)


def _nearest_face(rgb: npt.NDArray[np.uint8], ref: FloatArray) -> FloatArray | None:
    faces = find_faces(rgb)
    if not faces:
        return None
    f = min(faces, key=lambda f: float(np.linalg.norm(f.points[1, :2] - ref[1, :2])))
    return f.points


def _slope(out: list[float], film: list[float]) -> float:
    x, y = np.asarray(film), np.asarray(out)
    if len(x) < 3 or x.std() < 1e-9:
        return float("nan")
    return float(np.polyfit(x, y, 1)[0])


def _corr(a: list[float], b: list[float]) -> float:
    x, y = np.asarray(a), np.asarray(b)
    if len(x) < 3 or x.std() < 1e-9 or y.std() < 1e-9:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])


def film_quality(
    film: Path | str, output: Path | str, track: FilmTrack, *, max_frames: int | None = None
) -> dict[str, float]:
    """Measure the output against the film over the first `max_frames` frames (all by default)."""
    outer = face_topology().outer_loop
    pose, pose_film, eye_o, eye_f, mouth_o, mouth_f = [], [], [], [], [], []
    eye_t, mouth_t = [], []
    flick_o, flick_f = [], []
    prev: tuple[Any, Any, Any] | None = None
    for fa, fb in zip(io.iter_frames(film, "rgb24"), io.iter_frames(output, "rgb24"), strict=False):
        i = fa.index
        if max_frames is not None and i >= max_frames:
            break
        if not track.covered[i]:
            prev = None
            continue
        ref = track.landmarks(i)
        mask = np.zeros(fa.data.shape[:2], np.uint8)
        cv2.fillPoly(mask, [np.round(ref[outer, :2]).astype(np.int32)], (1,))
        ya = cv2.cvtColor(fa.data, cv2.COLOR_RGB2GRAY).astype(np.float32)
        yb = cv2.cvtColor(fb.data, cv2.COLOR_RGB2GRAY).astype(np.float32)
        if prev is not None and track.shot[i] == track.shot[i - 1]:
            m = (mask > 0) & (prev[2] > 0)
            if m.any():
                flick_f.append(float(np.abs(ya - prev[0])[m].mean()))
                flick_o.append(float(np.abs(yb - prev[1])[m].mean()))
        prev = (ya, yb, mask)
        out_pts = _nearest_face(fb.data, ref)
        film_pts = _nearest_face(fa.data, ref)
        if out_pts is None or film_pts is None:
            pose.append(float("inf"))
            continue
        iod = float(np.linalg.norm(ref[468, :2] - ref[473, :2])) or 1.0
        pose.append(float(np.linalg.norm(out_pts[:468, :2] - ref[:468, :2], axis=1).mean() / iod))
        pose_film.append(float(np.linalg.norm(film_pts[:468, :2] - ref[:468, :2], axis=1).mean() / iod))
        e_o, m_o = _openings(out_pts)
        e_f, m_f = _openings(film_pts)
        eye_o.append(e_o)
        eye_f.append(e_f)
        mouth_o.append(m_o)
        mouth_f.append(m_f)
        e_t, m_t = _openings(ref)
        eye_t.append(e_t)
        mouth_t.append(m_t)
    finite = [p for p in pose if np.isfinite(p)]
    return {
        "frames_measured": float(len(pose)),
        "faces_lost": float(len(pose) - len(finite)),
        "pose_error_mean": float(np.mean(finite)) if finite else float("inf"),
        "pose_error_p95": float(np.percentile(finite, 95)) if finite else float("inf"),
        # the same measurement on the untouched film: the floor set by Face Mesh noise and by smoothing
        "pose_error_film": float(np.mean(pose_film)) if pose_film else float("inf"),
        "flicker_ratio": float(np.mean(flick_o)) / max(float(np.mean(flick_f)), 1e-6)
        if flick_f
        else float("nan"),
        "eye_corr": _corr(eye_o, eye_f),
        "mouth_corr": _corr(mouth_o, mouth_f),
        "eye_slope": _slope(eye_o, eye_f),
        "mouth_slope": _slope(mouth_o, mouth_f),
        "track_eye_corr": _corr(eye_t, eye_f),
        "track_mouth_corr": _corr(mouth_t, mouth_f),
        "eye_range": float(np.ptp(eye_f)) if eye_f else 0.0,
        "mouth_range": float(np.ptp(mouth_f)) if mouth_f else 0.0,
    }
