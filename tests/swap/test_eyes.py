"""The visitor's visible eye in the eye holes: rims grown to the lash line, each photo's edge fitted."""

from __future__ import annotations

import numpy as np
import pytest

from swap.eyes import _eye_geometry, _rim_distance, eye_edges, fit_visible_eyes
from swap.mesh import EYE_RIM_GROW, grow_eye_rims
from swap.topology import face_topology

from .render_fixtures import analysis_of, framed_astronaut

SIZE = 512
SKIN = np.array([0.8, 0.6, 0.5], np.float32)
SCLERA = np.array([0.95, 0.95, 0.95], np.float32)
LASHES = np.array([0.1, 0.08, 0.08], np.float32)


def _polar(size: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per eye: every texel's distance from the fan centre over the rim's along its ray, and its sin."""
    ys, xs = np.mgrid[0:size, 0:size]
    q = np.stack([(xs + 0.5) / size, (ys + 0.5) / size], axis=-1).reshape(-1, 2)
    out = []
    for centre, rim in _eye_geometry():
        d = q - centre
        r = np.linalg.norm(d, axis=1)
        dirs = d / np.maximum(r, 1e-12)[:, None]
        out.append(
            ((r / _rim_distance(centre, rim, dirs)).reshape(size, size), dirs[:, 1].reshape(size, size))
        )
    return out


def _eye_texture(upper_edge: float) -> np.ndarray:
    """Skin, with eyes whose sclera and a dark lash line reach `upper_edge` x the rim above the centre
    (blended to 1.0 at the corners) and the rim below it."""
    tex = np.broadcast_to(SKIN, (SIZE, SIZE, 3)).copy()
    for rho, sin in _polar(SIZE):
        edge = np.where(sin < 0, 1.0 + (upper_edge - 1.0) * np.abs(sin), 1.0)
        tex[rho < edge] = SCLERA
        tex[(rho >= edge - 0.08) & (rho < edge) & (sin < 0)] = LASHES
    return tex


def test_the_rims_grow_at_the_lids_middle_and_not_at_the_corners() -> None:
    pts = analysis_of("astronaut").landmarks.points.astype(np.float32)
    plain = np.concatenate([pts[:468], pts[[468, 473]]])
    grown = grow_eye_rims(plain)
    centre = plain[468, :2]
    for vertex, factor in ((159, EYE_RIM_GROW[0]), (145, EYE_RIM_GROW[1])):
        ratio = np.linalg.norm(grown[vertex, :2] - centre) / np.linalg.norm(plain[vertex, :2] - centre)
        assert ratio == pytest.approx(factor, abs=0.03)
    eye_width = float(np.linalg.norm(plain[33, :2] - plain[133, :2]))
    for corner in (33, 133, 362, 263):  # on the eye's axis: moved by the iris centre's offset from it only
        assert np.linalg.norm(grown[corner] - plain[corner]) < 0.01 * eye_width
    topo = face_topology()
    moved = np.flatnonzero(np.abs(grown - plain).max(axis=1) > 1e-4)
    assert set(moved) <= set(topo.right_eye_loop) | set(topo.left_eye_loop)
    assert np.array_equal(grown[:, 2], plain[:, 2])


def test_the_edge_search_finds_where_a_synthetic_eye_ends() -> None:
    for (angles, edge), expected in zip(eye_edges(_eye_texture(1.12)), (1.12, 1.12), strict=True):
        up = np.argmin(np.abs(angles - 1.5 * np.pi))  # y is down: 270 degrees is straight up
        side = np.argmin(np.abs(angles - 0.0))
        assert edge[up] == pytest.approx(expected, abs=0.04)
        assert edge[side] == pytest.approx(1.0, abs=0.01)


def test_the_fit_puts_the_lash_line_on_the_rim_and_leaves_the_rest_of_the_face() -> None:
    tex = _eye_texture(1.12)
    fitted = fit_visible_eyes(tex)
    polar = _polar(SIZE)
    far = np.logical_and.reduce([rho > 1.7 for rho, _ in polar])
    assert np.array_equal(fitted[far], tex[far])
    for rho, sin in polar:
        upper = sin < -0.9
        inside = upper & (rho > 0.95) & (rho < 0.99)
        beyond = upper & (rho > 1.02) & (rho < 1.1)
        # before: sclera and lashes beyond the rim; after: the lashes just inside it, skin beyond
        assert np.abs(tex[beyond] - SKIN).max(axis=1).mean() > 0.3
        assert np.abs(fitted[beyond] - SKIN).max(axis=1).mean() < 0.08
        assert np.abs(fitted[inside] - LASHES).max(axis=1).mean() < 0.25


def test_photos_with_glasses_are_not_fitted(monkeypatch: pytest.MonkeyPatch) -> None:
    import swap.asset as asset

    calls: list[int] = []
    monkeypatch.setattr(asset, "fit_visible_eyes", lambda a: calls.append(1) or a)
    bare, framed = framed_astronaut()
    asset.build_face_asset(bare)
    assert calls == [1]
    built = asset.build_face_asset(framed)
    assert "glasses" in built.warnings and calls == [1]
