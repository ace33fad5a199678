"""The visitor's visible eye fitted to the eye holes of the UV layout, per photo.

The eye fans (`swap.mesh`) put whatever lies inside each UV eye hole into the target's eye opening.
Face Mesh's lid contour sits inside the visible eye, so the mesh grows each hole by a fixed factor
(`swap.mesh.EYE_RIM_GROW`) in the photo and in every target. How far a given visitor's lash line
and sclera reach beyond the contour varies, though (1.13-1.29x at the upper lid on five shared
photos): what the fixed hole misses was unwrapped into the lid triangles around it, which a
wide-open target eye squeezes, so the visitor's eye opened less than the film's, and a blink left
a rim of sclera on the closed lids.

`fit_visible_eyes` finds, along rays from the iris centre, where the eye (sclera, iris, lashes)
ends and lid skin begins, and resamples the texture radially so that edge lands on the hole's rim
(the eye scaled to it, the lid beyond stretched or compressed to meet the untouched skin at `OUTER`
x the rim distance). The corners are left where Face Mesh puts them (the canthi; beyond them lie
shadows or eyeliner), and the lower lid's fainter edge is capped. Photos with glasses are not
fitted: frame rims and lens reflections read as "not skin".
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np
import numpy.typing as npt

from swap.mesh import render_mesh
from swap.topology import face_topology

FloatArray = npt.NDArray[np.float32]

RAYS = 72  # directions around each eye at which the eye's edge is found
OUTER = 1.6  # the remap ends (identity) at this multiple of the centre-to-rim distance
EDGE_SEARCH = (0.8, 1.2)  # where the visible edge is looked for (multiples of the rim distance)
SKIN_BAND = (1.45, 1.75)  # the lid skin each ray's eye is told apart from
EDGE_SHARE = 0.5  # the edge: the last point whose difference from that skin is this share of the eye's
EDGE_SMOOTH = 9  # circular median over this many rays (a lash or a highlight is not an edge)
LOWER_MAX = 1.1  # below the eye the edge is fainter (a wet line, then bags or a glasses rim): capped
_STEP = 0.02


def _rim_distance(
    centre: npt.NDArray[np.float64], rim: npt.NDArray[np.float64], dirs: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Distance from `centre` along each unit direction (N, 2) to the closed polygon `rim` (K, 2)."""
    out = np.full(len(dirs), np.inf)
    for i in range(len(rim)):
        a, e = rim[i] - centre, rim[(i + 1) % len(rim)] - rim[i]
        den = dirs[:, 1] * e[0] - dirs[:, 0] * e[1]
        safe = np.where(np.abs(den) < 1e-12, 1e-12, den)
        t = (a[1] * e[0] - a[0] * e[1]) / safe
        s = (a[1] * dirs[:, 0] - a[0] * dirs[:, 1]) / safe
        hit = (np.abs(den) >= 1e-12) & (t > 0) & (s >= 0) & (s <= 1)
        out = np.where(hit & (t < out), t, out)
    return out


@lru_cache(maxsize=1)
def _eye_geometry() -> tuple[tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]], ...]:
    """Per eye: the fan centre's UV and the rim polygon's UV (the layout's eye loop)."""
    mesh = render_mesh(0)
    topo = face_topology()
    n_face = mesh.n_vertices - 2
    return tuple(
        (mesh.uv[n_face + k].astype(np.float64), topo.uv[loop].astype(np.float64))
        for k, loop in enumerate((topo.right_eye_loop, topo.left_eye_loop))
    )


