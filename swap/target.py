"""Target preparation: what the renderer needs about one face in one poster or film frame.

* `unwrap` samples an image into the UV layout (`swap.uv`) with one bilinear resampling, and says per
  texel how much to trust it (front-facing, not hidden behind the nose, inside the image).
* `prepare_target` computes a target's *light map*: its own face unwrapped and low-passed at ~13 % of
  the face width. The rendered colour is ``visitor_detail * light_map`` (`swap.shading`), so low
  frequencies (light direction, colour of the light, skin tone, shadows) come from the target and
  everything finer (eyes, brows, nose, lips, skin texture) from the visitor. The scale is the main
  quality knob: finer copies the target's features back (identity lost), coarser leaves seams under
  dramatic light.
* Which texels may colour a low-pass (`skin_trust`, `rim_skin_likeness`) and where hair hangs in
  front of the face (`hair_occlusion`) are decided here too, by one rule for the target's light map
  and the visitor's own low-pass (`swap.asset`), so that a self-swap gives back the photo.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import torch

from swap.landmarks import N_LANDMARKS, FaceLandmarks, ImageArray, landmark_points
from swap.mesh import RenderMesh, vertex_normals
from swap.raster import interpolate, rasterize
from swap.uv import (
    hair_zone,
    lowpass_weight,
    mirror_fill,
    normalized_blur,
    push_pull_fill,
    rim_distance,
    skin_region,
    smoothstep,
    uv_raster,
)

FloatArray = npt.NDArray[np.float32]

# ---- tuning (each one was measured; see swap/README.md "Measured choices") -------------------------
LIGHT_MAP_SIZE = 128  # the light map is low-pass: 128 texels carry all it has
LIGHT_SIGMA = 0.13  # Gaussian sigma of the light map's low-pass (fraction of the UV face width); 0.09 before, see README
RIM_BAND = 0.10  # rim band (fraction of the width) where texels must look like skin to be trusted
MIN_FACING = 0.1  # texels facing the camera less than this (cosine) are not trusted at all
FULL_FACING = 0.35  # ... and from this cosine on fully trusted
# the renderer's UV field (and the unwrap's z-buffer) is rasterised with the face at most this wide
RASTER_FACE_PX = 320


@dataclass(frozen=True)
class TargetFace:
    """Everything the renderer needs about one face in one target image (a poster, a film frame).

    `landmarks` (478, 3) float32 pixels in the target image; `light_map` (L, L, 3) float32 in [0, 1]:
    the target face's own low-frequency colour in UV space; `detail` (D, D) optional per-texel
    luminance ratio multiplied onto the visitor texture (film expression detail; 1 = none);
    `occlusion` (O, O) optional, 1 where something is in front of the face (the target's pixels are
    kept there); `strength` in [0, 1] scales the whole swap (cross-fades).
    """

    landmarks: FloatArray
    light_map: FloatArray
    detail: FloatArray | None = None
    occlusion: FloatArray | None = None
    strength: float = 1.0


def rim_skin_likeness(texture: FloatArray, weight: FloatArray, size: int) -> FloatArray:
    """Near the rim, trust texels only as far as they look like this face's skin.

    Face Mesh's outline may run over hair, ears or the wall behind a turned cheek; those colours
    would be stretched over the target's cheeks. Within `RIM_BAND` of the rim, a texel's trust falls
    with its chromaticity and log-brightness distance from the median skin colour.
    """
    skin = skin_region(size) & (weight > 0.8)
    d_rim = rim_distance(size)
    if skin.sum() < 200:
        return np.ones_like(weight)
    eps = 1e-3
    lum = texture.sum(axis=-1) + eps
    chroma = texture / lum[..., None]
    ref_chroma = np.median(chroma[skin], axis=0)
    ref_lum = float(np.median(lum[skin]))
    dc = np.linalg.norm(chroma - ref_chroma, axis=-1)
    dl = np.log(lum / ref_lum)
    likeness = np.exp(
        -((dc / 0.09) ** 2) - (np.minimum(dl, 0.0) / 1.5) ** 2 - (np.maximum(dl, 0) / 0.25) ** 2
    )
    band = np.clip(1.0 - (d_rim - RIM_BAND * size) / (0.03 * size), 0, 1)
    return (1.0 - band + band * likeness).astype(np.float32)


def skin_trust(texture: FloatArray, valid: FloatArray, size: int) -> FloatArray:
    """Weights of the low-passes (light map, visitor's own low-pass): seen, away from the rim, skin-like.

    The target's light map and the visitor's low-pass use this same rule, so a self-swap gives back
    the photo, and hair or wall inside the mesh outline colours neither.
    """
    return (valid * lowpass_weight(size) * rim_skin_likeness(texture, valid, size)).astype(np.float32)


def hair_occlusion(texture: FloatArray, valid: FloatArray, size: int) -> FloatArray:
    """1 where a target texel in the hair zone is clearly not this face's skin (hair, hat, hand).

    Strict on darkness and colour so that shadows on skin do not count: a texel must be much darker
    than the median skin (less than ~45 %) or of a clearly different colour.
    """
    skin = skin_region(size) & (valid > 0.8)
    if skin.sum() < 50:
        return np.zeros(texture.shape[:2], np.float32)
    lum = texture.sum(axis=-1) + 1e-3
    chroma = texture / lum[..., None]
    dc = np.linalg.norm(chroma - np.median(chroma[skin], axis=0), axis=-1)
    dl = np.log(lum / float(np.median(lum[skin])))
    unlike = np.maximum(smoothstep((-dl - 0.8) / 0.4), smoothstep((dc - 0.07) / 0.05))
    occ = unlike * hair_zone(size) * (valid > 0.05)
    occ = np.asarray(cv2.GaussianBlur(occ.astype(np.float32), (0, 0), 1.0), np.float32)
    return np.clip(occ * 1.3, 0, 1).astype(np.float32)


def _image_zbuffer(
    points: FloatArray, mesh: RenderMesh, image_size: tuple[int, int]
) -> tuple[FloatArray, int, int, float]:
    """Depth of the nearest front-facing surface in the face's bounding box (inf where uncovered).

    Only used for a visibility test with a tolerance of 3 % of the face width, so it is rasterised
    with the face at most `RASTER_FACE_PX` wide. Returns (zbuf, x0, y0, scale): pixel (x, y) of the
    image is zbuf[round((y - y0) * scale), round((x - x0) * scale)].
    """
    w, h = image_size
    xy = points[:, :2]
    x0 = int(max(0, np.floor(xy[:, 0].min()) - 1))
    y0 = int(max(0, np.floor(xy[:, 1].min()) - 1))
    x1 = int(min(w - 1, np.ceil(xy[:, 0].max()) + 1))
    y1 = int(min(h - 1, np.ceil(xy[:, 1].max()) + 1))
    if x1 <= x0 or y1 <= y0:
        return np.full((1, 1), np.inf, np.float32), 0, 0, 1.0
    scale = min(1.0, RASTER_FACE_PX / max(float(np.ptp(xy[:, 0])), 1.0))
    local = torch.from_numpy((xy - np.array([x0, y0], np.float32)) * scale).unsqueeze(0)
    depth = torch.from_numpy(points[:, 2].copy()).unsqueeze(0)
    tris = torch.from_numpy(mesh.triangles)
    r = rasterize(local, depth, tris, int((y1 - y0) * scale) + 2, int((x1 - x0) * scale) + 2)
    z = interpolate(r, depth.unsqueeze(-1), tris)[0, ..., 0].numpy()
    z[~r.covered[0].numpy()] = np.inf
    return z.astype(np.float32), x0, y0, scale


def unwrap(
    rgb: ImageArray, landmarks: FaceLandmarks | npt.NDArray[np.floating[Any]], size: int
) -> tuple[FloatArray, FloatArray]:
    """Sample `rgb` into UV space at `size` x `size` through the face mesh: one bilinear resampling.

    Returns `texture` (size, size, 3) float32 in [0, 1] and `valid` (size, size) float32 in [0, 1]:
    how far each texel can be trusted: 0 outside the mesh, outside the image, or where the surface
    is hidden behind a nearer part of the face (z-buffer test); ramps from 0 to 1 as the surface turns
    from grazing (cosine `MIN_FACING`) toward the camera (cosine `FULL_FACING`).
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 RGB image, got shape {rgb.shape}")
    ur = uv_raster(size)
    mesh = ur.mesh
    pts = mesh.positions(landmark_points(landmarks))
    h, w = rgb.shape[:2]
    texel = ur.interpolate(pts)  # (S, S, 3): image x, y, depth of every texel's surface point
    map_x, map_y = texel[..., 0], texel[..., 1]
    src = rgb if rgb.dtype == np.float32 else rgb.astype(np.float32) / 255.0
    texture = cv2.remap(src, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    # foreshortening: cosine between the surface normal and the view direction (-z)
    normals = vertex_normals(pts, mesh.triangles)
    n_tex = ur.interpolate(normals)
    facing = -n_tex[..., 2] / np.maximum(np.linalg.norm(n_tex, axis=-1), 1e-6)
    valid = smoothstep((facing - MIN_FACING) / (FULL_FACING - MIN_FACING))
    inside = (map_x >= 0) & (map_x <= w - 1) & (map_y >= 0) & (map_y <= h - 1)
    valid *= inside & ur.covered
    # self-occlusion: the texel's depth must match the nearest surface at its pixel
    zbuf, x0, y0, zscale = _image_zbuffer(pts, mesh, (w, h))
    ix = np.clip(np.round((map_x - x0) * zscale).astype(np.int64), 0, zbuf.shape[1] - 1)
    iy = np.clip(np.round((map_y - y0) * zscale).astype(np.int64), 0, zbuf.shape[0] - 1)
    face_w = float(np.ptp(pts[:, 0])) + 1e-6
    hidden = texel[..., 2] > zbuf[iy, ix] + 0.03 * face_w
    valid *= ~hidden
    return texture.astype(np.float32), valid.astype(np.float32)


def prepare_target(rgb: ImageArray, landmarks: FaceLandmarks | npt.NDArray[np.floating[Any]]) -> TargetFace:
    """Precompute a target face (poster or film frame): landmarks, light map and hair occlusion.

    The light map is the target's own face unwrapped at `LIGHT_MAP_SIZE`, hidden texels filled from
    their mirror twin, then a weighted Gaussian low-pass of sigma `LIGHT_SIGMA` x face width over
    skin-like texels. Hair in front of the forehead or the face's sides (`hair_occlusion`) is left
    out of the light map and becomes the target's `occlusion`, so a fringe stays in front of the
    swapped face instead of being painted over (and smeared into the light).
    """
    pts = landmark_points(landmarks)
    tex, valid = unwrap(rgb, pts, LIGHT_MAP_SIZE)
    occlusion = hair_occlusion(tex, valid, LIGHT_MAP_SIZE)
    tex, valid = mirror_fill(tex, valid * (1 - occlusion))
    sigma = LIGHT_SIGMA * LIGHT_MAP_SIZE  # the UV face is as wide as the texture
    low, support = normalized_blur(tex, skin_trust(tex, valid, LIGHT_MAP_SIZE), sigma)
    # texels with almost no trusted neighbourhood (e.g. both sides hidden): fill from the wider face
    weak = support < 0.05
    if weak.any():
        low = push_pull_fill(low, (~weak).astype(np.float32) * np.clip(support / 0.05, 0, 1))
    return TargetFace(
        landmarks=pts[:N_LANDMARKS].copy(),
        light_map=np.clip(low, 0, 1).astype(np.float32),
        occlusion=occlusion if occlusion.max() > 0.05 else None,
    )
