"""Shape transfer: the visitor's proportions on the target, the target's expression kept."""

from __future__ import annotations

import numpy as np

from swap.render import eye_openness
from swap.shape import FilmShape, identity_offsets, warp_image

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
