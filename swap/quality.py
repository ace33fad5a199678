"""Quality metrics of a swap, used by the tests and benchmarks. Each one says what it can and cannot see.

* `pose_error`: does the output still have the target's head pose and expression? Face Mesh is run
  again on the output; the mean distance of its 468 surface landmarks to the target's landmarks,
  divided by the target's inter-ocular distance. A texture swap keeps the geometry, so this mostly
  measures whether the new texture still *reads* as a face in that pose (an unreadable or smeared
  face moves the landmarks). Limits: Face Mesh's own jitter on an unchanged image is ~0.005-0.01;
  it cannot see identity and is blind to errors Face Mesh shares with itself.
* `identity_transfer`: does the face region carry the visitor's features rather than the target's?
  Measured in UV space, where all three faces line up: the output and the original target are
  unwrapped through the target's landmarks, and the band-pass detail of the output's luminance
  (features at 1-6 % of the face width: brows, eye lids, nose, lips, folds) is correlated with the
  visitor asset's and with the original target's. `visitor > target` by a clear margin means the
  features moved. Limits: it is not a face-recognition score (no such model may be downloaded);
  shape differences (face outline, proportions) are invisible to it because the target's geometry
  is used for both unwraps; and a texture can correlate while looking wrong to a person.
* `seam_visibility`: is there an edge along the border of the swapped region? The gradient of the
  output across the mask's outer border (the component along the mask's own gradient, i.e. across
  the seam) compared with the same component in the original image at the same pixels, per level
  of the feather (a seam is a line along one level), worst level reported. About 1 = no more edge
  than the image already had there; a hard cut gives 2 and more. Limits: the visitor's own skin
  texture inside the feather also counts as "edge" (a wrinkly visitor on a smooth target reads ~1.3);
  a step smeared over the whole feather (a low-frequency colour mismatch) has a small gradient and
  is measured by the `step` term instead (mean colour change just inside vs just outside the border,
  in 8-bit levels).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from swap.landmarks import N_MESH_VERTICES, FaceLandmarks, ImageArray, find_faces, landmark_points
from swap.render import render_uv_map
from swap.target import hair_occlusion, unwrap
from swap.topology import face_topology
from swap.uv import RIM_FEATHER, loop_mask, smoothstep, uv_alpha, uv_raster

FloatArray = npt.NDArray[np.float32]

IDENTITY_UV_SIZE = 256
SEAM_LEVELS = 12  # the feather is cut into this many alpha levels; the worst level counts
BAND_LOW, BAND_HIGH = 1.0, 8.0  # Gaussian sigmas (texels at 256) of the band-pass: ~0.4 % to 3 % of the face


def pose_error(
    output_rgb: ImageArray, target_landmarks: FaceLandmarks | npt.NDArray[np.floating[Any]]
) -> float:
    """Mean landmark distance (468 surface points) between Face Mesh on the output and the target's
    landmarks, in units of the target's inter-ocular distance; inf if no face is found in the output."""
    target = landmark_points(target_landmarks)
    faces = find_faces(output_rgb)
    if not faces:
        return float("inf")
    nose = target[1, :2]
    face = min(faces, key=lambda f: float(np.linalg.norm(f.points[1, :2] - nose)))
    iod = float(np.linalg.norm(target[468, :2] - target[473, :2]))
    d = np.linalg.norm(face.points[:N_MESH_VERTICES, :2] - target[:N_MESH_VERTICES, :2], axis=1)
    return float(d.mean() / max(iod, 1e-6))


@dataclass(frozen=True)
class IdentityScore:
    """Correlations of the output's UV band-pass detail with the visitor's and with the original target's."""

    visitor: float
    target: float

    @property
    def margin(self) -> float:
        return self.visitor - self.target


def band_pass(texture: FloatArray) -> FloatArray:
    """Luminance detail between `BAND_LOW` and `BAND_HIGH` (difference of Gaussians) of a UV texture."""
    lum = texture @ np.array([0.299, 0.587, 0.114], np.float32) if texture.ndim == 3 else texture
    lo = cv2.GaussianBlur(lum, (0, 0), BAND_LOW)
    hi = cv2.GaussianBlur(lum, (0, 0), BAND_HIGH)
    # relative detail: the same feature under brighter light is the same feature
    return ((lo - hi) / np.maximum(hi, 0.02)).astype(np.float32)