def eye_edges(albedo: FloatArray) -> list[tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]]:
    """Per eye (right, left): the ray angles and where the visible eye ends along each, in multiples
    of the centre-to-rim distance (1 = on the hole's rim, Face Mesh's contour grown by
    `swap.mesh.EYE_RIM_GROW`)."""
    size = albedo.shape[0]
    rho = np.arange(EDGE_SEARCH[0] - 0.15, SKIN_BAND[1] + 1e-9, _STEP)
    angles = np.linspace(0.0, 2 * np.pi, RAYS, endpoint=False)
    dirs = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    out = []
    for centre, rim in _eye_geometry():
        dist = _rim_distance(centre, rim, dirs)
        pts = centre + (rho[None, :, None] * dist[:, None, None]) * dirs[:, None, :]
        px = (pts * size - 0.5).astype(np.float32)
        prof = np.asarray(cv2.remap(albedo, px[..., 0], px[..., 1], cv2.INTER_LINEAR), np.float32)
        in_skin = (rho >= SKIN_BAND[0]) & (rho <= SKIN_BAND[1])
        skin = np.median(prof[:, in_skin], axis=1, keepdims=True)
        diff = np.linalg.norm(prof - skin, axis=-1) / np.maximum(skin.mean(axis=-1), 1e-3)
        inside = (rho >= EDGE_SEARCH[0] - 0.15) & (rho <= EDGE_SEARCH[0])
        eye_level = diff[:, inside].max(axis=1, keepdims=True)
        search = (rho >= EDGE_SEARCH[0]) & (rho <= EDGE_SEARCH[1])
        is_eye = (diff >= EDGE_SHARE * eye_level) & search[None, :]
        last = np.where(is_eye.any(axis=1), (is_eye * np.arange(len(rho))).argmax(axis=1), -1)
        edge = np.where(last >= 0, rho[np.maximum(last, 0)] + _STEP / 2, EDGE_SEARCH[0])
        pad = EDGE_SMOOTH // 2
        wrapped = np.concatenate([edge[-pad:], edge, edge[:pad]])
        edge = np.median(np.lib.stride_tricks.sliding_window_view(wrapped, EDGE_SMOOTH), axis=1)
        # the corners are Face Mesh's own canthi (what lies beyond them is a shadow or eyeliner): the
        # fit acts on the lids, fading to none at the corners; y is down, so sin > 0 is the lower lid
        sin = np.sin(angles)
        edge = np.minimum(edge, np.where(sin > 0, LOWER_MAX, EDGE_SEARCH[1]))
        out.append((angles, 1.0 + (np.clip(edge, 0.85, None) - 1.0) * np.abs(sin)))
    return out


def fit_visible_eyes(albedo: FloatArray) -> FloatArray:
    """The texture resampled around each eye so the visible eye's edge lies on the UV eye hole's rim."""
    size = albedo.shape[0]
    out = albedo.copy()
    for (centre, rim), (angles, edge) in zip(_eye_geometry(), eye_edges(albedo), strict=True):
        # the texels that move lie within OUTER x the rim around the centre: the rim's box scaled by OUTER
        lo = (centre + OUTER * (rim - centre).min(axis=0)) * size - 1
        hi = (centre + OUTER * (rim - centre).max(axis=0)) * size + 2
        x0, y0 = (max(int(v), 0) for v in lo)
        x1, y1 = (min(int(v), size) for v in hi)
        ys, xs = np.mgrid[y0:y1, x0:x1]
        q = np.stack([(xs.ravel() + 0.5) / size, (ys.ravel() + 0.5) / size], axis=1) - centre
        r = np.linalg.norm(q, axis=1)
        dirs = q / np.maximum(r, 1e-12)[:, None]
        rho = r / _rim_distance(centre, rim, dirs)
        theta = np.mod(np.arctan2(dirs[:, 1], dirs[:, 0]), 2 * np.pi)
        e = np.interp(theta, np.append(angles, 2 * np.pi), np.append(edge, edge[0]))
        src = np.where(rho <= 1.0, rho * e, e + (rho - 1.0) * (OUTER - e) / (OUTER - 1.0))
        scale = np.where((rho < OUTER) & (rho > 1e-9), src / np.maximum(rho, 1e-9), 1.0)
        p = (centre + q * scale[:, None]) * size - 0.5
        shape = (y1 - y0, x1 - x0)
        out[y0:y1, x0:x1] = cv2.remap(
            albedo,
            p[:, 0].reshape(shape).astype(np.float32),
            p[:, 1].reshape(shape).astype(np.float32),
            cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        )
    return out
