"""Render meshes: the Face Mesh triangles as they are, or subdivided into a dense, smooth mesh.

Face Mesh gives 468 surface vertices and 852 triangles. The renderer can use that sparse mesh or a
dense one made by splitting every triangle into ``n*n`` smaller ones whose new vertices lie on a
*curved PN triangle* (Vlachos et al. 2001: a cubic Bezier patch built from the three corner positions
and normals). PN patches depend only on an edge's two end points and normals along that edge, so
neighbouring patches meet without cracks, and the whole mesh stays a fixed function of the 468
landmarks: the dense mesh of any face is computed from its landmarks in a few vectorised steps.

UV coordinates of the new vertices are linear (the flat layout of `swap.topology` is kept), so a
texture made with one mesh can be rendered with the other. Level 0 = sparse (468 vertices), level
``n`` >= 2 = each triangle split n-ways: n = 9 gives 34,968 vertices and 69,012 triangles.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt

from swap.landmarks import N_MESH_VERTICES
from swap.topology import face_topology

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]

# the dense level that meets the ">= 30,000 vertices" requirement (34,968 vertices)
DENSE_LEVEL = 9


@dataclass(frozen=True)
class RenderMesh:
    """A triangle mesh whose vertices are a fixed function of the 468 Face Mesh vertices.

    `triangles` (T, 3) oriented like `swap.topology` (front faces CCW on screen with y down);
    `uv` (V, 2) in [0, 1]. For a dense mesh, vertex k is sample `sample_bary[k]` of Face Mesh triangle
    `sample_tri[k]` (corner vertices are samples of one of their triangles).
    """

    level: int
    triangles: IntArray
    uv: FloatArray
    sample_tri: IntArray
    sample_bary: FloatArray

    @property
    def n_vertices(self) -> int:
        return len(self.uv)

    def positions(self, points: npt.NDArray[np.floating[Any]]) -> FloatArray:
        """Vertex positions (..., V, 3) from Face Mesh points (..., >=468, 3) (extra iris points ignored)."""
        full = np.asarray(points, dtype=np.float32)
        pts = full[..., :N_MESH_VERTICES, :]
        if self.level == 0:
            return grow_eye_rims(np.concatenate([pts, iris_centres(full)], axis=-2))
        return _pn_positions(pts, self.sample_tri, self.sample_bary)


# Face Mesh's iris centres (right eye = the subject's right, near corners 33/133; left near 362/263)
IRIS_CENTRES = (468, 473)


def iris_centres(points: npt.NDArray[np.floating[Any]]) -> FloatArray:
    """The two iris centres (..., 2, 3); without iris landmarks, the mean of each eye's rim."""
    p = np.asarray(points, dtype=np.float32)
    if p.shape[-2] > max(IRIS_CENTRES):
        return np.ascontiguousarray(p[..., list(IRIS_CENTRES), :])
    topo = face_topology()
    return np.stack(
        [p[..., topo.right_eye_loop, :].mean(axis=-2), p[..., topo.left_eye_loop, :].mean(axis=-2)], axis=-2
    )


# Face Mesh's lid contour runs inside the visible eye: along rays from the iris centre, the lash line
# and the sclera beside it reach ~1.2x the contour's distance at the upper lid and ~1.05x at the lower
# (median of the edges found on five shared photos: 1.13-1.29 upper, 1.00-1.09 lower; the canthi
# are where Face Mesh puts them). So the eye fans' rims are grown by these factors around the iris
# centre, in the photo and in every target: the visitor's whole visible eye lands in the target's
# whole visible eye. With the plain contour that band of eye was unwrapped into the lid triangles and
# drawn on the actor's lids, which a wide-open eye squeezes: the visitor's eye opened 0.57x as far as
# the film's (Face Mesh on the output) and through a blink a rim of sclera stayed on the closed lids.
EYE_RIM_GROW = (1.2, 1.05)  # upper lid, lower lid; 1 at the corners
# per eye: its rim (the topology's loop), its corners and the upper lid's middle vertex
_EYE_RIMS = ((33, 133, 159), (362, 263, 386))