def _robust(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Clip at 4 robust standard deviations: one bright artefact must not decide a correlation."""
    med = float(np.median(x))
    mad = float(np.median(np.abs(x - med))) * 1.4826 + 1e-9
    return np.clip(x, med - 4 * mad, med + 4 * mad)


def _corr(a: FloatArray, b: FloatArray, where: npt.NDArray[np.bool_]) -> float:
    x, y = _robust(a[where].astype(np.float64)), _robust(b[where].astype(np.float64))
    x -= x.mean()
    y -= y.mean()
    return float(x @ y) / max(float(np.sqrt((x @ x) * (y @ y))), 1e-12)


def identity_region(size: int = IDENTITY_UV_SIZE) -> npt.NDArray[np.bool_]:
    """Texels where the swap is at full strength (the UV alpha above 0.9)."""
    return (uv_alpha(size) > 0.9) & uv_raster(size).covered


def identity_transfer(
    output_rgb: ImageArray,
    original_rgb: ImageArray,
    target_landmarks: FaceLandmarks | npt.NDArray[np.floating[Any]],
    visitor_albedo: FloatArray,
) -> IdentityScore:
    """Correlate the output's UV detail with the visitor's texture and with the original target's."""
    size = IDENTITY_UV_SIZE
    out_tex, valid = unwrap(output_rgb, target_landmarks, size)
    orig_tex, _ = unwrap(original_rgb, target_landmarks, size)
    vis = np.asarray(cv2.resize(visitor_albedo, (size, size), interpolation=cv2.INTER_AREA), np.float32)
    # where hair hangs in front of the target face, the target is kept on purpose: not counted
    region = identity_region(size) & (valid > 0.5) & (hair_occlusion(orig_tex, valid, size) < 0.5)
    bo, bt, bv = band_pass(out_tex), band_pass(orig_tex), band_pass(vis)
    return IdentityScore(visitor=_corr(bo, bv, region), target=_corr(bo, bt, region))


@dataclass(frozen=True)
class SeamScore:
    """`ratio`: cross-border gradient of the output / of the original at the border (1 = no added edge);
    `step`: mean colour change across the border added by the swap, in 8-bit levels."""

    ratio: float
    step: float


def _rim_alpha(size: int) -> FloatArray:
    """The outer-rim part of the UV alpha (eye and mouth holes are kept inside the face on purpose)."""
    outer = loop_mask(face_topology().outer_loop, size)
    return smoothstep(cv2.distanceTransform(outer, cv2.DIST_L2, 5) / (RIM_FEATHER * size))


def seam_visibility(
    output_rgb: ImageArray,
    original_rgb: ImageArray,
    target_landmarks: FaceLandmarks | npt.NDArray[np.floating[Any]],
) -> SeamScore:
    """Edge energy across the swap's outer border in the output relative to the original image there."""
    h, w = output_rgb.shape[:2]
    alpha = render_uv_map(target_landmarks, (w, h), _rim_alpha(256))
    alpha = np.asarray(cv2.GaussianBlur(alpha, (0, 0), 1.0), np.float32)
    ay, ax = np.gradient(alpha)
    amag = np.hypot(ax, ay)
    nx, ny = ax / np.maximum(amag, 1e-9), ay / np.maximum(amag, 1e-9)

    def across(img: ImageArray) -> FloatArray:
        g = cv2.GaussianBlur(
            img.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32), (0, 0), 1.0
        )
        gy, gx = np.gradient(g)
        return np.abs(gx * nx + gy * ny)

    # a seam is a line along one level of the feather: compare per alpha level, keep the worst level
    g_out, g_orig = across(output_rgb), across(original_rgb)
    ratios = []
    edges = np.linspace(0.02, 0.98, SEAM_LEVELS + 1)
    for lo, hi in itertools.pairwise(edges):
        level = (alpha >= lo) & (alpha < hi) & (amag > 1e-4)
        if level.sum() >= 30:
            ratios.append(float(g_out[level].mean() / max(float(g_orig[level].mean()), 1e-3)))
    ratio = max(ratios) if ratios else 1.0
    # colour step: (inside - outside) of the output minus the same of the original, along the border
    inside = (alpha > 0.6) & (alpha < 0.9)
    outside = (alpha > 0.02) & (alpha < 0.15)
    if inside.sum() < 10 or outside.sum() < 10:
        return SeamScore(ratio=ratio, step=0.0)
    o, t = output_rgb.astype(np.float32), original_rgb.astype(np.float32)
    d_out = o[inside].mean(axis=0) - o[outside].mean(axis=0)
    d_orig = t[inside].mean(axis=0) - t[outside].mean(axis=0)
    return SeamScore(ratio=ratio, step=float(np.abs(d_out - d_orig).max()))
