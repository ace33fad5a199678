"""Put a visitor's face asset into target images: UV unwrapping, target lighting, the batched renderer.

How a swap works (see `swap/README.md` for the whole flow):

* Every face is described in one fixed UV layout (`swap.topology`), so a texture made from the
  visitor's photo can be mapped onto any target pose through the target's Face Mesh landmarks.
* `unwrap` samples an image into that layout with one bilinear resampling, and says per texel how
  much to trust it (front-facing, not hidden behind the nose, inside the image).
* `prepare_target` computes a target's *light map*: its own face unwrapped and low-passed at ~9 % of
  the face width. The rendered colour is ``visitor_detail * light_map`` where ``visitor_detail`` is
  the visitor's de-lit texture divided by its own low-pass at the same scale. So low frequencies
  (light direction, colour of the light, skin tone, shadows) come from the target and everything finer
  (eyes, brows, nose, lips, skin texture) from the visitor. The scale is the main quality knob: finer
  copies the target's features back (identity lost), coarser leaves seams under dramatic light.
* `FaceRenderer.render` rasterises the mesh in each target's pose (torch, z-buffer, back-face culling,
  batched; CUDA when present), looks up the relit texture and a UV-space alpha mask per pixel, and
  blends in the face crop (`swap.blend`).

Eyes and the inner mouth are holes in the mesh and the mask feathers around them, so the target's
eyes, blinks, teeth and tongue are kept.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F

from swap.blend import blend_crops
from swap.landmarks import N_LANDMARKS, FaceLandmarks, ImageArray
from swap.mesh import RenderMesh, render_mesh, vertex_normals
from swap.raster import interpolate, rasterize
from swap.shape import identity_offsets, warp_box, warp_image
from swap.topology import face_topology

if TYPE_CHECKING:
    from swap.asset import FaceAsset

FloatArray = npt.NDArray[np.float32]

# ---- tuning (each one was measured; see swap/README.md "Measured choices") -------------------------
UV_SIZE = 512  # texture resolution of the visitor asset
LIGHT_MAP_SIZE = 128  # the light map is low-pass: 128 texels carry all it has
LIGHT_SIGMA = 0.09  # Gaussian sigma of the light map's low-pass, as a fraction of the UV face width
RIM_BAND = 0.10  # rim band (fraction of the width) where texels must look like skin to be trusted
HAIR_RIM = 0.12  # rim band (fraction of the width) where hair may cover the target face
BROW_TOP = [105, 334, 66, 296]  # upper-brow landmarks: the forehead zone starts above them
RIM_FEATHER = 0.07  # mask feather at the outer rim (fraction of the face width)
EYE_FEATHER = 0.04  # feather of the eye regions that fade to the target's own eye as it closes
EYE_OPEN = (
    0.12,
    0.20,
)  # lid opening / eye width: the target's own eye below the first, the visitor's above the second
MOUTH_FEATHER = 0.05  # feather around the inner-mouth hole: keeps the target's lips moving
CROP_MARGIN = 0.06  # crop around the face bbox, fraction of its size (room for the blend)
TRUSTED = 0.25  # a texel with at least this weight is used as it is by the fills
MIN_FACING = 0.1  # texels facing the camera less than this (cosine) are not trusted at all
FULL_FACING = 0.35  # ... and from this cosine on fully trusted
DETAIL_CHROMA = 0.4  # share of the visitor's local colour ratios kept (1 = all, 0 = brightness only)
RASTER_FACE_PX = 320  # the UV field is rasterised with the face at most this wide, then upsampled
HIGHLIGHT_MAX = 0.5  # visitor highlights brighten the target by at most +50 % (soft limit)
EYE_HIGHLIGHT_MAX = 1.5  # ... inside the eyes (the sclera is much brighter than skin)
MESH_LEVEL = 0  # render mesh: 0 = sparse Face Mesh; see swap.mesh (dense measured, not better)


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


def _points(landmarks: FaceLandmarks | npt.NDArray[np.floating[Any]]) -> FloatArray:
    pts = landmarks.points if isinstance(landmarks, FaceLandmarks) else np.asarray(landmarks)
    if pts.ndim != 2 or pts.shape[0] < 468 or pts.shape[1] != 3:
        raise ValueError(f"landmarks must be (478, 3) Face Mesh points, got shape {pts.shape}")
    return np.ascontiguousarray(pts, dtype=np.float32)


# ---- UV space ----------------------------------------------------------------------------------------


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


def _smoothstep(x: FloatArray) -> FloatArray:
    x = np.clip(x, 0.0, 1.0)
    return (x * x * (3 - 2 * x)).astype(np.float32)


def _loop_mask(loop: npt.NDArray[np.int64], size: int) -> npt.NDArray[np.uint8]:
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
    outer = _loop_mask(topo.outer_loop, size)
    alpha = _smoothstep(cv2.distanceTransform(outer, cv2.DIST_L2, 5) / (RIM_FEATHER * size))
    outside_mouth = 255 - _loop_mask(topo.mouth_loop, size)
    alpha *= _smoothstep(cv2.distanceTransform(outside_mouth, cv2.DIST_L2, 5) / (MOUTH_FEATHER * size))
    return alpha * uv_raster(size).covered


@lru_cache(maxsize=8)
def eye_regions(size: int) -> FloatArray:
    """(2, S, S): per eye (right, left), 1 inside its opening, smoothly 0 over `EYE_FEATHER` outside."""
    topo = face_topology()
    out = []
    for loop in (topo.right_eye_loop, topo.left_eye_loop):
        outside = 255 - _loop_mask(loop, size)
        out.append(1.0 - _smoothstep(cv2.distanceTransform(outside, cv2.DIST_L2, 5) / (EYE_FEATHER * size)))
    return np.stack(out).astype(np.float32)


@lru_cache(maxsize=8)
def eye_holes(size: int) -> FloatArray:
    """(S, S): 1 inside either eye opening (slightly grown): eyes are not skin for light or film detail."""
    topo = face_topology()
    mask = np.maximum(_loop_mask(topo.right_eye_loop, size), _loop_mask(topo.left_eye_loop, size))
    grow = max(1, round(0.01 * size))
    mask = cv2.dilate(mask, np.ones((2 * grow + 1, 2 * grow + 1), np.uint8))
    return (mask > 0).astype(np.float32)


def eye_openness(landmarks: npt.NDArray[np.floating[Any]]) -> tuple[float, float]:
    """How far the visitor's eye should show in each target eye (right, left), from the lid opening.

    1 for an open eye, 0 when the target's lids are (nearly) closed: then the target's own eye, lids
    and lashes come back, so blinks and winks follow the film.
    """
    p = np.asarray(landmarks, np.float32)
    out = []
    for top, bottom, a, b in ((159, 145, 33, 133), (386, 374, 362, 263)):
        ratio = float(np.linalg.norm(p[top, :2] - p[bottom, :2])) / max(
            float(np.linalg.norm(p[a, :2] - p[b, :2])), 1e-6
        )
        x = (ratio - EYE_OPEN[0]) / (EYE_OPEN[1] - EYE_OPEN[0])
        out.append(float(_smoothstep(np.array([x], np.float32))[0]))
    return out[0], out[1]


def neutral_in_eyes(uv_map: FloatArray, neutral: float) -> FloatArray:
    """A film's expression detail with the eye openings set to `neutral`: the actor's eye moving
    against its median is not expression detail, and must not ghost over the visitor's eye."""
    holes = eye_holes(uv_map.shape[0])
    return (uv_map * (1 - holes) + neutral * holes).astype(np.float32)


