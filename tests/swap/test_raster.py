"""The scanline rasteriser gives the box scan's covered pixels, triangles and weights, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from swap.mesh import render_mesh
from swap.raster import Raster, interpolate, rasterize, signed_area2

INSIDE_EPS = -1e-5


def _box_scan(
    xy: torch.Tensor,
    depth: torch.Tensor,
    triangles: torch.Tensor,
    height: int,
    width: int,
    *,
    cull_backfaces: bool = True,
) -> Raster:
    """The box-scan rasteriser this module used before the scanline one (each triangle's whole
    bounding box tested): the reference the scanline rasteriser must equal."""
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
    inside = (w0 >= INSIDE_EPS) & (w1 >= INSIDE_EPS) & (w2 >= INSIDE_EPS)
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


def _gather_interpolate(raster: Raster, attributes: torch.Tensor, triangles: torch.Tensor) -> torch.Tensor:
    """The interpolation this module used before (two dense gathers per pixel)."""
    tri = raster.triangle.clamp(min=0)  # (B, H, W)
    bsz = tri.shape[0]
    corner_ids = triangles[tri]  # (B, H, W, 3)
    attrs = attributes.expand(bsz, -1, -1) if attributes.shape[0] == 1 else attributes
    b_ix = torch.arange(bsz, device=tri.device).view(bsz, 1, 1, 1)
    corners = attrs[b_ix, corner_ids]  # (B, H, W, 3, C)
    out = (corners * raster.bary.unsqueeze(-1)).sum(dim=3)
    return out * raster.covered.unsqueeze(-1).to(out.dtype)


def _soup(seed: int, batch: int, n_tri: int, size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Overlapping triangles of all sizes, some off the canvas, some slivers with a near-horizontal
    or near-vertical edge, some degenerate."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(-0.2 * size, 1.2 * size, (batch, n_tri, 1, 2))
    spread = rng.choice([0.3, 2.0, 8.0, 0.4 * size], (batch, n_tri, 1, 1))
    xy = (centres + rng.normal(0.0, 1.0, (batch, n_tri, 3, 2)) * spread).astype(np.float32)
    sliver = rng.random((batch, n_tri)) < 0.1
    xy[..., 1, 1] = np.where(sliver, xy[..., 0, 1] + rng.normal(0, 1e-4, (batch, n_tri)), xy[..., 1, 1])
    upright = rng.random((batch, n_tri)) < 0.1
    xy[..., 2, 0] = np.where(upright, xy[..., 1, 0] + 1e-6, xy[..., 2, 0])
    xy[:, :5, 1] = xy[:, :5, 0]  # degenerate: two corners equal
    xy[:, 5:9] = np.round(xy[:, 5:9])  # corners (and edges) exactly on pixel centres
    depth = rng.uniform(-1.0, 1.0, (batch, n_tri * 3)).astype(np.float32)
    triangles = torch.arange(n_tri * 3).view(n_tri, 3)
    return torch.from_numpy(xy.reshape(batch, -1, 2)), torch.from_numpy(depth), triangles


def _face(seed: int, batch: int, face_px: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The render mesh's UV layout with a nose-like bump, turned and shifted at random, `face_px` wide:
    a turned bump hides part of the cheek behind it, so the z-buffer decides there."""
    mesh = render_mesh(0)
    rng = np.random.default_rng(seed)
    u, v = mesh.uv[:, 0].astype(np.float64) - 0.5, mesh.uv[:, 1].astype(np.float64) - 0.5
    canon = np.stack([u, v, -0.4 * np.exp(-(u**2 + v**2) / 0.02)], axis=1)
    out_xy, out_z = [], []
    for _ in range(batch):
        yaw, pitch, roll = rng.uniform(-0.8, 0.8), rng.uniform(-0.4, 0.4), rng.uniform(-0.5, 0.5)
        rz = np.array([[np.cos(roll), -np.sin(roll), 0], [np.sin(roll), np.cos(roll), 0], [0, 0, 1]])
        ry = np.array([[np.cos(yaw), 0, np.sin(yaw)], [0, 1, 0], [-np.sin(yaw), 0, np.cos(yaw)]])
        rx = np.array([[1, 0, 0], [0, np.cos(pitch), -np.sin(pitch)], [0, np.sin(pitch), np.cos(pitch)]])
        pts = canon @ (rz @ ry @ rx).T * face_px + np.array([1.2 * face_px, 1.2 * face_px, 0.0])
        out_xy.append(pts[:, :2] + rng.uniform(-0.5, 0.5, 2))
        out_z.append(pts[:, 2])
    return (
        torch.from_numpy(np.stack(out_xy).astype(np.float32)),
        torch.from_numpy(np.stack(out_z).astype(np.float32)),
        torch.from_numpy(mesh.triangles),
    )


def _assert_same(got: Raster, want: Raster) -> None:
    assert torch.equal(got.covered, want.covered)
    assert torch.equal(got.triangle, want.triangle)
    assert torch.equal(got.bary, want.bary)


@pytest.mark.parametrize("cull", [True, False])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_scanline_raster_of_overlapping_slivers_and_offcanvas_triangles_equals_the_box_scan(
    seed: int, cull: bool
) -> None:
    xy, depth, triangles = _soup(seed, batch=3, n_tri=400, size=64)
    got = rasterize(xy, depth, triangles, 48, 64, cull_backfaces=cull)
    want = _box_scan(xy, depth, triangles, 48, 64, cull_backfaces=cull)
    assert int(want.covered.sum()) > 1000
    _assert_same(got, want)


@pytest.mark.parametrize("face_px", [40.0, 128.0, 320.0])
def test_scanline_raster_of_a_turned_face_equals_the_box_scan(face_px: float) -> None:
    xy, depth, triangles = _face(int(face_px), batch=4, face_px=face_px)
    size = int(2.4 * face_px)
    got = rasterize(xy, depth, triangles, size, size)
    want = _box_scan(xy, depth, triangles, size, size)
    assert int(want.covered.sum()) > 0.2 * face_px * face_px * 4
    _assert_same(got, want)


def test_interpolation_equals_the_dense_gather_for_shared_and_per_frame_attributes() -> None:
    xy, depth, triangles = _face(7, batch=3, face_px=100.0)
    raster = rasterize(xy, depth, triangles, 240, 240)
    shared = torch.from_numpy(render_mesh(0).uv).unsqueeze(0)
    per_frame = torch.cat([xy, depth.unsqueeze(-1)], dim=-1)
    for attributes in (shared, per_frame, per_frame.double()):
        got = interpolate(raster, attributes, triangles)
        want = _gather_interpolate(raster, attributes, triangles)
        assert got.dtype == want.dtype and got.shape == want.shape
        assert torch.equal(got, want)


def test_nothing_on_the_canvas_gives_an_empty_raster() -> None:
    xy = torch.tensor([[[-10.0, -10.0], [-5.0, -10.0], [-5.0, -4.0]]])
    raster = rasterize(xy, torch.zeros(1, 3), torch.tensor([[0, 2, 1]]), 8, 8, cull_backfaces=False)
    assert not raster.covered.any() and not raster.bary.any()
    assert not interpolate(raster, torch.ones(1, 3, 2), torch.tensor([[0, 2, 1]])).any()
