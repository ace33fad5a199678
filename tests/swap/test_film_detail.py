"""The film's expression detail never prints the actor's eyes or brows over the visitor's."""

from __future__ import annotations

import numpy as np

from swap.shading import BROWS, brow_regions, neutral_in_features
from swap.topology import face_topology
from swap.uv import eye_holes


def test_the_actors_sliding_brow_is_left_out_of_the_detail_but_forehead_lines_stay():
    size = 64
    uv = face_topology().uv * size - 0.5
    detail = np.ones((size, size), np.float32)
    # the actor's brow slid up against its median: a dark band over the brow, a forehead line far above
    brow_rows = sorted({round(uv[v, 1]) for upper, _ in BROWS for v in upper})
    detail[min(brow_rows) - 1 : max(brow_rows) + 1, :] = 0.6
    forehead_row = round(uv[10, 1]) + 2  # just under the top of the forehead (landmark 10)
    detail[forehead_row, :] = 0.8
    out = neutral_in_features(detail, 1.0)
    brows = brow_regions(size) > 0.99
    assert brows.any()
    assert np.allclose(out[brows], 1.0, atol=5e-3)
    assert np.allclose(out[eye_holes(size) > 0.99], 1.0, atol=5e-3)
    centre = round(uv[10, 0])
    assert abs(float(out[forehead_row, centre]) - 0.8) < 1e-6


def test_the_brow_mask_covers_both_brows_and_neither_eye_opening():
    size = 256
    mask = brow_regions(size)
    uv = face_topology().uv * size - 0.5
    for upper, lower in BROWS:
        for v in (*upper, *lower):
            x, y = (round(c) for c in uv[v])
            assert mask[y, x] > 0.9
    # the iris centres (the middle of each eye opening) are not brow
    for loop in (face_topology().left_eye_loop, face_topology().right_eye_loop):
        x, y = (round(c) for c in uv[loop].mean(axis=0))
        assert mask[y, x] < 0.05
