"""The classic weights-free face swap, as the well-known demos do it: the baseline the engine must beat.

Face Mesh landmarks of photo and target -> Delaunay triangles over the target's landmarks -> each
triangle of the photo warped affinely onto the target's -> Lab mean/std colour transfer inside the
face -> `cv2.seamlessClone` (Poisson) on the convex hull. Crude (the photo's expression, eyes and
lighting come along, the seam is wherever Poisson puts it), but a face recogniser sees the visitor
in it, which is why it is the bar: the engine's output must be judged *more* like the visitor.

Written for the bench only and independent of the engine: it uses MediaPipe's Face Mesh directly,
not `swap.landmarks`, so it keeps working while the engine is rebuilt.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import numpy.typing as npt

ImageArray = npt.NDArray[np.uint8]
Points = npt.NDArray[np.float32]
N_MESH = 468  # Face Mesh vertices without the 10 iris points


class _Mesh(threading.local):
    face_mesh: Any = None


_mesh = _Mesh()


def face_mesh(rgb: ImageArray) -> Points | None:
    """The 478 Face Mesh landmarks (x, y in pixels, z scaled by the width) of the largest face, or None."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 RGB image, got {rgb.shape} {rgb.dtype}")
    if _mesh.face_mesh is None:
        import mediapipe as mp

        _mesh.face_mesh = mp.solutions.face_mesh.FaceMesh(
            static_image_mode=True, max_num_faces=2, refine_landmarks=True, min_detection_confidence=0.5
        )
    h, w = rgb.shape[:2]
    result = _mesh.face_mesh.process(np.ascontiguousarray(rgb))
    faces = []
    for lm in result.multi_face_landmarks or []:
        pts = np.array([(p.x * w, p.y * h, p.z * w) for p in lm.landmark], dtype=np.float32)
        faces.append(pts)
    if not faces:
        return None
    return max(faces, key=lambda p: float(np.ptp(p[:N_MESH, 0])))


def mesh_box(points: Points) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1) of the Face Mesh vertices."""
    xy = points[:N_MESH, :2]
    return float(xy[:, 0].min()), float(xy[:, 1].min()), float(xy[:, 0].max()), float(xy[:, 1].max())


def _lab_transfer(src: ImageArray, ref: ImageArray, mask: npt.NDArray[np.bool_]) -> ImageArray:
    """Match the mean and spread of `src`'s Lab channels inside `mask` to `ref`'s (Reinhard et al.)."""
    import cv2

    s = cv2.cvtColor(src.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    r = cv2.cvtColor(ref.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    sm, rm = s[mask], r[mask]
    out = (s - sm.mean(0)) / (sm.std(0) + 1e-6) * rm.std(0) + rm.mean(0)
    rgb = cv2.cvtColor(out.astype(np.float32), cv2.COLOR_LAB2RGB)
    return np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8)


def classic_swap(
    photo: ImageArray, photo_points: Points, target: ImageArray, target_points: Points
) -> ImageArray:
    """The photo's face swapped onto the target by triangle warp + Lab transfer + Poisson clone.

    Only the region around the target face changes; the rest of the target comes back unchanged.
    """
    import cv2
    from scipy.spatial import Delaunay

    if photo_points.shape[0] < N_MESH or target_points.shape[0] < N_MESH:
        raise ValueError("classic_swap needs Face Mesh landmarks (468 or 478 points) of both faces")
    h, w = target.shape[:2]
    dst = target_points[:N_MESH, :2].astype(np.float64)
    src = photo_points[:N_MESH, :2].astype(np.float64)
    x0, y0, x1, y1 = mesh_box(target_points)
    margin = 0.15 * (x1 - x0) + 4
    cx0, cy0 = max(0, int(x0 - margin)), max(0, int(y0 - margin))
    cx1, cy1 = min(w, int(np.ceil(x1 + margin)) + 1), min(h, int(np.ceil(y1 + margin)) + 1)
    crop = np.ascontiguousarray(target[cy0:cy1, cx0:cx1])
    ch, cw = crop.shape[:2]
    local = dst - (cx0, cy0)

    # Piecewise-affine backward map: for each crop pixel, its triangle and barycentrics in the target
    # mesh, and the same barycentrics in the photo's triangle.
    tri = Delaunay(local)
    gx, gy = np.meshgrid(np.arange(cw, dtype=np.float64), np.arange(ch, dtype=np.float64))
    grid = np.stack([gx.ravel(), gy.ravel()], axis=1)
    simplex = tri.find_simplex(grid)
    inside = simplex >= 0
    t = tri.transform[simplex[inside]]
    b2 = np.einsum("nij,nj->ni", t[:, :2], grid[inside] - t[:, 2])
    bary = np.concatenate([b2, 1.0 - b2.sum(1, keepdims=True)], axis=1)
    verts = tri.simplices[simplex[inside]]
    src_xy = np.einsum("ni,nij->nj", bary, src[verts])
    map_x = np.full(ch * cw, -1.0, np.float32)
    map_y = np.full(ch * cw, -1.0, np.float32)
    map_x[inside], map_y[inside] = src_xy[:, 0], src_xy[:, 1]
    warped = cv2.remap(
        photo,
        map_x.reshape(ch, cw),
        map_y.reshape(ch, cw),
        cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REFLECT,
    )

    mask = np.zeros((ch, cw), np.uint8)
    hull = cv2.convexHull(np.round(local).astype(np.int32))
    cv2.fillConvexPoly(mask, hull, 255)
    mask = cv2.erode(mask, np.ones((3, 3), np.uint8))  # Poisson needs a border of known target pixels
    inside_mask = mask > 0
    if inside_mask.sum() < 16:
        return target.copy()
    warped = _lab_transfer(warped, crop, inside_mask)
    bx, by, bw, bh = cv2.boundingRect(mask)
    centre = (bx + bw // 2, by + bh // 2)  # seamlessClone centres the mask's bounding box here
    cloned = cv2.seamlessClone(warped, crop, mask, centre, cv2.NORMAL_CLONE)
    out = target.copy()
    out[cy0:cy1, cx0:cx1] = cloned
    return out
