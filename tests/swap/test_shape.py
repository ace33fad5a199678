"""Shape transfer: the visitor's proportions on the target, the target's expression kept."""

from __future__ import annotations

import numpy as np

from swap.shading import eye_openness
from swap.shape import (
    FilmShape,
    FilmWarp,
    _grid_inverse,
    _upsample,
    even_warp_box,
    identity_offsets,
    warp_i420_field,
    warp_image,
)

from .render_fixtures import analysis_of


def _astronaut() -> np.ndarray:
    return analysis_of("astronaut").landmarks.points.astype(np.float32)


def test_a_face_gives_itself_no_offsets_whatever_its_pose_and_size() -> None:
    pts = _astronaut()
    angle = np.deg2rad(12)
    rot = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    moved = (pts @ rot.T * 1.7 + np.array([40, -25, 3])).astype(np.float32)
    face_w = float(np.ptp(pts[:468, 0]))
    assert np.abs(identity_offsets(moved, pts)).max() < 1e-3 * face_w


def test_a_wider_face_widens_the_target_but_an_open_mouth_does_not_open_it() -> None:
    target = _astronaut()
    visitor = target.copy()
    centre = visitor[:468, 0].mean()
    visitor[:, 0] = centre + (visitor[:, 0] - centre) * 1.08  # a broader face
    visitor[14, 1] += 15.0  # and the lower lip far down: an open mouth
    visitor[[17, 84, 314, 87, 317], 1] += 15.0
    moved = target + identity_offsets(visitor, target)
    width = lambda p: float(np.ptp(p[[234, 454], 0]))  # noqa: E731 (cheek to cheek)
    assert width(moved) > width(target) * 1.02
    gap = lambda p: float(p[14, 1] - p[13, 1])  # noqa: E731
    assert abs(gap(moved) - gap(target)) < 0.25 * abs(gap(visitor) - gap(target))


def test_the_target_keeps_its_lid_opening_so_blinks_follow_the_film() -> None:
    target = _astronaut()
    visitor = target.copy()
    for top, bottom in ((159, 145), (386, 374)):
        visitor[top, 1] -= 4.0  # a visitor with wide-open eyes
        visitor[bottom, 1] += 4.0
    moved = target + identity_offsets(visitor, target)
    assert np.allclose(eye_openness(moved), eye_openness(target), atol=0.02)


def test_zero_offsets_leave_the_image_untouched_and_offsets_move_only_near_the_face() -> None:
    a = analysis_of("astronaut")
    pts = a.landmarks.points.astype(np.float32)
    assert np.array_equal(warp_image(a.rgb, pts, np.zeros_like(pts)), a.rgb)
    offsets = np.zeros_like(pts)
    offsets[:, 0] = 6.0
    out = warp_image(a.rgb, pts, offsets)
    changed = np.abs(out.astype(int) - a.rgb).max(axis=2) > 0
    _ys, xs = np.nonzero(changed)
    face_w = float(np.ptp(pts[:468, 0]))
    assert xs.min() > pts[:468, 0].min() - 0.35 * face_w and xs.max() < pts[:468, 0].max() + 0.35 * face_w


def test_film_offsets_follow_the_frame_pose_and_fade_with_the_cross_fade() -> None:
    pts = _astronaut()
    visitor = pts.copy()
    visitor[:, 0] = pts[:468, 0].mean() + (pts[:, 0] - pts[:468, 0].mean()) * 1.06
    shape = FilmShape(visitor, [pts, pts + np.float32(1.0)])
    full = shape.offsets(pts, 1.0)
    assert np.abs(full).max() > 1.0
    assert np.allclose(shape.offsets(pts, 0.5), full * 0.5, atol=1e-4)
    assert np.abs(shape.offsets(pts, 0.0)).max() == 0.0
    doubled = (pts - pts[:468].mean(axis=0)) * 2 + pts[:468].mean(axis=0)
    assert np.allclose(np.abs(shape.offsets(doubled, 1.0)).max(), 2 * np.abs(full).max(), rtol=0.05)


def test_the_warp_lands_a_feature_where_its_offset_says_even_where_it_moves_against_its_neighbours() -> None:
    """A visitor's brows 14 px higher than the actor's over eyes that stay: a steep local field. A
    film renders the swap first and warps it after, so an inexact inverse moves the visitor's own
    brows to the wrong place (one fixed-point step was 13 px off on a real film)."""
    import cv2

    gh = gw = 64
    size = (320, 320)  # 5 px per grid node
    yy, xx = np.mgrid[0:gh, 0:gw].astype(np.float32)
    field = np.zeros((gh, gw, 2), np.float32)
    field[..., 1] = -14.0 * np.exp(-((xx - 32) ** 2 + (yy - 30) ** 2) / (2 * 2.2**2))  # up, 11 px sigma
    back = _grid_inverse(field, size)
    sx, sy = size[0] / gw, size[1] / gh
    # out(p) = in(p - back(p)), so back(p) must equal the forward field where p came from
    came_from = cv2.remap(field, xx - back[..., 0] / sx, yy - back[..., 1] / sy, cv2.INTER_LINEAR)
    assert float(np.abs(came_from - back).max()) < 0.5
    one_step = cv2.remap(field, xx - field[..., 0] / sx, yy - field[..., 1] / sy, cv2.INTER_LINEAR)
    one_came = cv2.remap(field, xx - one_step[..., 0] / sx, yy - one_step[..., 1] / sy, cv2.INTER_LINEAR)
    assert float(np.abs(one_came - one_step).max()) > 3.0  # what a single step leaves


