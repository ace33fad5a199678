"""Is the face a photo at all? A cue for drawn, flat-coloured faces (cartoons, illustrations, posters).

A camera never records a patch of skin as one exact brightness: light falls off across the face,
and sensor noise and JPEG's own rounding leave every few pixels a level or two apart, even after a
beauty filter (an edge-preserving blur keeps the shading's gradient). A cartoon, a vector avatar, a
flat-shaded or posterised painting is made of fills: large patches of one exact value, separated by
outlines. `flat_patch_share` measures how much of the face lies inside such patches; the limit is
`swap.thresholds.MAX_FLAT_PATCH_SHARE`, with the measured figures.

What it cannot see: a realistic painting (oil, sfumato) or a smooth airbrushed illustration has
gradients like a photo and passes; so does a pencil sketch that is not already refused as
overexposed (its white paper is left out as clipped). The cue is deliberately one-sided: a real
visitor refused as "a drawing" is much worse than a cartoon accepted.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from swap import thresholds as th


def flat_patch_share(
    grey: npt.NDArray[np.uint8], face_mask: npt.NDArray[np.bool_], face_width: float
) -> float:
    """Share of the face (`face_mask`, same shape as `grey`) whose surrounding square of
    FLAT_PATCH_SIZE x face width holds one exact luma value (0 when the face is empty).

    The face is first subsampled (nearest pixel, never averaged: averaging would smooth a photo's
    noise into flat patches) to at most FLAT_PATCH_FACE_PX wide, so the cost is fixed and a JPEG's
    8x8 blocks, a few samples wide, cannot hold a window. Blown-out and black pixels (luma >= 250 or
    <= 5) never count: a clipped forehead is one exact value in a photo too.
    """
    import cv2

    step = max(1, math.ceil(face_width / th.FLAT_PATCH_FACE_PX))
    small = np.ascontiguousarray(grey[::step, ::step])
    mask = face_mask[::step, ::step]
    area = int(mask.sum())
    if area == 0:
        return 0.0
    side = max(th.FLAT_PATCH_MIN_PX, round(th.FLAT_PATCH_SIZE * face_width / step)) | 1
    kernel = np.ones((side, side), np.uint8)
    constant = cv2.dilate(small, kernel) == cv2.erode(small, kernel)
    constant &= (small > th.FLAT_PATCH_DARK_LUMA) & (small < th.CLIPPED_LUMA)
    return float((constant & mask).sum()) / area
