"""A real hand pasted onto a shared face photo: the known-answer input of the hand tests.

The hand comes from `badinputs/video_noface_hand.mp4` (a hand hanging against white clothes, no face):
frame 150, cut out by its skin colour (the clothes and the street behind are unsaturated), then scaled,
turned and alpha-pasted at a face landmark. MediaPipe Hands finds the pasted hand on the shared
woman_neutral_frown photo at the placements the tests use.
"""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import numpy.typing as npt

ImageArray = npt.NDArray[np.uint8]


def hand_cutout(shared_media: Path, index: int = 150) -> tuple[ImageArray, npt.NDArray[np.float32]]:
    """(hand RGB crop, its alpha 0..1) from the shared hand video."""
    with av.open(str(shared_media / "badinputs" / "video_noface_hand.mp4")) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i == index:
                rgb = frame.to_ndarray(format="rgb24")
                break
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    skin = ((hsv[..., 1] > 50) & (hsv[..., 0] < 25) & (hsv[..., 2] > 60)).astype(np.uint8)
    _, labels, stats, _ = cv2.connectedComponentsWithStats(skin)
    k = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    x, y, w, h = (int(v) for v in stats[k, :4])
    mask = cv2.morphologyEx((labels == k).astype(np.uint8), cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    pad = 6
    y0, x0 = max(0, y - pad), max(0, x - pad)
    rows, cols = slice(y0, y + h + pad), slice(x0, x + w + pad)
    return rgb[rows, cols], mask[rows, cols].astype(np.float32)


def paste_hand(
    photo: ImageArray,
    hand: tuple[ImageArray, npt.NDArray[np.float32]],
    centre: tuple[float, float],
    width: float,
    angle: float = 0.0,
) -> tuple[ImageArray, npt.NDArray[np.bool_]]:
    """`photo` with the hand `width` px wide, turned by `angle` degrees, centred at `centre`; and the
    pixels the hand covers (alpha > 0.5)."""
    rgb, alpha = hand
    s = width / rgb.shape[1]
    hr = cv2.resize(rgb, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
    ar = cv2.resize(alpha, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
    if angle:
        turn = cv2.getRotationMatrix2D((hr.shape[1] / 2, hr.shape[0] / 2), angle, 1.0)
        hr = cv2.warpAffine(hr, turn, (hr.shape[1], hr.shape[0]))
        ar = cv2.warpAffine(ar, turn, (ar.shape[1], ar.shape[0]))
    ar = cv2.GaussianBlur(ar, (0, 0), 1.0)
    out = photo.astype(np.float32)
    covered = np.zeros(photo.shape[:2], bool)
    h, w = hr.shape[:2]
    x0, y0 = round(centre[0] - w / 2), round(centre[1] - h / 2)
    x1, y1 = min(out.shape[1], x0 + w), min(out.shape[0], y0 + h)
    a = ar[: y1 - y0, : x1 - x0, None]
    out[y0:y1, x0:x1] = out[y0:y1, x0:x1] * (1 - a) + hr[: y1 - y0, : x1 - x0] * a
    covered[y0:y1, x0:x1] = a[..., 0] > 0.5
    return np.clip(out + 0.5, 0, 255).astype(np.uint8), covered
