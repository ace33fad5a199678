"""A small triangle rasteriser in torch: z-buffer, back-face culling, batched, CUDA when present.

Why hand-written: the engine needs per-pixel (triangle, barycentric) lookups for a few thousand
small triangles in a face-sized crop, for many frames at once, on machines with and without a GPU.
Graphics APIs are unavailable on servers and a Python loop over triangles is far too slow, so the
rasteriser is expressed as a handful of vectorised tensor operations:

1. each triangle's integer bounding box (clipped to the canvas) gives ``w*h`` candidate pixels;
   ``repeat_interleave`` expands every triangle into its candidate (pixel, triangle) pairs;
2. barycentric coordinates of each candidate pixel centre; candidates outside the triangle are dropped;
3. a z-buffer: ``scatter_reduce(amin)`` of the interpolated depth per pixel, and the candidate whose
   depth equals the pixel's minimum wins;
4. triangles facing away from the camera (negative signed area in image space) are culled before
   any of this, which also halves the work on a turned head.

Conventions: pixel ``(x, y)`` has its centre at integer coordinates ``(x, y)``, like OpenCV's remap;
y points down; depth grows away from the camera (Face Mesh's z). Front faces are counter-clockwise
on screen with y down, which is how `swap.topology` orients the mesh.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

# a pixel exactly on a shared edge belongs to both triangles; the z-buffer then picks one
_INSIDE_EPS = -1e-5


@dataclass(frozen=True)
class Raster:
    """Per-pixel rasterisation result.

    `triangle` (B, H, W) int64: index of the visible triangle, -1 where no triangle covers the pixel.
    `bary` (B, H, W, 3) float32: barycentric weights of the pixel centre in that triangle (0 where empty).
    """

    triangle: torch.Tensor
    bary: torch.Tensor

    @property
    def covered(self) -> torch.Tensor:
        """(B, H, W) bool: pixels that some triangle covers."""
        return self.triangle >= 0


def signed_area2(xy: torch.Tensor, triangles: torch.Tensor) -> torch.Tensor:
    """Twice the signed screen area of each triangle, (B, T); positive = front-facing (CCW with y down).

    With y pointing down, a triangle that looks counter-clockwise to a viewer has a negative
    ``(b-a) x (c-a)``; the sign is flipped so that front faces come out positive.
    """
    a, b, c = xy[:, triangles[:, 0]], xy[:, triangles[:, 1]], xy[:, triangles[:, 2]]
    cross = (b[..., 0] - a[..., 0]) * (c[..., 1] - a[..., 1]) - (b[..., 1] - a[..., 1]) * (
        c[..., 0] - a[..., 0]
    )
    return -cross


def rasterize(
    xy: torch.Tensor,
    depth: torch.Tensor,
    triangles: torch.Tensor,
    height: int,
    width: int,
    *,
    cull_backfaces: bool = True,
) -> Raster:
    """Rasterise B meshes that share one triangle list onto B canvases of `height` x `width` pixels.

    `xy` (B, V, 2) vertex positions in canvas pixels, `depth` (B, V) (smaller = nearer), `triangles`
    (T, 3) int64 vertex indices. All tensors must be on the same device; the result is on it too.
    """
    if xy.ndim != 3 or xy.shape[-1] != 2:
        raise ValueError(f"xy must be (B, V, 2), got {tuple(xy.shape)}")
    device = xy.device
    bsz, n_tri = xy.shape[0], triangles.shape[0]
    xy = xy.float()
    depth = depth.float()
    tri_xy = xy[:, triangles]  # (B, T, 3, 2)
    area2 = signed_area2(xy, triangles)  # (B, T)
    usable = area2.abs() > 1e-8
    if cull_backfaces:
        usable &= area2 > 0
    x0 = tri_xy[..., 0].amin(-1).ceil().clamp(0, width - 1).long()
    x1 = tri_xy[..., 0].amax(-1).floor().clamp(-1, width - 1).long()
    y0 = tri_xy[..., 1].amin(-1).ceil().clamp(0, height - 1).long()
    y1 = tri_xy[..., 1].amax(-1).floor().clamp(-1, height - 1).long()
    bw = (x1 - x0 + 1).clamp(min=0)
    bh = (y1 - y0 + 1).clamp(min=0)
    # a triangle entirely off-canvas has an empty box after clipping (x1 < x0 once clamped)
    offscreen = (tri_xy[..., 0].amax(-1) < 0) | (tri_xy[..., 1].amax(-1) < 0)
    offscreen |= (tri_xy[..., 0].amin(-1) > width - 1) | (tri_xy[..., 1].amin(-1) > height - 1)
    counts = torch.where(usable & ~offscreen, bw * bh, torch.zeros_like(bw)).reshape(-1)

    n_pix = bsz * height * width
    tri_map = torch.full((n_pix,), -1, dtype=torch.long, device=device)
    bary_map = torch.zeros((n_pix, 3), dtype=torch.float32, device=device)
    total = int(counts.sum())
    if total == 0:
        return Raster(tri_map.view(bsz, height, width), bary_map.view(bsz, height, width, 3))

    # per triangle: the three edge functions and the depth as planes a*x + b*y + c (one gather later)
    ax, ay = tri_xy[..., 0, 0], tri_xy[..., 0, 1]
    bx, by = tri_xy[..., 1, 0], tri_xy[..., 1, 1]
    cx, cy = tri_xy[..., 2, 0], tri_xy[..., 2, 1]
    inv = 1.0 / torch.where(area2.abs() > 1e-8, area2, torch.ones_like(area2))

    def plane(
        px0: torch.Tensor, py0: torch.Tensor, px1: torch.Tensor, py1: torch.Tensor
    ) -> list[torch.Tensor]:
        # w = -((x1-x0)*(y-y0) - (y1-y0)*(x-x0)) / area2, written as a*x + b*y + c
        ca = (py1 - py0) * inv
        cb = -(px1 - px0) * inv
        return [ca, cb, -(ca * px0 + cb * py0)]

    planes = plane(bx, by, cx, cy) + plane(cx, cy, ax, ay) + plane(ax, ay, bx, by)
    zt = depth[:, triangles]  # (B, T, 3)
    coef = torch.stack(planes, dim=-1).reshape(bsz * n_tri, 9)
    zcoef = zt.reshape(bsz * n_tri, 3)
    ints = torch.stack([x0.reshape(-1), y0.reshape(-1), bw.reshape(-1)], dim=1)

    flat_id = torch.repeat_interleave(torch.arange(bsz * n_tri, device=device), counts)
    starts = torch.cumsum(counts, 0) - counts
    local = torch.arange(total, device=device) - torch.index_select(starts, 0, flat_id)
    box = torch.index_select(ints, 0, flat_id)
    px = box[:, 0] + local % box[:, 2]
    py = box[:, 1] + torch.div(local, box[:, 2], rounding_mode="floor")
    c = torch.index_select(coef, 0, flat_id)
    pxf, pyf = px.float(), py.float()
    w0 = c[:, 0] * pxf + c[:, 1] * pyf + c[:, 2]
    w1 = c[:, 3] * pxf + c[:, 4] * pyf + c[:, 5]
    w2 = c[:, 6] * pxf + c[:, 7] * pyf + c[:, 8]
    inside = (w0 >= _INSIDE_EPS) & (w1 >= _INSIDE_EPS) & (w2 >= _INSIDE_EPS)
    sel = inside.nonzero().squeeze(1)
    if sel.numel() == 0:
        return Raster(tri_map.view(bsz, height, width), bary_map.view(bsz, height, width, 3))
    bary = torch.stack([w0, w1, w2], dim=1).index_select(0, sel)
    fid = flat_id.index_select(0, sel)
    b_idx = torch.div(fid, n_tri, rounding_mode="floor")
    t_idx = fid - b_idx * n_tri
    pix = b_idx * (height * width) + py.index_select(0, sel) * width + px.index_select(0, sel)
    z = (bary * torch.index_select(zcoef, 0, fid)).sum(dim=1)

    zbuf = torch.full((n_pix,), float("inf"), dtype=torch.float32, device=device)
    zbuf.scatter_reduce_(0, pix, z, reduce="amin", include_self=True)
    win = (z <= zbuf.index_select(0, pix)).nonzero().squeeze(1)
    pix_w = pix.index_select(0, win)
    tri_map[pix_w] = t_idx.index_select(0, win)
    bary_map[pix_w] = bary.index_select(0, win)
    return Raster(tri_map.view(bsz, height, width), bary_map.view(bsz, height, width, 3))


def interpolate(raster: Raster, attributes: torch.Tensor, triangles: torch.Tensor) -> torch.Tensor:
    """Interpolate per-vertex `attributes` (B or 1, V, C) at every pixel -> (B, H, W, C); 0 where empty.

    Ties in the z-buffer (a pixel on a shared edge) may pick either triangle; both give the same
    value there, so the result is well defined.
    """
    tri = raster.triangle.clamp(min=0)  # (B, H, W)
    bsz = tri.shape[0]
    corner_ids = triangles[tri]  # (B, H, W, 3)
    attrs = attributes.expand(bsz, -1, -1) if attributes.shape[0] == 1 else attributes
    b_ix = torch.arange(bsz, device=tri.device).view(bsz, 1, 1, 1)
    corners = attrs[b_ix, corner_ids]  # (B, H, W, 3, C)
    out = (corners * raster.bary.unsqueeze(-1)).sum(dim=3)
    return out * raster.covered.unsqueeze(-1).to(out.dtype)
