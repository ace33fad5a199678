"""The UV-space masks: which texels the light map and the visitor's own low-pass may learn from."""

from __future__ import annotations

import numpy as np

from swap.topology import face_topology
from swap.uv import lowpass_weight, mirror_fill

SIZE = 256
# the brows' lower contour and outer half, both sides; their upper inner edge (105/66, 334/296) lies
# partly outside the 10 % eye margin, which the judge preferred to 13 % (docs/identity.md)
BROWS = (46, 53, 52, 65, 70, 63, 276, 283, 282, 295, 300, 293)
LIPS = (0, 17, 37, 267, 84, 314)  # outer lip contour: top, bottom, and beside the middle
SKIN = (205, 425, 151, 4, 50, 280)  # cheeks, forehead, nose tip, upper cheeks


def _at(weight: np.ndarray, ids: tuple[int, ...]) -> np.ndarray:
    uv = face_topology().uv[list(ids)]
    px = np.clip((uv * SIZE).astype(int), 0, SIZE - 1)
    return weight[px[:, 1], px[:, 0]]


def test_low_passes_leave_out_brows_and_lips_but_learn_from_cheeks_forehead_and_nose() -> None:
    weight = lowpass_weight(SIZE)
    assert _at(weight, BROWS).max() < 0.05  # the actor's brows must not darken the light map
    assert _at(weight, LIPS).max() < 0.05  # ... nor its lip colour
    assert _at(weight, SKIN).min() > 0.95


def _shadowed_half_with_a_hole() -> tuple[np.ndarray, np.ndarray]:
    """A 256-texel texture: the left half in shadow (0.3), the right half lit (0.8), and an untrusted
    80x80 hole in the left half (a hand, a strand), to be filled from its lit mirror twin."""
    size = 256
    texture = np.full((size, size, 3), 0.8, np.float32)
    texture[:, : size // 2] = 0.3
    weight = np.ones((size, size), np.float32)
    weight[88:168, 20:100] = 0.0
    return texture, weight


def test_mirror_fill_joins_the_seam_without_an_edge_and_keeps_the_twins_colour_deeper_in() -> None:
    texture, weight = _shadowed_half_with_a_hole()
    filled, _ = mirror_fill(texture, weight, match_reach=0.06)
    row = filled[128, :, 0]
    # at the hole's border the fill starts from the shadowed side's colour ...
    assert abs(float(row[21]) - 0.3) < 0.05 and abs(float(row[98]) - 0.3) < 0.05
    # ... and at its centre (40 texels = 2.6 reaches in) it is the lit twin's
    assert abs(float(row[60]) - 0.8) < 0.03
    # no step anywhere across the border
    assert float(np.abs(np.diff(filled[128, 10:110, 0])).max()) < 0.06


def test_mirror_fill_without_matching_copies_the_twin_with_a_hard_edge() -> None:
    texture, weight = _shadowed_half_with_a_hole()
    filled, _ = mirror_fill(texture, weight)
    assert float(np.abs(np.diff(filled[128, 10:110, 0])).max()) > 0.4