def test_a_film_warp_fixed_once_moves_every_frame_like_a_still_warp() -> None:
    """FilmWarp triangulates the film's mean shape once; in a turned, scaled frame it must still move
    the face by the offsets (as the per-image warp does), and leave the frame alone far from the face."""
    pts = _astronaut()
    angle = np.deg2rad(10)
    rot = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    frame_pts = ((pts - pts.mean(axis=0)) @ rot.T * 0.8 + pts.mean(axis=0) + [12, 6, 0]).astype(np.float32)
    offsets = np.zeros_like(pts)
    offsets[:, 0] = 3.0 + 0.06 * (frame_pts[:, 0] - frame_pts[:468, 0].mean())  # shifted and widened
    offsets[:, 1] = 0.04 * (frame_pts[:, 1] - frame_pts[:468, 1].mean())  # and longer
    height, width = 512, 512
    box = even_warp_box(frame_pts, width, height)
    warp = FilmWarp(pts)
    grid = warp.field(warp.rasters([frame_pts], [box])[0], offsets)
    x0, y0, x1, y1 = box
    full = _upsample(grid, (x1 - x0, y1 - y0))
    for i in (1, 4, 33, 152, 263, 61, 291):
        x, y = frame_pts[i, :2] - (x0, y0)
        assert np.allclose(full[round(y), round(x)], offsets[i, :2], atol=0.5), i
    yuv = np.random.default_rng(0).integers(0, 255, (height * 3 // 2, width), dtype=np.uint8)
    before = yuv.copy()
    warp_i420_field(yuv, box, grid)
    assert np.array_equal(yuv[:y0], before[:y0]) and np.array_equal(yuv[:height, :x0], before[:height, :x0])
    assert not np.array_equal(yuv[y0:y1, x0:x1], before[y0:y1, x0:x1])


def test_a_film_warps_stored_raster_gives_the_field_of_the_exact_barycentric_blend() -> None:
    """`FilmWarp.field` gathers over the raster as cached (uint16 weights, int16 triangles): it must
    equal the float blend of the raster it came from, and be 0 beyond the outer ring."""
    import torch

    from swap.raster import rasterize
    from swap.shape import FILM_FIELD_PX

    pts = _astronaut()
    warp = FilmWarp(pts)
    box = even_warp_box(pts, 512, 512)
    offsets = np.random.default_rng(1).normal(0, 4, pts.shape).astype(np.float32)
    got = warp.field(warp.rasters([pts], [box])[0], offsets)
    g = FILM_FIELD_PX
    x0, y0, x1, y1 = box
    c = warp._controls(pts)
    c[:, :2] = (c[:, :2] - [x0, y0] + 0.5) * [g / (x1 - x0), g / (y1 - y0)] - 0.5
    xyz = torch.from_numpy(c[None])
    raster = rasterize(
        xyz[..., :2], xyz[..., 2], torch.from_numpy(warp.triangles), g, g, cull_backfaces=False
    )
    tri, bary = raster.triangle[0].numpy(), raster.bary[0].numpy()
    move = np.concatenate([offsets[:, :2], offsets[warp.ring_follow, :2] * warp.ring_weight[:, None]])
    expected = np.einsum("hwk,hwkc->hwc", bary, move[warp.triangles[np.maximum(tri, 0)]])
    expected[tri < 0] = 0.0
    assert (tri < 0).any() and (tri >= 0).mean() > 0.5
    assert np.abs(got - expected).max() < 1e-3  # px, for offsets of ~4 px
    assert np.all(got[tri < 0] == 0.0)


def test_a_uniform_field_shifts_the_i420_box_by_whole_pixels() -> None:
    """The remap's map is relative to the box: a constant field of (4, 2) px moves the luma inside the
    box by exactly that and each chroma plane by (2, 1), and leaves everything outside the box alone."""
    height, width = 240, 320
    yuv = np.random.default_rng(2).integers(0, 255, (height * 3 // 2, width), dtype=np.uint8)
    before = yuv.copy()
    box = (100, 60, 200, 180)
    field = np.zeros((16, 16, 2), np.float32)
    field[..., 0], field[..., 1] = 4.0, 2.0
    warp_i420_field(yuv, box, field)
    x0, y0, x1, y1 = box
    assert np.array_equal(yuv[y0:y1, x0:x1], before[y0 - 2 : y1 - 2, x0 - 4 : x1 - 4])
    u, u0 = (
        yuv[height:].reshape(-1)[: height * width // 4],
        before[height:].reshape(-1)[: height * width // 4],
    )
    u, u0 = u.reshape(height // 2, width // 2), u0.reshape(height // 2, width // 2)
    assert np.array_equal(
        u[y0 // 2 : y1 // 2, x0 // 2 : x1 // 2], u0[y0 // 2 - 1 : y1 // 2 - 1, x0 // 2 - 2 : x1 // 2 - 2]
    )
    outside = np.ones((height, width), bool)
    outside[y0:y1, x0:x1] = False
    assert np.array_equal(yuv[:height][outside], before[:height][outside])
