"""Maths in the fixed UV layout (`swap.topology`): the mesh rasterised in UV space, masks, fills.

Every face, the visitor's photo and every target pose, is described in one mirror-symmetric texture
layout whose outer rim is a circle of diameter 1, so a texture `size` texels wide holds a face
`size` texels wide and every width below is a fraction of it. This module holds what depends only
on that layout and on texture values, never on an image or a pose:

* `uv_raster`: per texel, its mesh triangle and barycentrics (cached per size);
* masks: `uv_alpha` (the swap's alpha), `eye_regions`, `eye_holes`, `lowpass_weight` (which texels
  may colour a low-pass), `rim_distance`, `skin_region`, `hair_zone`; `loop_mask` fills one of the
  topology's loops, `smoothstep` is the ramp every feather uses;
* fills for texels that were not seen well: `normalized_blur`, `mirror_fill`, `push_pull_fill`.

`swap.target` and `swap.asset` sample images into this layout; `swap.render` draws it back.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import torch

from swap.mesh import RenderMesh, render_mesh
from swap.raster import rasterize
from swap.topology import face_topology

FloatArray = npt.NDArray[np.float32]

# ---- tuning (each one was measured; see swap/README.md "Measured choices") -------------------------
UV_SIZE = 512  # texture resolution of the visitor asset
MESH_LEVEL = 0  # render mesh: 0 = sparse Face Mesh; see swap.mesh (dense measured, not better)
RIM_FEATHER = 0.07  # mask feather at the outer rim (fraction of the face width)
EYE_FEATHER = 0.04  # feather of the eye regions that fade to the target's own eye as it closes
MOUTH_FEATHER = 0.05  # feather around the inner-mouth hole: keeps the target's lips moving
HAIR_RIM = 0.12  # rim band (fraction of the width) where hair may cover the target face
BROW_TOP = [105, 334, 66, 296]  # upper-brow landmarks: the forehead zone starts above them
TRUSTED = 0.25  # a texel with at least this weight is used as it is by the fills
# the low-passes leave out the eyes with their brows and the lips (distance from the eye / inner-mouth
# openings, fraction of the face width; see `lowpass_weight`)
LOWPASS_EYE_MARGIN = 0.10
LOWPASS_MOUTH_MARGIN = 0.05
LOWPASS_FEATURE_SOFT = 0.02  # width of the ramp at those margins


@dataclass(frozen=True)
class UVRaster:
    """The mesh rasterised in UV space at one size: per texel its triangle (-1 = outside) and barycentrics."""

    triangle: npt.NDArray[np.int64]
    bary: FloatArray
    mesh: RenderMesh

    @property
    def covered(self) -> npt.NDArray[np.bool_]:
        return self.triangle >= 0

    def interpolate(self, values: npt.NDArray[np.floating[Any]]) -> FloatArray:
        """Per-vertex values (V, C) -> per-texel (S, S, C), 0 outside the mesh."""
        vals = np.asarray(values, np.float32)
        flat, corners, bary = _covered_corners(self)
        res = np.einsum("nk,nkc->nc", bary, vals[corners])
        out = np.zeros((self.triangle.size, vals.shape[1]), np.float32)
        out[flat] = res
        return out.reshape(*self.triangle.shape, vals.shape[1])


_CORNERS: dict[int, tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], FloatArray]] = {}


def _covered_corners(r: UVRaster) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], FloatArray]:
    """(flat indices of covered texels, their triangle's 3 vertex ids, their barycentrics), cached."""
    key = id(r)
    if key not in _CORNERS:
        flat = np.flatnonzero(r.triangle >= 0)
        tri = r.triangle.reshape(-1)[flat]
        _CORNERS[key] = (flat, r.mesh.triangles[tri], r.bary.reshape(-1, 3)[flat])
    return _CORNERS[key]


def uv_raster(size: int, level: int | None = None) -> UVRaster:
    """Rasterise the mesh's UV layout once per texture size (and mesh level; default `MESH_LEVEL`)."""
    return _uv_raster(size, MESH_LEVEL if level is None else level)


@lru_cache(maxsize=8)
def _uv_raster(size: int, level: int) -> UVRaster:
    """Rasterise the mesh's UV layout once per texture size: texel (i, j) has its centre at ((j+.5)/S, (i+.5)/S)."""
    mesh = render_mesh(level)
    xy = torch.from_numpy(mesh.uv * size - 0.5).unsqueeze(0)
    r = rasterize(xy, torch.zeros(1, mesh.n_vertices), torch.from_numpy(mesh.triangles), size, size)
    # UV triangles are CCW with v down, i.e. front-facing for the rasteriser
    return UVRaster(r.triangle[0].numpy(), r.bary[0].numpy(), mesh)


def smoothstep(x: FloatArray) -> FloatArray:
    x = np.clip(x, 0.0, 1.0)
    return (x * x * (3 - 2 * x)).astype(np.float32)


def loop_mask(loop: npt.NDArray[np.int64], size: int) -> npt.NDArray[np.uint8]:
    uv = face_topology().uv
    poly = np.round((uv[loop] * size - 0.5) * 16).astype(np.int32)
    mask = np.zeros((size, size), np.uint8)
    cv2.fillPoly(mask, [poly], (255,), lineType=cv2.LINE_8, shift=4)
    return mask


@lru_cache(maxsize=8)
def uv_alpha(size: int) -> FloatArray:
    """The swap's alpha in UV space: 1 inside, smoothly 0 toward the outer rim and around the mouth.

    Distances are measured in texels, and the UV face is about `size` texels wide, so the feather
    widths are fractions of the face width. The eyes are covered by the mesh's eye fans (the
    visitor's eyes); how far each shows is decided per target by `eye_alpha`.
    """
    topo = face_topology()
    outer = loop_mask(topo.outer_loop, size)
    alpha = smoothstep(cv2.distanceTransform(outer, cv2.DIST_L2, 5) / (RIM_FEATHER * size))
    outside_mouth = 255 - loop_mask(topo.mouth_loop, size)
    alpha *= smoothstep(cv2.distanceTransform(outside_mouth, cv2.DIST_L2, 5) / (MOUTH_FEATHER * size))
    return alpha * uv_raster(size).covered


@lru_cache(maxsize=8)
def eye_regions(size: int) -> FloatArray:
    """(2, S, S): per eye (right, left), 1 inside its opening, smoothly 0 over `EYE_FEATHER` outside."""
    topo = face_topology()
    out = []
    for loop in (topo.right_eye_loop, topo.left_eye_loop):
        outside = 255 - loop_mask(loop, size)
        out.append(1.0 - smoothstep(cv2.distanceTransform(outside, cv2.DIST_L2, 5) / (EYE_FEATHER * size)))
    return np.stack(out).astype(np.float32)


@lru_cache(maxsize=8)
def eye_holes(size: int) -> FloatArray:
    """(S, S): 1 inside either eye opening (slightly grown): eyes are not skin for light or film detail."""
    topo = face_topology()
    mask = np.maximum(loop_mask(topo.right_eye_loop, size), loop_mask(topo.left_eye_loop, size))
    grow = max(1, round(0.01 * size))
    mask = cv2.dilate(mask, np.ones((2 * grow + 1, 2 * grow + 1), np.uint8))
    return (mask > 0).astype(np.float32)


@lru_cache(maxsize=8)
def lip_region(size: int) -> FloatArray:
    """(S, S): 1 on the lips (within `LOWPASS_MOUTH_MARGIN` of the inner mouth), ramping to 0 over
    `LOWPASS_FEATURE_SOFT`: the texels whose colour is the visitor's own, not skin (`visitor_detail`)."""
    away = cv2.distanceTransform(255 - loop_mask(face_topology().mouth_loop, size), cv2.DIST_L2, 5) / size
    return smoothstep((LOWPASS_MOUTH_MARGIN - away) / LOWPASS_FEATURE_SOFT + 0.5).astype(np.float32)


@lru_cache(maxsize=8)
def lowpass_weight(size: int) -> FloatArray:
    """Weight of each texel in the light-map / detail low-passes: 0 outside the mesh, ramping up from
    the rim over `RIM_FEATHER`.

    Both the target's light map and the visitor's own low-pass use this same weighting, so that in
    a self-swap ``detail * light_map`` gives back the photo; and the rim, where hair, ears and the
    background creep into the mesh, does not colour the face.

    The eyes with their brows and the lips are left out too (their low-pass there is filled from
    the skin around them): a light map over them would carry the actor's dark brows and lip colour
    as a blurred band under the visitor's, and the visitor's own low-pass would lighten the
    visitor's brows in the detail ratio. Measured on 30 tuning pairs by the identity judge: mean
    distance to the visitor 0.436 -> 0.425 (median 0.442 -> 0.433); brows only 0.430.
    """
    topo = face_topology()
    outer = loop_mask(topo.outer_loop, size)
    d = cv2.distanceTransform(outer, cv2.DIST_L2, 5)
    weight = smoothstep(d / (RIM_FEATHER * size)) * uv_raster(size).covered * (1 - eye_holes(size))
    for loop in (topo.left_eye_loop, topo.right_eye_loop):
        away = cv2.distanceTransform(255 - loop_mask(loop, size), cv2.DIST_L2, 5) / size
        weight = weight * smoothstep((away - LOWPASS_EYE_MARGIN) / LOWPASS_FEATURE_SOFT + 0.5)
    return (weight * (1 - lip_region(size))).astype(np.float32)


@lru_cache(maxsize=8)
def rim_distance(size: int) -> FloatArray:
    """Distance of each texel from the outer rim of the face, in texels (0 outside)."""
    outer = loop_mask(face_topology().outer_loop, size)
    return np.asarray(cv2.distanceTransform(outer, cv2.DIST_L2, 5), np.float32)


@lru_cache(maxsize=8)
def skin_region(size: int) -> npt.NDArray[np.bool_]:
    """UV texels that are cheek/forehead/nose skin: away from the rim, eyes/brows and lips."""
    topo = face_topology()
    region = rim_distance(size) > 0.06 * size
    for loop, margin in ((topo.left_eye_loop, 0.09), (topo.right_eye_loop, 0.09), (topo.mouth_loop, 0.08)):
        d = cv2.distanceTransform(255 - loop_mask(loop, size), cv2.DIST_L2, 5)
        region &= d > margin * size
    return region & uv_raster(size).covered


@lru_cache(maxsize=8)
def hair_zone(size: int) -> FloatArray:
    """Where hair can hang in front of a face: the forehead above the brows and the outer rim band."""
    uv = face_topology().uv
    brow_v = float(uv[BROW_TOP, 1].min())
    v = (np.arange(size, dtype=np.float32) + 0.5) / size
    forehead = smoothstep((brow_v - 0.03 - v) / 0.03)[:, None] * np.ones((1, size), np.float32)
    rim = smoothstep(1.0 - (rim_distance(size) - HAIR_RIM * size) / (0.03 * size))
    return (np.maximum(forehead, rim) * uv_raster(size).covered).astype(np.float32)


def normalized_blur(image: FloatArray, weight: FloatArray, sigma: float) -> tuple[FloatArray, FloatArray]:
    """Weighted Gaussian low-pass: blur(image*w)/blur(w). Untrusted texels do not darken their neighbours.

    Returns the low-passed image and the blurred weight (how much trusted support each texel had).
    """
    w = weight.astype(np.float32)
    ksize = int(2 * round(3 * sigma) + 1)
    num = cv2.GaussianBlur(image * w[..., None], (ksize, ksize), sigma, borderType=cv2.BORDER_CONSTANT)
    den = cv2.GaussianBlur(w, (ksize, ksize), sigma, borderType=cv2.BORDER_CONSTANT)
    if num.ndim == 2:
        num = num[..., None]
    return (num / np.maximum(den, 1e-6)[..., None]).astype(np.float32), den.astype(np.float32)


def shrink_to(texture: FloatArray, side: int) -> FloatArray:
    """`texture` (S, S[, C]) area-averaged to `side` x `side` texels (itself when already that size):
    for maps that are smooth at that scale anyway, so their filters cost a fraction."""
    if texture.shape[0] == side:
        return texture
    return np.asarray(cv2.resize(texture, (side, side), interpolation=cv2.INTER_AREA), np.float32)


def _seam_matched_twin(texture: FloatArray, own: FloatArray, twin: FloatArray, reach: float) -> FloatArray:
    """The mirrored texture with its local brightness and colour matched to this side's where they meet.

    A half-face in shadow, a hair strand or a hand at the seam make the twin's colour differ from the
    texels it joins: copied as it is, it leaves a hard edge on the cheek (seen on the shared side-lit,
    hand-on-chin and historic photos). The log ratio of the two sides' low-passes (sigma 2 % of the
    width), measured where both were seen, is carried into the filled region and fades out over
    `reach` (fraction of the width) from the seam: the fill joins without an edge, and deeper in it is
    the twin's own colour, not the shadow or strand it started from.
    """
    size = texture.shape[0]
    mirrored = texture[:, ::-1]
    # the match is smooth (a 2 % low-pass), so it is computed on at most 256 texels
    small = min(size, 256)

    def shrink(x: FloatArray) -> FloatArray:
        return shrink_to(x, small)

    log_tex = np.log(shrink(texture) + 1e-3)
    both = shrink((own * twin).astype(np.float32))
    known = (both > 0.5).astype(np.float32)
    sigma = 0.02 * small
    lo_own, _ = normalized_blur(log_tex, both, sigma)
    lo_twin, _ = normalized_blur(np.ascontiguousarray(log_tex[:, ::-1]), both, sigma)
    ratio = push_pull_fill(
        (np.clip(lo_own - lo_twin, -1.2, 1.2) * known[..., None]).astype(np.float32), known
    )
    away = cv2.distanceTransform((known < 0.5).astype(np.uint8), cv2.DIST_L2, 5) / (reach * small)
    gain = ratio * np.exp(-np.square(away))[..., None]
    if small != size:
        gain = np.asarray(cv2.resize(gain, (size, size), interpolation=cv2.INTER_LINEAR), np.float32)
    return (mirrored * np.exp(gain)).astype(np.float32)


def mirror_fill(
    texture: FloatArray,
    weight: FloatArray,
    source: FloatArray | None = None,
    match_reach: float | None = None,
) -> tuple[FloatArray, FloatArray]:
    """Fill untrusted texels from their mirror twin (the layout is symmetric about u = 0.5).

    Weights from `TRUSTED` up count as fully trusted (a texel is kept as it is); below that a texel
    takes the missing share from its twin in proportion to how much better the twin was seen, so the
    far cheek of a turned head becomes the near cheek's mirror image, while texels seen as well as
    their twin (both sides of a frontal face) stay untouched. `source` (0..1) limits which texels
    may give their colour (e.g. not the rim, where wall or hair may pass for skin). `match_reach`
    (fraction of the width) matches the twin's colour to this side's at the seam
    (`_seam_matched_twin`); None copies it as it is.
    """
    own = smoothstep(weight / TRUSTED)
    twin = own[:, ::-1] if source is None else (own * source)[:, ::-1]
    take = (1 - own) * np.clip(twin - own, 0, 1)
    total = own + take
    mirrored = (
        texture[:, ::-1] if match_reach is None else _seam_matched_twin(texture, own, twin, match_reach)
    )
    filled = (texture * own[..., None] + mirrored * take[..., None]) / np.maximum(total, 1e-6)[..., None]
    filled = np.where(total[..., None] > 1e-6, filled, texture)
    return filled.astype(np.float32), np.clip(total, 0, 1).astype(np.float32)


def push_pull_fill(texture: FloatArray, weight: FloatArray, levels: int = 8) -> FloatArray:
    """Fill every texel of weight < 1 smoothly from trusted ones (pull down a pyramid, push back up)."""
    pyr_t, pyr_w = [texture * weight[..., None]], [weight]
    for _ in range(levels):
        t, w = pyr_t[-1], pyr_w[-1]
        if min(w.shape) <= 2:
            break
        h2, w2 = (w.shape[0] + 1) // 2, (w.shape[1] + 1) // 2
        pyr_t.append(np.asarray(cv2.resize(t, (w2, h2), interpolation=cv2.INTER_AREA), np.float32))
        pyr_w.append(np.asarray(cv2.resize(w, (w2, h2), interpolation=cv2.INTER_AREA), np.float32))
    est = pyr_t[-1] / np.maximum(pyr_w[-1], 1e-6)[..., None]
    for t, w in zip(reversed(pyr_t[:-1]), reversed(pyr_w[:-1]), strict=True):
        up = cv2.resize(est, (w.shape[1], w.shape[0]), interpolation=cv2.INTER_LINEAR)
        if up.ndim == 2:
            up = up[..., None]
        local = t / np.maximum(w, 1e-6)[..., None]
        a = smoothstep(w / TRUSTED)[..., None]
        est = local * a + up * (1 - a)
    return est.astype(np.float32)