def grow_eye_rims(vertices: npt.NDArray[np.floating[Any]]) -> FloatArray:
    """Vertices (..., 470, 3) of the sparse mesh with each eye's rim grown around its iris centre
    (vertices 468, 469) by `EYE_RIM_GROW`, blended from the lids' middle to none at the corners."""
    v = np.array(vertices, dtype=np.float32)
    topo = face_topology()
    for k, (loop, (a, b, top)) in enumerate(
        zip((topo.right_eye_loop, topo.left_eye_loop), _EYE_RIMS, strict=True)
    ):
        centre = v[..., N_MESH_VERTICES + k, None, :2]
        axis = v[..., b, None, :2] - v[..., a, None, :2]
        axis = axis / np.maximum(np.linalg.norm(axis, axis=-1, keepdims=True), 1e-6)
        off = v[..., loop, :2] - centre
        cross = axis[..., 0] * off[..., 1] - axis[..., 1] * off[..., 0]
        up = v[..., top, None, :2] - centre
        upper_side = np.sign(axis[..., 0] * up[..., 1] - axis[..., 1] * up[..., 0])
        sin = np.abs(cross) / np.maximum(np.linalg.norm(off, axis=-1), 1e-6)
        grow = np.where(np.sign(cross) == upper_side, EYE_RIM_GROW[0], EYE_RIM_GROW[1])
        v[..., loop, :2] = centre + off * (1 + (grow - 1) * sin)[..., None]
    return np.ascontiguousarray(v)


def _with_eye_fans(
    triangles: IntArray, uv: FloatArray, loops: tuple[IntArray, IntArray]
) -> tuple[IntArray, FloatArray]:
    """Close each eye hole with a fan of its rim around the iris centre (vertices 468, 469 of the mesh).

    The visitor's iris and lids are then part of the texture and land on the target's eye opening,
    with the visitor's iris centre on the target's (the gaze follows the film). In UV the centre sits
    at the rim's centroid. Fans are oriented like the rest of the layout (front faces CCW).
    """
    n = len(uv)
    ref_area = _signed_area(uv, triangles[:1])[0]
    new_uv = [uv]
    fans = []
    for k, loop in enumerate(loops):
        centre = n + k
        new_uv.append(uv[loop].mean(axis=0, keepdims=True))
        fan = np.stack([loop, np.roll(loop, -1), np.full(len(loop), centre)], axis=1)
        fans.append(fan)
    all_uv = np.concatenate(new_uv).astype(np.float32)
    fan_tris = np.concatenate(fans)
    flip = np.sign(_signed_area(all_uv, fan_tris)) != np.sign(ref_area)
    fan_tris[flip] = fan_tris[flip][:, [0, 2, 1]]
    return np.concatenate([triangles, fan_tris]).astype(np.int64), all_uv


def _signed_area(uv: npt.NDArray[Any], tris: IntArray) -> npt.NDArray[Any]:
    a, b, c = uv[tris[:, 0]], uv[tris[:, 1]], uv[tris[:, 2]]
    return (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])


def vertex_normals(points: npt.NDArray[np.floating[Any]], triangles: IntArray) -> FloatArray:
    """Unit normals (..., V, 3) pointing toward the camera (negative z) for front-facing geometry.

    Area-weighted sums of the triangle normals. With x right, y down and z away from the camera, a
    triangle that is counter-clockwise on screen has a cross product with negative z, i.e. toward the viewer.
    """
    p = np.asarray(points, dtype=np.float32)
    a, b, c = p[..., triangles[:, 0], :], p[..., triangles[:, 1], :], p[..., triangles[:, 2], :]
    fn = np.cross(b - a, c - a)
    n = np.zeros(p.shape, dtype=np.float32)
    flat_n = n.reshape(-1, p.shape[-2], 3)
    flat_fn = fn.reshape(-1, fn.shape[-2], 3)
    for k in range(3):
        np.add.at(flat_n, (slice(None), triangles[:, k]), flat_fn)  # type: ignore[arg-type]
    norm = np.linalg.norm(n, axis=-1, keepdims=True)
    return (n / np.maximum(norm, 1e-12)).astype(np.float32)