def occlusion_in_eyes(occlusion: FloatArray) -> FloatArray:
    """Occlusion inside the eye openings taken from around them (the strongest value within an eye's
    width): a hand or a glasses frame over an eye covers its lids too, whereas the actor's own eye
    moving (which the film's occlusion test flags) is no occluder."""
    size = occlusion.shape[0]
    holes = eye_holes(size)
    reach = max(3, round(0.09 * size)) | 1
    around = cv2.dilate(occlusion * (1 - holes), np.ones((reach, reach), np.uint8))
    return (occlusion * (1 - holes) + around * holes).astype(np.float32)


def swap_light_alpha(
    sample: Callable[[torch.Tensor, str], torch.Tensor],
    targets: Sequence[TargetFace],
    alpha_map: torch.Tensor,
    eye_map: torch.Tensor,
    stack: Callable[[list[FloatArray | None], float], torch.Tensor],
    *,
    visitor_eyes: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The film- or poster-only half of a swap, per pixel of a crop: light (B, 3, h, w) and alpha (B, 1, h, w).

    One function for the still renderer and the cached film fields (`swap.film.fields`), so the two
    can never shade differently. `sample(tex, padding)` looks a UV texture up at the crop's pixels;
    `alpha_map` (1, 1, S, S) is `uv_alpha`, `eye_map` (1, 2, S, S) `eye_regions`; `stack` stacks
    per-target UV maps (None = neutral). Light = the target's light map x its expression detail;
    alpha = the UV alpha, faded toward the target's own eye as its lids close, x (1 - occlusion) x strength.
    """
    bsz = len(targets)
    dev = alpha_map.device
    light = torch.from_numpy(np.stack([t.light_map for t in targets]).transpose(0, 3, 1, 2).copy()).to(dev)
    light = sample(light, "border")
    details = [None if t.detail is None else neutral_in_eyes(t.detail, 1.0) for t in targets]
    if any(d is not None for d in details):
        light = light * sample(stack(details, 1.0), "border")
    alpha = sample(alpha_map.expand(bsz, -1, -1, -1), "zeros")
    eyes = sample(eye_map.expand(bsz, -1, -1, -1), "zeros")
    if visitor_eyes:
        shown = torch.tensor([eye_openness(t.landmarks) for t in targets], device=dev, dtype=torch.float32)
    else:  # an asset without eyes (made before the eye fans): the target keeps its eyes
        shown = torch.zeros((bsz, 2), device=dev, dtype=torch.float32)
    alpha = alpha * (1 - eyes * (1 - shown.view(bsz, 2, 1, 1))).prod(dim=1, keepdim=True)
    occ = [None if t.occlusion is None else occlusion_in_eyes(t.occlusion) for t in targets]
    if any(o is not None for o in occ):
        alpha = alpha * (1 - sample(stack(occ, 0.0), "border")).clamp(0, 1)
    strength = torch.tensor([t.strength for t in targets], device=dev, dtype=torch.float32)
    return light, alpha * strength.view(bsz, 1, 1, 1)


@lru_cache(maxsize=8)
def lowpass_weight(size: int) -> FloatArray:
    """Weight of each texel in the light-map / detail low-passes: 0 outside the mesh, ramping up from
    the rim over `RIM_FEATHER`.

    Both the target's light map and the visitor's own low-pass use this same weighting, so that in
    a self-swap ``detail * light_map`` gives back the photo; and the rim, where hair, ears and the
    background creep into the mesh, does not colour the face.
    """
    outer = _loop_mask(face_topology().outer_loop, size)
    d = cv2.distanceTransform(outer, cv2.DIST_L2, 5)
    weight = _smoothstep(d / (RIM_FEATHER * size)) * uv_raster(size).covered * (1 - eye_holes(size))
    return weight.astype(np.float32)


@lru_cache(maxsize=8)
def rim_distance(size: int) -> FloatArray:
    """Distance of each texel from the outer rim of the face, in texels (0 outside)."""
    outer = _loop_mask(face_topology().outer_loop, size)
    return np.asarray(cv2.distanceTransform(outer, cv2.DIST_L2, 5), np.float32)


@lru_cache(maxsize=8)
def skin_region(size: int) -> npt.NDArray[np.bool_]:
    """UV texels that are cheek/forehead/nose skin: away from the rim, eyes/brows and lips."""
    topo = face_topology()
    region = rim_distance(size) > 0.06 * size
    for loop, margin in ((topo.left_eye_loop, 0.09), (topo.right_eye_loop, 0.09), (topo.mouth_loop, 0.08)):
        d = cv2.distanceTransform(255 - _loop_mask(loop, size), cv2.DIST_L2, 5)
        region &= d > margin * size
    return region & uv_raster(size).covered


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


def face_width_texels(size: int) -> float:
    """Width of the face in UV texels (the layout pins the rim to a circle of diameter 1)."""
    return float(size)


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


def mirror_fill(
    texture: FloatArray, weight: FloatArray, source: FloatArray | None = None
) -> tuple[FloatArray, FloatArray]:
    """Fill untrusted texels from their mirror twin (the layout is symmetric about u = 0.5).

    Weights from `TRUSTED` up count as fully trusted (a texel is kept as it is); below that a texel
    takes the missing share from its twin in proportion to how much better the twin was seen, so the
    far cheek of a turned head becomes the near cheek's mirror image, while texels seen as well as
    their twin (both sides of a frontal face) stay untouched. `source` (0..1) limits which texels
    may give their colour (e.g. not the rim, where wall or hair may pass for skin).
    """
    own = _smoothstep(weight / TRUSTED)
    twin = own[:, ::-1] if source is None else (own * source)[:, ::-1]
    take = (1 - own) * np.clip(twin - own, 0, 1)
    total = own + take
    filled = (texture * own[..., None] + texture[:, ::-1] * take[..., None]) / np.maximum(total, 1e-6)[
        ..., None
    ]
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
        a = _smoothstep(w / TRUSTED)[..., None]
        est = local * a + up * (1 - a)
    return est.astype(np.float32)


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
    pts = mesh.positions(_points(landmarks))
    h, w = rgb.shape[:2]
    texel = ur.interpolate(pts)  # (S, S, 3): image x, y, depth of every texel's surface point
    map_x, map_y = texel[..., 0], texel[..., 1]
    src = rgb if rgb.dtype == np.float32 else rgb.astype(np.float32) / 255.0
    texture = cv2.remap(src, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    # foreshortening: cosine between the surface normal and the view direction (-z)
    normals = vertex_normals(pts, mesh.triangles)
    n_tex = ur.interpolate(normals)
    facing = -n_tex[..., 2] / np.maximum(np.linalg.norm(n_tex, axis=-1), 1e-6)
    valid = _smoothstep((facing - MIN_FACING) / (FULL_FACING - MIN_FACING))
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
    pts = _points(landmarks)
    tex, valid = unwrap(rgb, pts, LIGHT_MAP_SIZE)
    occlusion = hair_occlusion(tex, valid, LIGHT_MAP_SIZE)
    tex, valid = mirror_fill(tex, valid * (1 - occlusion))
    sigma = LIGHT_SIGMA * face_width_texels(LIGHT_MAP_SIZE)
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


@lru_cache(maxsize=8)
def hair_zone(size: int) -> FloatArray:
    """Where hair can hang in front of a face: the forehead above the brows and the outer rim band."""
    uv = face_topology().uv
    brow_v = float(uv[BROW_TOP, 1].min())
    v = (np.arange(size, dtype=np.float32) + 0.5) / size
    forehead = _smoothstep((brow_v - 0.03 - v) / 0.03)[:, None] * np.ones((1, size), np.float32)
    rim = _smoothstep(1.0 - (rim_distance(size) - HAIR_RIM * size) / (0.03 * size))
    return (np.maximum(forehead, rim) * uv_raster(size).covered).astype(np.float32)


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
    unlike = np.maximum(_smoothstep((-dl - 0.8) / 0.4), _smoothstep((dc - 0.07) / 0.05))
    occ = unlike * hair_zone(size) * (valid > 0.05)
    occ = np.asarray(cv2.GaussianBlur(occ.astype(np.float32), (0, 0), 1.0), np.float32)
    return np.clip(occ * 1.3, 0, 1).astype(np.float32)


# ---- renderer ----------------------------------------------------------------------------------------


def _default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


class FaceRenderer:
    """Renders one visitor's face asset into batches of target frames (posters, film frames).

    Construction does the per-visitor work once (the asset's detail texture, the UV alpha, tensors on
    the device); `render` is then per batch of frames. Thread-safety: one renderer per thread.
    """

    def __init__(
        self,
        asset: FaceAsset,
        device: str | None = None,
        *,
        max_batch: int = 16,
        mesh_level: int | None = None,
        shape_transfer: bool = True,
    ) -> None:
        self.device = torch.device(device or _default_device())
        # the visitor's proportions (swap.shape); None renders the target's own face shape
        self._shape = np.asarray(asset.shape, np.float32) if shape_transfer else None
        self.max_batch = max_batch
        self.mesh = render_mesh(MESH_LEVEL if mesh_level is None else mesh_level)
        size = asset.albedo.shape[0]
        detail = visitor_detail(asset.albedo, asset.low)
        self._detail = torch.from_numpy(detail.transpose(2, 0, 1).copy()).unsqueeze(0).to(self.device)
        self._alpha = torch.from_numpy(uv_alpha(size)).view(1, 1, size, size).to(self.device)
        self._eyes = torch.from_numpy(eye_regions(size)).view(1, 2, size, size).to(self.device)
        self._visitor_eyes = bool(getattr(asset, "eyes", True))
        self._tris = torch.from_numpy(self.mesh.triangles).to(self.device)
        self._uv = torch.from_numpy(self.mesh.uv).unsqueeze(0).to(self.device)

    def render(
        self, frames: npt.NDArray[np.uint8], targets: Sequence[TargetFace | None]
    ) -> npt.NDArray[np.uint8]:
        """Swap the face into every frame whose target is not None; other frames come back byte for byte.

        `frames` (B, H, W, 3) uint8 (all the same size), `targets` a sequence of B TargetFace/None.
        """
        if frames.ndim != 4 or frames.shape[3] != 3 or frames.dtype != np.uint8:
            raise ValueError(f"frames must be (B, H, W, 3) uint8, got {frames.shape} {frames.dtype}")
        if len(targets) != frames.shape[0]:
            raise ValueError(f"got {frames.shape[0]} frames but {len(targets)} targets")
        out = frames.copy()
        todo = [i for i, t in enumerate(targets) if t is not None and t.strength > 0]
        for start in range(0, len(todo), self.max_batch):
            chunk = todo[start : start + self.max_batch]
            self._render_batch(out, frames, chunk, [targets[i] for i in chunk])  # type: ignore[misc]
        return out

    def _render_batch(
        self,
        out: npt.NDArray[np.uint8],
        frames: npt.NDArray[np.uint8],
        idx: list[int],
        targets: list[TargetFace],
    ) -> None:
        h, w = frames.shape[1:3]
        boxes = [_render_box(t.landmarks, w, h, self.mesh) for t in targets]
        keep = [k for k, b in enumerate(boxes) if b is not None]
        if not keep:
            return
        idx = [idx[k] for k in keep]
        targets = [targets[k] for k in keep]
        boxes_ = [b for b in boxes if b is not None]
        ch = max(b[3] - b[1] for b in boxes_)
        cw = max(b[2] - b[0] for b in boxes_)
        bsz = len(idx)
        origin = np.array([[b[0], b[1]] for b in boxes_], np.float32)
        crops = np.zeros((bsz, ch, cw, 3), np.uint8)
        # Everything from here on is in crop coordinates, so that a poster's face region and the same
        # region of a full frame give the same pixels to the last bit.
        local_targets = []
        for k, (x0, y0, x1, y1) in enumerate(boxes_):
            crop = frames[idx[k], y0:y1, x0:x1]
            local = np.array(targets[k].landmarks, np.float32) - np.array([x0, y0, 0], np.float32)
            if self._shape is not None:
                # the visitor's proportions: move the target's face (and its surroundings) first,
                # then render the texture on the moved landmarks; a cross-fade fades the shape too
                offsets = identity_offsets(self._shape, local) * np.float32(min(1.0, targets[k].strength))
                crop = warp_image(crop, local, offsets)
                local = local + offsets
            crops[k, : y1 - y0, : x1 - x0] = crop
            local_targets.append(replace(targets[k], landmarks=local))
        pts = np.stack([self.mesh.positions(t.landmarks) for t in local_targets])  # (B, V, 3)
        colour, alpha, covered = self._shade(pts, np.zeros_like(origin), ch, cw, local_targets)
        crop_t = torch.from_numpy(crops).to(self.device).permute(0, 3, 1, 2).float() / 255.0
        rendered = torch.where(covered, colour, crop_t)  # outside the mesh: the target itself
        blended = blend_crops(crop_t, rendered, alpha)
        result = (blended * 255.0 + 0.5).clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
        for k, (x0, y0, x1, y1) in enumerate(boxes_):
            out[idx[k], y0:y1, x0:x1] = result[k, : y1 - y0, : x1 - x0]

    def _shade(
        self, pts: FloatArray, origin: FloatArray, height: int, width: int, targets: list[TargetFace]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Relit colour (B, 3, H, W), alpha (B, 1, H, W) and coverage (B, 1, H, W) bool of the crops.

        Everything smooth is computed at a resolution where the face is at most `RASTER_FACE_PX` wide
        and upsampled bilinearly: the UV field (piecewise linear and continuous), the light map, the
        alpha, the film's detail map and occlusion. Only the visitor's detail texture is sampled at
        full resolution. The cost of a swap then hardly grows with the poster's resolution (a 900 px
        face: 300 ms -> 60 ms). Smooth channels are upsampled premultiplied by coverage and divided
        by it afterwards, so pixels next to the rim or a hole are extrapolated, not mixed with zero.
        """
        bsz = len(targets)
        face_w = float(max(np.ptp(p[:, 0]) for p in pts))
        # a dense mesh exists to resolve sub-pixel curvature: it is always rasterised at full resolution
        scale = min(1.0, RASTER_FACE_PX / max(face_w, 1.0)) if self.mesh.level == 0 else 1.0
        lh = max(2, round((height - 1) * scale) + 1)
        lw = max(2, round((width - 1) * scale) + 1)
        sx = (lw - 1) / max(width - 1, 1)
        sy = (lh - 1) / max(height - 1, 1)
        local = (pts[..., :2] - origin[:, None, :]) * np.array([sx, sy], np.float32)
        xy = torch.from_numpy(np.ascontiguousarray(local)).to(self.device)
        depth = torch.from_numpy(np.ascontiguousarray(pts[..., 2])).to(self.device)
        raster = rasterize(xy, depth, self._tris, lh, lw)
        uv = interpolate(raster, self._uv, self._tris)  # (B, h, w, 2), 0 where empty
        grid = uv * 2 - 1  # texel centres at (i + .5)/S, i.e. align_corners=False
        cov = raster.covered.unsqueeze(1).float()

        def sample(tex: torch.Tensor, padding: str = "border") -> torch.Tensor:
            return F.grid_sample(tex, grid, mode="bilinear", padding_mode=padding, align_corners=False)

        light, alpha = swap_light_alpha(
            sample, targets, self._alpha, self._eyes, self._stack_maps, visitor_eyes=self._visitor_eyes
        )
        smooth = [uv.permute(0, 3, 1, 2), light]
        alpha = alpha * cov
        if (lh, lw) != (height, width):
            packed = torch.cat([smooth[0] * cov, smooth[1] * cov, alpha, cov], dim=1)
            packed = F.interpolate(packed, size=(height, width), mode="bilinear", align_corners=True)
            cov_up = packed[:, 6:7]
            norm = 1.0 / cov_up.clamp(min=1e-6)
            uv_full = (packed[:, 0:2] * norm).permute(0, 2, 3, 1)
            light_full = packed[:, 2:5] * norm
            alpha = packed[:, 5:6]
            covered = cov_up > 0.5
        else:
            uv_full, light_full, covered = uv, smooth[1], cov > 0.5
        detail = F.grid_sample(
            self._detail.expand(bsz, -1, -1, -1),
            uv_full * 2 - 1,
            mode="bilinear",
            padding_mode="border",
            align_corners=False,
        )
        return (detail * light_full).clamp(0, 1), alpha, covered

    def _stack_maps(self, maps: list[FloatArray | None], neutral: float) -> torch.Tensor:
        size = max(m.shape[0] for m in maps if m is not None)
        stack = np.full((len(maps), 1, size, size), neutral, np.float32)
        for k, m in enumerate(maps):
            if m is not None:
                stack[k, 0] = (
                    m if m.shape[0] == size else cv2.resize(m, (size, size), interpolation=cv2.INTER_LINEAR)
                )
        return torch.from_numpy(stack).to(self.device)


def visitor_detail(albedo: FloatArray, low: FloatArray) -> FloatArray:
    """The visitor texture relative to its own low-pass at the light-map scale (1.0 = average).

    `low` is the asset's stored low-pass (small, smooth; upsampled here). Multiplying the result by a
    target's light map gives the target's light and skin tone with the visitor's features.
    Brightness ratios are kept fully; colour ratios only partly (`DETAIL_CHROMA`): a dark eyebrow on
    brown skin is less orange than that skin, and its full colour ratio would turn it blue on pale skin.
    """
    size = albedo.shape[0]
    low_full = np.asarray(cv2.resize(low, (size, size), interpolation=cv2.INTER_LINEAR), np.float32)
    ratio = albedo / np.maximum(low_full, 1e-3)
    lum_w = np.array([0.299, 0.587, 0.114], np.float32)
    lum_ratio = (albedo @ lum_w) / np.maximum(low_full @ lum_w, 1e-3)
    chroma = ratio / np.maximum(lum_ratio, 1e-3)[..., None]
    # highlights (specular spots, JPEG ringing on dark skin) compress softly toward 1 + HIGHLIGHT_MAX:
    # on a paler target the same ratio would otherwise print as white blotches
    # Inside the eye openings the visitor's iris colour and white sclera are identity, not skin: full
    # colour ratios there, and highlights compressed only mildly.
    eyes = np.asarray(cv2.GaussianBlur(eye_holes(size), (0, 0), 0.006 * size), np.float32)
    over = np.maximum(lum_ratio - 1.0, 0.0)
    limit = HIGHLIGHT_MAX + eyes * (EYE_HIGHLIGHT_MAX - HIGHLIGHT_MAX)
    lum_ratio = np.where(lum_ratio > 1.0, 1.0 + over / (1.0 + over / limit), lum_ratio)
    exponent = (DETAIL_CHROMA + eyes * (1.0 - DETAIL_CHROMA))[..., None]
    detail = lum_ratio[..., None] * np.power(np.clip(chroma, 0.05, 20.0), exponent)
    return np.clip(detail, 0.0, 4.0).astype(np.float32)


def render_uv_map(
    landmarks: FaceLandmarks | npt.NDArray[np.floating[Any]], image_size: tuple[int, int], uv_map: FloatArray
) -> FloatArray:
    """Draw a UV-space map (S, S) or (S, S, C) onto an image of `image_size` (w, h) in the face's pose.

    Used for the debug mask and by the quality metrics; 0 where the mesh does not cover a pixel.
    """
    mesh = render_mesh(MESH_LEVEL)
    pts = mesh.positions(_points(landmarks))
    w, h = image_size
    m = uv_map if uv_map.ndim == 3 else uv_map[..., None]
    out = np.zeros((h, w, m.shape[2]), np.float32)
    box = _crop_box(pts, w, h)
    if box is None:
        return out if uv_map.ndim == 3 else out[..., 0]
    x0, y0, x1, y1 = box
    xy = torch.from_numpy(pts[:, :2] - np.array([x0, y0], np.float32)).unsqueeze(0)
    tris = torch.from_numpy(mesh.triangles)
    r = rasterize(xy, torch.from_numpy(pts[:, 2].copy()).unsqueeze(0), tris, y1 - y0, x1 - x0)
    uv = interpolate(r, torch.from_numpy(mesh.uv).unsqueeze(0), tris)
    tex = torch.from_numpy(m.transpose(2, 0, 1).copy()).unsqueeze(0)
    vals = F.grid_sample(tex, uv * 2 - 1, mode="bilinear", padding_mode="border", align_corners=False)
    vals = vals * r.covered.unsqueeze(1)
    out[y0:y1, x0:x1] = vals[0].permute(1, 2, 0).numpy()
    return out if uv_map.ndim == 3 else out[..., 0]


def face_box(
    landmarks: FaceLandmarks | npt.NDArray[np.floating[Any]],
    width: int,
    height: int,
    *,
    mesh_level: int | None = None,
) -> tuple[int, int, int, int] | None:
    """The region (x0, y0, x1, y1) of a `width` x `height` frame that `FaceRenderer.render` may change
    for a face with these landmarks (None: the face is off-frame and nothing changes).

    Rendering only this crop, with the landmarks shifted by (x0, y0), gives exactly the same pixels
    there (posters render just the face region of a cached template).
    """
    return _render_box(
        landmarks, width, height, render_mesh(MESH_LEVEL if mesh_level is None else mesh_level)
    )


def _render_box(
    landmarks: FaceLandmarks | npt.NDArray[np.floating[Any]], width: int, height: int, mesh: RenderMesh
) -> tuple[int, int, int, int] | None:
    """The face crop grown to the reach of the shape warp (`swap.shape.warp_box`): what a render changes."""
    pts = _points(landmarks)
    box = _crop_box(mesh.positions(pts), width, height)
    if box is None:
        return None
    wx0, wy0, wx1, wy1 = warp_box(pts, width, height)
    return min(box[0], wx0), min(box[1], wy0), max(box[2], wx1), max(box[3], wy1)


def _crop_box(points: FloatArray, width: int, height: int) -> tuple[int, int, int, int] | None:
    """Integer (x0, y0, x1, y1) crop (exclusive end) around the face, clipped; None if off-frame."""
    xy = points[:, :2]
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    pad = CROP_MARGIN * float(max(hi - lo)) + 2
    x0 = int(max(0, np.floor(lo[0] - pad)))
    y0 = int(max(0, np.floor(lo[1] - pad)))
    x1 = int(min(width, np.ceil(hi[0] + pad) + 1))
    y1 = int(min(height, np.ceil(hi[1] + pad) + 1))
    if x1 - x0 < 4 or y1 - y0 < 4:
        return None
    return x0, y0, x1, y1
