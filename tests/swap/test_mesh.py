"""Render meshes: the sparse Face Mesh and its dense PN-triangle subdivision."""

from __future__ import annotations

from collections import Counter

import numpy as np

from swap.mesh import DENSE_LEVEL, render_mesh, vertex_normals
from swap.topology import face_topology, signed_areas

from .render_fixtures import analysis_of


def test_dense_mesh_has_at_least_30000_vertices_and_no_flipped_uv_triangle():
    m = render_mesh(DENSE_LEVEL)
    assert m.n_vertices >= 30_000
    assert len(m.triangles) == 852 * DENSE_LEVEL**2
    assert (signed_areas(m.uv * np.array([1, -1]), m.triangles) > 0).all()


def test_dense_mesh_is_watertight_like_the_sparse_one():
    m = render_mesh(DENSE_LEVEL)
    edges = Counter()
    for t in m.triangles:
        for k in range(3):
            a, b = int(t[k]), int(t[(k + 1) % 3])
            edges[(min(a, b), max(a, b))] += 1
    assert max(edges.values()) == 2  # no edge is shared by three triangles (no cracks, no overlaps)
    boundary = sum(1 for c in edges.values() if c == 1)
    sparse = face_topology()
    sparse_edges = Counter()
    for t in sparse.triangles:
        for k in range(3):
            a, b = int(t[k]), int(t[(k + 1) % 3])
            sparse_edges[(min(a, b), max(a, b))] += 1
    assert boundary == DENSE_LEVEL * sum(1 for c in sparse_edges.values() if c == 1)


def test_dense_vertices_pass_through_the_landmarks_and_stay_close_to_the_flat_mesh():
    pts = analysis_of("astronaut").landmarks.points
    m = render_mesh(DENSE_LEVEL)
    dense = m.positions(pts)
    corners = m.sample_bary.max(axis=1) > 0.999
    ids = m.sample_tri[corners]
    which = m.sample_bary[corners].argmax(axis=1)
    landmark_ids = face_topology().triangles[ids, which]
    np.testing.assert_allclose(dense[corners], pts[landmark_ids], atol=1e-3)
    flat = np.einsum("vk,vkc->vc", m.sample_bary, pts[:468][face_topology().triangles[m.sample_tri]])
    face_w = np.ptp(pts[:, 0])
    bulge = np.linalg.norm(dense - flat, axis=1)
    assert bulge.max() < 0.05 * face_w  # curved, but only slightly between landmarks
    assert bulge.mean() > 1e-4 * face_w  # and really curved


def test_vertex_normals_of_a_frontal_face_point_at_the_camera():
    pts = analysis_of("astronaut").landmarks.points[:468]
    n = vertex_normals(pts, face_topology().triangles)
    assert np.allclose(np.linalg.norm(n, axis=1), 1, atol=1e-4)
    assert n[1, 2] < -0.8  # nose tip faces the camera (negative z)