def _pn_positions(pts: FloatArray, sample_tri: IntArray, sample_bary: FloatArray) -> FloatArray:
    """Evaluate the PN triangle of each sample's Face Mesh triangle at its barycentric coordinates."""
    topo = face_topology()
    tris = topo.triangles
    normals = vertex_normals(pts, tris)
    t = tris[sample_tri]  # (V, 3)
    p1, p2, p3 = pts[..., t[:, 0], :], pts[..., t[:, 1], :], pts[..., t[:, 2], :]
    n1, n2, n3 = normals[..., t[:, 0], :], normals[..., t[:, 1], :], normals[..., t[:, 2], :]

    def w(pi: FloatArray, pj: FloatArray, ni: FloatArray) -> FloatArray:
        return np.sum((pj - pi) * ni, axis=-1, keepdims=True)

    b210 = (2 * p1 + p2 - w(p1, p2, n1) * n1) / 3
    b120 = (2 * p2 + p1 - w(p2, p1, n2) * n2) / 3
    b021 = (2 * p2 + p3 - w(p2, p3, n2) * n2) / 3
    b012 = (2 * p3 + p2 - w(p3, p2, n3) * n3) / 3
    b102 = (2 * p3 + p1 - w(p3, p1, n3) * n3) / 3
    b201 = (2 * p1 + p3 - w(p1, p3, n1) * n1) / 3
    e = (b210 + b120 + b021 + b012 + b102 + b201) / 6
    v = (p1 + p2 + p3) / 3
    b111 = e + (e - v) / 2
    u_, v_, w_ = (sample_bary[:, k : k + 1] for k in range(3))
    out = (
        p1 * u_**3
        + p2 * v_**3
        + p3 * w_**3
        + b210 * 3 * u_**2 * v_
        + b120 * 3 * u_ * v_**2
        + b201 * 3 * u_**2 * w_
        + b021 * 3 * v_**2 * w_
        + b102 * 3 * u_ * w_**2
        + b012 * 3 * v_ * w_**2
        + b111 * 6 * u_ * v_ * w_
    )
    return np.ascontiguousarray(out, dtype=np.float32)


@lru_cache(maxsize=4)
def render_mesh(level: int = 0) -> RenderMesh:
    """The sparse Face Mesh (level 0) or its n-way PN subdivision (level n >= 2), built once per process."""
    topo = face_topology()
    if level == 0:
        triangles, uv = _with_eye_fans(topo.triangles, topo.uv, (topo.right_eye_loop, topo.left_eye_loop))
        n = len(uv)
        return RenderMesh(0, triangles, uv, np.zeros(n, np.int64), np.zeros((n, 3), np.float32))
    if level < 2:
        raise ValueError(f"subdivision level must be 0 (sparse) or >= 2, got {level}")
    return _subdivide(level)


def _subdivide(n: int) -> RenderMesh:
    topo = face_topology()
    tris = topo.triangles
    index: dict[tuple[int, ...], int] = {}
    sample_tri: list[int] = []
    sample_bary: list[tuple[float, float, float]] = []

    def key(t: int, i: int, j: int) -> tuple[int, ...]:
        """A vertex's identity: corners by landmark id, edge points by (edge, position), else per triangle."""
        k = n - i - j
        a, b, c = (int(x) for x in tris[t])
        counts = {a: i, b: j, c: k}
        nonzero = [(v, m) for v, m in counts.items() if m > 0]
        if len(nonzero) == 1:
            return (0, nonzero[0][0])
        if len(nonzero) == 2:
            (v1, m1), (v2, _) = sorted(nonzero)
            return (1, v1, v2, m1)
        return (2, t, i, j)

    local: list[list[int]] = []
    for t in range(len(tris)):
        ids: dict[tuple[int, int], int] = {}
        for i in range(n + 1):
            for j in range(n + 1 - i):
                k_ = key(t, i, j)
                if k_ not in index:
                    index[k_] = len(sample_tri)
                    sample_tri.append(t)
                    sample_bary.append((i / n, j / n, (n - i - j) / n))
                ids[(i, j)] = index[k_]
        for i in range(n):
            for j in range(n - i):
                # corners (i,j) -> a-weight i, b-weight j; keep the parent triangle's orientation
                local.append([ids[(i + 1, j)], ids[(i, j + 1)], ids[(i, j)]])
                if i + j < n - 1:
                    local.append([ids[(i + 1, j)], ids[(i + 1, j + 1)], ids[(i, j + 1)]])
    st = np.array(sample_tri, np.int64)
    sb = np.array(sample_bary, np.float32)
    uv_t = topo.uv[tris[st]]  # (V, 3, 2)
    uv = np.einsum("vk,vkc->vc", sb, uv_t).astype(np.float32)
    triangles = np.array(local, np.int64)
    # orientation check against the parent layout: every child must be CCW in UV like its parent
    from swap.topology import signed_areas

    areas = signed_areas(uv * np.array([1, -1]), triangles)
    if (areas <= 0).mean() > 0.5:
        triangles = triangles[:, [0, 2, 1]]
    return RenderMesh(n, triangles, uv, st, sb)
