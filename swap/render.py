"""Put a visitor's face asset into target images: the batched renderer.

How a swap works (see `swap/README.md` for the whole flow):

* Every face is described in one fixed UV layout (`swap.topology`, maths in `swap.uv`), so a texture
  made from the visitor's photo can be mapped onto any target pose through the target's Face Mesh
  landmarks.
* A target (poster, film frame) is prepared once (`swap.target.prepare_target`): its landmarks, its
  light map and what hangs in front of the face.
* `FaceRenderer.render` rasterises the mesh in each target's pose (torch, z-buffer, back-face culling,
  batched; CUDA when present), looks up the relit texture and a UV-space alpha mask per pixel
  (`swap.shading`), and blends in the face crop (`swap.blend`). `face_box` says which region a render
  may change; `crop_box` is the crop around the face that the renderer and the film fields share.

The eye openings hold the visitor's eyes (the mesh's eye fans), faded to the target's own eye as its
lids close; the inner mouth is a hole, so the target's teeth and tongue are kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F

from swap.blend import blend_crops
from swap.landmarks import FaceLandmarks, landmark_points
from swap.mesh import RenderMesh, render_mesh
from swap.raster import interpolate, rasterize
from swap.shading import swap_light_alpha, visitor_detail
from swap.shape import identity_offsets, warp_box, warp_image
from swap.target import RASTER_FACE_PX, TargetFace
from swap.uv import MESH_LEVEL, eye_regions, uv_alpha

if TYPE_CHECKING:
    from swap.asset import FaceAsset

FloatArray = npt.NDArray[np.float32]

# ---- tuning (each one was measured; see swap/README.md "Measured choices") -------------------------
CROP_MARGIN = 0.06  # crop around the face bbox, fraction of its size (room for the blend)


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
        # Everything from here on is in crop coordinates, so that a poster's face region and the same
        # region of a full frame give the same pixels to the last bit.
        regions: list[npt.NDArray[np.uint8]] = []  # per face: its (warped) render box
        inner: list[tuple[int, int, int, int]] = []  # the face's own crop inside it: what is shaded
        local_targets = []
        for k, (x0, y0, x1, y1) in enumerate(boxes_):
            region = frames[idx[k], y0:y1, x0:x1]
            local = np.array(targets[k].landmarks, np.float32) - np.array([x0, y0, 0], np.float32)
            if self._shape is not None:
                # the visitor's proportions: move the target's face (and its surroundings) first,
                # then render the texture on the moved landmarks; a cross-fade fades the shape too
                offsets = identity_offsets(self._shape, local) * np.float32(min(1.0, targets[k].strength))
                region = warp_image(region, local, offsets)
                local = local + offsets
            # the warp reaches a quarter face width beyond the outline, the face only its own crop:
            # shading and blending the whole warp box would cost twice the pixels for nothing
            face = crop_box(self.mesh.positions(local), x1 - x0, y1 - y0) or (0, 0, x1 - x0, y1 - y0)
            regions.append(np.array(region))
            inner.append(face)
            shift = np.array([face[0], face[1], 0], np.float32)
            local_targets.append(replace(targets[k], landmarks=local - shift))
        ch = max(b[3] - b[1] for b in inner)
        cw = max(b[2] - b[0] for b in inner)
        bsz = len(idx)
        crops = np.zeros((bsz, ch, cw, 3), np.uint8)
        for k, (fx0, fy0, fx1, fy1) in enumerate(inner):
            crops[k, : fy1 - fy0, : fx1 - fx0] = regions[k][fy0:fy1, fx0:fx1]
        pts = np.stack([self.mesh.positions(t.landmarks) for t in local_targets])  # (B, V, 3)
        colour, alpha, covered = self._shade(pts, np.zeros((bsz, 2), np.float32), ch, cw, local_targets)
        crop_t = torch.from_numpy(crops).to(self.device).permute(0, 3, 1, 2).float() / 255.0
        rendered = torch.where(covered, colour, crop_t)  # outside the mesh: the target itself
        blended = blend_crops(crop_t, rendered, alpha)
        result = (blended * 255.0 + 0.5).clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
        for k, (x0, y0, x1, y1) in enumerate(boxes_):
            fx0, fy0, fx1, fy1 = inner[k]
            regions[k][fy0:fy1, fx0:fx1] = result[k, : fy1 - fy0, : fx1 - fx0]
            out[idx[k], y0:y1, x0:x1] = regions[k]

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


def render_uv_map(
    landmarks: FaceLandmarks | npt.NDArray[np.floating[Any]], image_size: tuple[int, int], uv_map: FloatArray
) -> FloatArray:
    """Draw a UV-space map (S, S) or (S, S, C) onto an image of `image_size` (w, h) in the face's pose.

    Used for the debug mask and by the quality metrics; 0 where the mesh does not cover a pixel.
    """
    mesh = render_mesh(MESH_LEVEL)
    pts = mesh.positions(landmark_points(landmarks))
    w, h = image_size
    m = uv_map if uv_map.ndim == 3 else uv_map[..., None]
    out = np.zeros((h, w, m.shape[2]), np.float32)
    box = crop_box(pts, w, h)
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
    pts = landmark_points(landmarks)
    box = crop_box(mesh.positions(pts), width, height)
    if box is None:
        return None
    wx0, wy0, wx1, wy1 = warp_box(pts, width, height)
    return min(box[0], wx0), min(box[1], wy0), max(box[2], wx1), max(box[3], wy1)


def crop_box(points: FloatArray, width: int, height: int) -> tuple[int, int, int, int] | None:
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
