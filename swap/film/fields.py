"""The film-only half of a face swap, computed once per film and cached beside it (`<film>.fields`).

`FaceRenderer` does two kinds of work per frame: work that depends only on the film (rasterise the
mesh in the frame's pose -> per-pixel UV, the film's light map x expression detail sampled per pixel,
the UV alpha x (1 - occlusion) x strength, coverage) and work that depends on the visitor (sample the
visitor's detail texture at those UVs, multiply, blend). For a film shared by every visitor the first
kind is the same in every render, so it is stored as *fields* per covered frame and a visitor's render
only samples its texture and blends (measured in bench/film.py; see swap/README.md).

Fields are smooth (the UV is piecewise linear over ~10 px triangles; light maps are 32 texels, film
detail and occlusion 64 texels, the alpha feathers >= 5 % of the face width), so they are stored with
the face at most `FIELD_FACE_PX` wide (2 px per film-detail texel) and upsampled bilinearly in the
crop, premultiplied by coverage like `FaceRenderer._shade`. Only the visitor's texture is sampled at
full resolution. Per covered frame that is ~26k texels x 12 bytes (~320 KB, whatever the film's
resolution): uv uint16 x 2, light float16 x 3, alpha uint8, coverage uint8.

File layout (one file, written once, replaced atomically; a stale or foreign file is rebuilt):
`swap.film.framecache`'s container (magic ``PGFF``, no header; an index row is the record's offset,
its box and its stored size). The key hashes the track's content and every constant the fields depend
on, so a re-ingested film, or a renderer with other feathers, never reads old fields.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F

from swap.film.framecache import FrameFileReader, FrameFileWriter
from swap.film.glasses import DEFAULT_GLASSES, GlassesMode, maps_without_frame
from swap.film.track import FilmTrack

if TYPE_CHECKING:
    from swap.target import TargetFace

FloatArray = npt.NDArray[np.float32]

FIELD_FACE_PX = 128  # fields are stored with the face at most this wide (2 px per 64-texel film map)
FORMAT_VERSION = 9  # 9: an eye narrowing alone fades later (swap.shading.ONE_SIDED); 8: detail and occlusion neutral around the actor's glasses (swap.film.glasses.maps_without_frame); 7: eye rims grown to the visible eye (swap.mesh.EYE_RIM_GROW); 6: the eye fade's band per film (swap.shading.film_eye_band); 5: the film's detail left out over the brows (swap.shading.neutral_in_features); 4: hands over the face cut out of the alpha (swap.film.hands), the framecache container; 3: light maps without brows and lips; 2: eye fans (visitor's eyes, blink fade). Bump when `compute_fields` changes what it stores: old caches are then rebuilt
SUFFIX = ".fields"
SHUTTER = 0.5  # share of the frame interval a film camera exposes (a 180-degree shutter)
MIN_BLUR_PX = 1.5  # motion blur shorter than this is not drawn (invisible, and costs a filter)
MAX_BLUR_PX = 24.0  # longer blur is capped (a whip pan: the face is a smear either way)
MAGIC = b"PGFF"
_INDEX_COLS = 8  # offset, x0, y0, x1, y1, lh, lw, reserved


def fields_path(film_path: Path | str) -> Path:
    """`film.mp4` -> `film.fields` beside it."""
    p = Path(film_path)
    return p.with_name(p.stem + SUFFIX)


def fields_key(track: FilmTrack, glasses: GlassesMode = DEFAULT_GLASSES) -> bytes:
    """sha1 of the track's content, the film's glasses choice and every renderer constant the fields
    depend on. A film without the actor's glasses hashes as before they were looked for, so its caches
    stay valid."""
    from swap.mesh import EYE_RIM_GROW
    from swap.render import CROP_MARGIN
    from swap.shading import BROW_DETAIL_MARGIN, FILM_EYE_OPEN, FILM_EYE_SHARE, ONE_SIDED
    from swap.target import LIGHT_SIGMA
    from swap.uv import (
        EYE_FEATHER,
        LOWPASS_EYE_MARGIN,
        LOWPASS_MOUTH_MARGIN,
        MESH_LEVEL,
        MOUTH_FEATHER,
        RIM_FEATHER,
        UV_SIZE,
    )

    h = hashlib.sha1()
    consts = (
        FORMAT_VERSION, FIELD_FACE_PX, UV_SIZE, RIM_FEATHER, EYE_FEATHER, FILM_EYE_OPEN, FILM_EYE_SHARE,
        MOUTH_FEATHER, CROP_MARGIN, EYE_RIM_GROW, MESH_LEVEL, LIGHT_SIGMA, LOWPASS_EYE_MARGIN, LOWPASS_MOUTH_MARGIN, BROW_DETAIL_MARGIN,
        ONE_SIDED,
        track.width, track.height, track.frames,
    )  # fmt: skip
    h.update(repr(consts).encode())
    arrays = [track.flags, track.landmarks_q, track.strength, track.light_q, track.detail_q]
    arrays += [track.occlusion_q, track.hands]
    if glasses != "removed":
        h.update(f"glasses={glasses}".encode())
    if len(track.glasses_q):  # a film without glasses (or ingested before them) keeps its old key
        arrays.append(track.glasses_q)
    for arr in arrays:
        a = np.ascontiguousarray(arr)
        h.update(f"{a.dtype}{a.shape}".encode())
        h.update(a.tobytes())
    return h.digest()


@dataclass(frozen=True)
class FaceFields:
    """One frame's film-only swap fields over the crop `box` (x0, y0, x1, y1; even, exclusive end).

    Stored at (lh, lw) with texel j centred on full-resolution pixel (j + 0.5) * W / lw - 0.5 of the
    crop (OpenCV's and torch's align_corners=False convention), premultiplied by `cov`:
    `uv` (lh, lw, 2) in [0, 1], `light` (lh, lw, 3) = light map x film detail, `alpha` (lh, lw) =
    UV alpha x (1 - occlusion) x strength x coverage, `cov` (lh, lw) 0/1.
    """

    box: tuple[int, int, int, int]
    uv: FloatArray
    light: FloatArray
    alpha: FloatArray
    cov: FloatArray

    def encode(self) -> bytes:
        uv = np.round(np.clip(self.uv, 0, 1) * 65535).astype(np.uint16)
        light = self.light.astype(np.float16)
        alpha = np.round(np.clip(self.alpha, 0, 1) * 255).astype(np.uint8)
        cov = (self.cov > 0.5).astype(np.uint8)
        return b"".join(a.tobytes() for a in (uv, light, alpha, cov))

    @classmethod
    def decode(cls, box: tuple[int, int, int, int], lh: int, lw: int, data: bytes) -> FaceFields:
        n = lh * lw
        uv = np.frombuffer(data, np.uint16, 2 * n, 0).reshape(lh, lw, 2).astype(np.float32) / 65535.0
        light = np.frombuffer(data, np.float16, 3 * n, 4 * n).reshape(lh, lw, 3).astype(np.float32)
        alpha = np.frombuffer(data, np.uint8, n, 10 * n).reshape(lh, lw).astype(np.float32) / 255.0
        cov = np.frombuffer(data, np.uint8, n, 11 * n).reshape(lh, lw).astype(np.float32)
        return cls(box, uv, light, alpha, cov)

    @staticmethod
    def nbytes(lh: int, lw: int) -> int:
        return 12 * lh * lw


def _even_box(box: tuple[int, int, int, int], width: int, height: int) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = box
    return x0 & ~1, y0 & ~1, min(width, (x1 + 1) & ~1), min(height, (y1 + 1) & ~1)


def compute_fields(
    track: FilmTrack,
    indices: Sequence[int],
    device: torch.device | str = "cpu",
    glasses: GlassesMode = DEFAULT_GLASSES,
) -> list[FaceFields | None]:
    """Fields of the track's frames `indices` (None where the frame is not swapped), batched in torch.

    The same quantities as `FaceRenderer._shade` before the visitor's texture is sampled, computed at
    `FIELD_FACE_PX` instead of `RASTER_FACE_PX`. The actor's glasses frame (`FilmTrack.glasses_q`)
    is cut out of the alpha with `glasses="kept"` (the film's own frame stays in front), and with
    ``removed`` the alpha is full over it, so no piece of it shows through a feather.
    """
    from swap.film.hands import hand_mask
    from swap.mesh import render_mesh
    from swap.raster import interpolate, rasterize
    from swap.render import crop_box
    from swap.shading import ONE_SIDED, film_eye_band, swap_light_alpha
    from swap.uv import MESH_LEVEL, UV_SIZE, eye_regions, uv_alpha

    mesh = render_mesh(MESH_LEVEL)
    dev = torch.device(device)
    out: list[FaceFields | None] = [None] * len(indices)
    todo: list[tuple[int, TargetFace, npt.NDArray[np.float32], tuple[int, int, int, int], int, int]] = []
    for k, i in enumerate(indices):
        t = track.target(int(i))
        if t is None:
            continue
        pts = mesh.positions(t.landmarks)
        box = crop_box(pts, track.width, track.height)
        if box is None:
            continue
        box = _even_box(box, track.width, track.height)
        cw, ch = box[2] - box[0], box[3] - box[1]
        s = min(1.0, FIELD_FACE_PX / max(float(np.ptp(pts[:, 0])), 1.0))
        lw, lh = max(2, round(cw * s)), max(2, round(ch * s))
        todo.append((k, t, pts, box, lh, lw))
    if not todo:
        return out
    lh_max = max(r[4] for r in todo)
    lw_max = max(r[5] for r in todo)
    local = np.stack(
        [
            (pts[:, :2] - np.array(box[:2], np.float32) + 0.5)
            * np.array([lw / (box[2] - box[0]), lh / (box[3] - box[1])], np.float32)
            - 0.5
            for _, _, pts, box, lh, lw in todo
        ]
    ).astype(np.float32)
    depth = np.stack([pts[:, 2] for _, _, pts, _, _, _ in todo]).astype(np.float32)
    tris = torch.from_numpy(mesh.triangles).to(dev)
    raster = rasterize(torch.from_numpy(local).to(dev), torch.from_numpy(depth).to(dev), tris, lh_max, lw_max)
    uv = interpolate(raster, torch.from_numpy(mesh.uv).unsqueeze(0).to(dev), tris)  # (B, h, w, 2)
    grid = uv * 2 - 1
    cov = raster.covered.unsqueeze(1).float()
    targets = [r[1] for r in todo]

    def sample(tex: torch.Tensor, padding: str = "border") -> torch.Tensor:
        return F.grid_sample(tex, grid, mode="bilinear", padding_mode=padding, align_corners=False)

    def stack(maps: list[FloatArray | None], neutral: float) -> torch.Tensor:
        size = max(m.shape[0] for m in maps if m is not None)
        arr = np.full((len(maps), 1, size, size), neutral, np.float32)
        for j, m in enumerate(maps):
            if m is not None:
                arr[j, 0] = (
                    m if m.shape[0] == size else cv2.resize(m, (size, size), interpolation=cv2.INTER_LINEAR)
                )
        return torch.from_numpy(arr).to(dev)

    ua = torch.from_numpy(uv_alpha(UV_SIZE)).view(1, 1, UV_SIZE, UV_SIZE).to(dev)
    eyes = torch.from_numpy(eye_regions(UV_SIZE)).view(1, 2, UV_SIZE, UV_SIZE).to(dev)
    band = film_eye_band(track.landmarks_q[track.covered])  # a ratio: the quantisation scale cancels
    worn = [track.glasses_at(int(indices[k])) for k, *_ in todo]
    targets = [t if g is None else _without_frame(t, g) for t, g in zip(targets, worn, strict=True)]
    light, alpha = swap_light_alpha(sample, targets, ua, eyes, stack, eye_band=band, one_sided=ONE_SIDED)
    alpha = alpha * cov
    if any(g is not None for g in worn):
        frame = sample(stack(worn, 0.0), "zeros")
        if glasses == "kept":  # the film's own frame in front
            alpha = alpha * (1.0 - frame)
        else:  # none of it through the feathers either (half-transparent frame pieces otherwise) ...
            strength = torch.tensor([t.strength for t in targets], dtype=alpha.dtype, device=dev)
            ceiling = strength.view(-1, 1, 1, 1) * cov
            occ = [t.occlusion for t in targets]
            if any(o is not None for o in occ):  # ... but what is in front of the glasses stays there
                ceiling = ceiling * (1 - sample(stack(occ, 0.0), "border")).clamp(0, 1)
            alpha = torch.maximum(alpha, frame * ceiling)
    for j, (k, _, _, box, lh, lw) in enumerate(todo):
        # a hand over the face stays in front, cut out in image space (swap.film.hands)
        hands = track.hands_at(int(indices[k]))
        cut = None if hands is None else hand_mask(hands, box, (lw, lh))
        if cut is not None:
            alpha[j, 0, :lh, :lw] *= torch.from_numpy(1.0 - cut).to(dev)
    uv_np = (uv * cov.permute(0, 2, 3, 1)).cpu().numpy()
    light_np = (light * cov).permute(0, 2, 3, 1).cpu().numpy()
    alpha_np = alpha[:, 0].cpu().numpy()
    cov_np = cov[:, 0].cpu().numpy()
    for j, (k, _, _, box, lh, lw) in enumerate(todo):
        out[k] = FaceFields(
            box,
            np.ascontiguousarray(uv_np[j, :lh, :lw]),
            np.ascontiguousarray(light_np[j, :lh, :lw]),
            np.ascontiguousarray(alpha_np[j, :lh, :lw]),
            np.ascontiguousarray(cov_np[j, :lh, :lw]),
        )
    return out


def _without_frame(target: TargetFace, frame: FloatArray) -> TargetFace:
    """`target` with its detail and occlusion neutral around the actor's glasses (`maps_without_frame`)."""
    detail, occlusion = maps_without_frame(target.detail, target.occlusion, frame)
    return replace(target, detail=detail, occlusion=occlusion)


class FieldsReader:
    """Random access to a fields file whose key matches (`swap.film.framecache`); `get(i)` reads one
    frame's record."""

    def __init__(self, frames: FrameFileReader) -> None:
        self.path = frames.path
        self._frames = frames

    @classmethod
    def open(cls, path: Path, key: bytes, frames: int) -> FieldsReader | None:
        """The reader, or None when the file is missing, damaged, of another version or stale."""
        opened = FrameFileReader.open(
            path, magic=MAGIC, version=FORMAT_VERSION, key=key, frames=frames, cols=_INDEX_COLS
        )
        return None if opened is None else cls(opened)

    def get(self, i: int) -> FaceFields | None:
        row = self._frames.row(i)
        if row is None:
            return None
        x0, y0, x1, y1, lh, lw, _ = row
        return FaceFields.decode((x0, y0, x1, y1), lh, lw, self._frames.record(i, FaceFields.nbytes(lh, lw)))

    def close(self) -> None:
        self._frames.close()


class FieldsWriter:
    """Writes the fields of a film frame by frame (during its first render); `commit()` publishes the
    file atomically (`swap.film.framecache`: concurrent renders of a film never read half a file; a
    directory that cannot be written just means no cache)."""

    def __init__(self, frames: FrameFileWriter) -> None:
        self.path = frames.path
        self._frames = frames

    @classmethod
    def open(cls, path: Path, key: bytes, frames: int) -> FieldsWriter | None:
        opened = FrameFileWriter.open(
            path, magic=MAGIC, version=FORMAT_VERSION, key=key, frames=frames, cols=_INDEX_COLS
        )
        return None if opened is None else cls(opened)

    def put(self, i: int, fields: FaceFields | None) -> None:
        if fields is None:
            return
        lh, lw = fields.alpha.shape
        self._frames.put(i, (*fields.box, lh, lw, 0), fields.encode())

    def commit(self) -> None:
        self._frames.commit()

    def abort(self) -> None:
        self._frames.abort()


def build_fields(
    film_path: Path | str,
    track: FilmTrack,
    device: str | None = None,
    batch: int = 16,
    glasses: GlassesMode = DEFAULT_GLASSES,
) -> Path | None:
    """Compute and cache the fields of every covered frame beside the film (ingest calls this, so even
    the first visitor's render only reads them). Returns the file, or None when the directory is not
    writable (renders then compute the fields themselves)."""
    dev = device or ("cuda" if torch.cuda.is_available() else "cpu")
    path = fields_path(film_path)
    writer = FieldsWriter.open(path, fields_key(track, glasses), track.frames)
    if writer is None:
        return None
    try:
        covered = [int(i) for i in np.flatnonzero(track.covered)]
        for start in range(0, len(covered), batch):
            chunk = covered[start : start + batch]
            for i, ff in zip(chunk, compute_fields(track, chunk, dev, glasses), strict=True):
                writer.put(i, ff)
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    return path


def motion_kernel(motion: tuple[float, float] | None) -> FloatArray | None:
    """A normalised line kernel for the blur a camera gives a face moving `motion` px per frame
    (`SHUTTER` of the frame interval exposed), or None where it would be under `MIN_BLUR_PX`."""
    if motion is None:
        return None
    vx, vy = motion
    length = SHUTTER * float(np.hypot(vx, vy))
    if length < MIN_BLUR_PX:
        return None
    length = min(length, MAX_BLUR_PX)
    size = int(np.ceil(length)) | 1
    kernel = np.zeros((size, size), np.float32)
    c = size // 2
    ux, uy = vx / np.hypot(vx, vy), vy / np.hypot(vx, vy)
    t = np.linspace(-length / 2, length / 2, 4 * size)
    rows = np.clip(np.rint(c + t * uy).astype(np.int64), 0, size - 1)
    cols = np.clip(np.rint(c + t * ux).astype(np.int64), 0, size - 1)
    np.add.at(kernel, (rows, cols), 1.0)
    return kernel / kernel.sum()


def composite_fields(
    yuv: npt.NDArray[np.uint8],
    fields: FaceFields,
    texture: FloatArray,
    blend: str | None = None,
    motion: tuple[float, float] | None = None,
) -> bool:
    """Swap a visitor's face into one I420 frame (H*3/2, W) in place, from the film's fields.

    `texture` is the visitor's detail texture (S, S, 3) float32 (`swap.shading.visitor_detail`). The
    rendered face (visitor texture x film light) is converted to I420 and blended plane by plane in
    the crop (luma at full resolution, chroma at half, `swap.blend`'s mode and pyramid): the blend is
    linear, so blending in YUV equals blending in RGB, at half the pixels and without converting the
    film's own pixels at all (pixels the blend leaves alone keep their decoded bytes). Returns whether
    the frame has a face crop.

    `motion` (px per frame, the face's) blurs the rendered face as the camera blurred the actor's: a
    sharp face on a motion-blurred frame reads as two faces at once.
    """
    height = yuv.shape[0] * 2 // 3
    width = yuv.shape[1]
    x0, y0, x1, y1 = fields.box
    ch, cw = y1 - y0, x1 - x0
    if ch < 2 or cw < 2:
        return False
    flat = yuv.reshape(-1)
    n = height * width
    luma = yuv[y0:y1, x0:x1]
    chroma = [
        flat[n : n + n // 4].reshape(height // 2, width // 2)[y0 // 2 : y1 // 2, x0 // 2 : x1 // 2],
        flat[n + n // 4 :].reshape(height // 2, width // 2)[y0 // 2 : y1 // 2, x0 // 2 : x1 // 2],
    ]
    maps, light, cov_alpha = _extended(fields, texture.shape[0])
    if cov_alpha.shape[:2] != (ch, cw):
        maps, light, cov_alpha = (
            np.asarray(cv2.resize(x, (cw, ch), interpolation=cv2.INTER_LINEAR), np.float32)
            for x in (maps, light, cov_alpha)
        )
    tex = cv2.remap(texture, maps, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)  # type: ignore[call-overload]
    # colour >= 0, so convertScaleAbs is a saturating round to uint8 (one SIMD pass)
    shaded = cv2.multiply(tex, light)
    kernel = motion_kernel(motion)
    if kernel is not None:
        shaded = cv2.filter2D(shaded, -1, kernel, borderType=cv2.BORDER_REPLICATE)
    rendered = cv2.cvtColor(cv2.convertScaleAbs(shaded), cv2.COLOR_RGB2YUV_I420)
    covered = (cov_alpha[..., 0] > 0.5).astype(np.float32)
    alpha = np.ascontiguousarray(cov_alpha[..., 1])
    half = (cw // 2, ch // 2)
    # luma: full resolution
    target_y = luma.astype(np.float32)
    delta_y = (rendered[:ch].astype(np.float32) - target_y) * covered
    luma[...] = _to_uint8(target_y + blend_delta(delta_y, alpha, blend))
    # chroma: half resolution, coverage and alpha averaged over each 2x2 block
    pn = ch * cw
    rflat = rendered.reshape(-1)
    rendered_uv = np.stack(
        [
            rflat[pn : pn + pn // 4].reshape(ch // 2, cw // 2),
            rflat[pn + pn // 4 :].reshape(ch // 2, cw // 2),
        ],
        axis=2,
    ).astype(np.float32)
    target_uv = np.stack(chroma, axis=2).astype(np.float32)
    cov_h = np.asarray(cv2.resize(covered, half, interpolation=cv2.INTER_AREA), np.float32)
    alpha_h = np.asarray(cv2.resize(alpha, half, interpolation=cv2.INTER_AREA), np.float32)
    delta_uv = (rendered_uv - target_uv) * cov_h[..., None]
    mixed_uv = _to_uint8(target_uv + blend_delta(delta_uv, alpha_h, blend))
    chroma[0][...] = mixed_uv[..., 0]
    chroma[1][...] = mixed_uv[..., 1]
    return True


def _to_uint8(x: FloatArray) -> npt.NDArray[np.uint8]:
    """Round and saturate to 0..255 (in place, then one SIMD pass instead of numpy's clip + add + cast)."""
    return np.asarray(cv2.convertScaleAbs(np.maximum(x, 0.0, out=x)), np.uint8)


def _extended(fields: FaceFields, size: int) -> tuple[FloatArray, FloatArray, FloatArray]:
    """The stored (coverage-premultiplied) fields as remap coordinates, light x 255 and (coverage, alpha),
    with the ring of texels just outside the coverage filled from their covered neighbours.

    Stored coverage is 0/1, so inside the face this is the stored value, and plain bilinear upsampling
    of the result equals the renderer's coverage-normalised upsampling wherever the four texels are
    covered; at the silhouette it extrapolates by one texel instead. Done at the stored resolution
    (~26k texels), it saves the per-pixel normalisation at full resolution.
    """
    cov = fields.cov
    pre = np.concatenate([fields.uv * size, fields.light * 255.0], axis=2)  # premultiplied (cov is 0/1)
    num = cv2.boxFilter(pre, -1, (3, 3), normalize=False, borderType=cv2.BORDER_CONSTANT)
    den = cv2.boxFilter(cov, -1, (3, 3), normalize=False, borderType=cv2.BORDER_CONSTANT)
    ring = (cov < 0.5) & (den > 0.5)
    pre[ring] = num[ring] / den[ring][:, None]
    maps = np.ascontiguousarray(pre[..., 0:2] - 0.5)
    light = np.ascontiguousarray(pre[..., 2:5])
    return maps, light, np.ascontiguousarray(np.stack([cov, fields.alpha], axis=2))


# ---- blending in the crop (OpenCV): the same pyramid as swap.blend, on the difference only ----------

_KERNEL = np.array([1.0, 4.0, 6.0, 4.0, 1.0], np.float32) / 16.0


def _down(x: FloatArray) -> FloatArray:
    blurred = cv2.sepFilter2D(x, -1, _KERNEL, _KERNEL, borderType=cv2.BORDER_REPLICATE)
    return np.ascontiguousarray(blurred[::2, ::2])


def _up(x: FloatArray, shape: tuple[int, ...]) -> FloatArray:
    return np.asarray(cv2.resize(x, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR), np.float32)


def _pyramid_delta(delta: FloatArray, alpha: FloatArray, levels: int) -> FloatArray:
    """`pyramid_blend(target, target + delta, alpha) - target`: the blend is linear and its bands
    telescope, so only the difference image needs a pyramid (half the work of blending two images)."""
    gd, gm = [delta], [alpha]
    for _ in range(levels):
        if min(gd[-1].shape[:2]) < 8:
            break
        gd.append(_down(gd[-1]))
        gm.append(_down(gm[-1]))
    out = _bc(gm[-1], gd[-1]) * gd[-1]
    for k in range(len(gd) - 2, -1, -1):
        shape = gd[k].shape
        out = _up(out, shape) + _bc(gm[k], gd[k]) * (gd[k] - _up(gd[k + 1], shape))
    return out


def _bc(alpha: FloatArray, like: FloatArray) -> FloatArray:
    """Alpha (H, W) broadcast against an image (H, W) or (H, W, C)."""
    return alpha[..., None] if like.ndim == 3 else alpha


def blend_delta(delta: FloatArray, alpha: FloatArray, mode: str | None = None) -> FloatArray:
    """What `swap.blend.blend_crops(target, target + delta, alpha, mode)` adds to the target, for one
    (H, W) or (H, W, C) crop with alpha (H, W), in OpenCV (~5x faster on CPU than torch's grouped conv2d on a
    crop this small). Same kernel, borders, levels and large-crop shortcut as `swap.blend`."""
    from swap import blend as sb

    if (mode or sb.BLEND_MODE) != "pyramid":
        return _bc(alpha, delta) * delta
    h, w = alpha.shape
    factor = 1
    while max(h, w) / factor > sb.PYRAMID_MAX_SIDE:
        factor *= 2
    if factor == 1:
        return _pyramid_delta(delta, alpha, sb.PYRAMID_LEVELS)
    levels = max(1, sb.PYRAMID_LEVELS - (factor.bit_length() - 1))
    small = (max(1, w // factor), max(1, h // factor))
    d_s = np.asarray(cv2.resize(delta, small, interpolation=cv2.INTER_AREA), np.float32)
    a_s = np.asarray(cv2.resize(alpha, small, interpolation=cv2.INTER_AREA), np.float32)
    correction = _pyramid_delta(d_s, a_s, levels) - _bc(a_s, d_s) * d_s
    return _bc(alpha, delta) * delta + _up(correction, delta.shape)
