"""Hands in front of the film actor's face: found once at ingest, kept in front of the swap, sharply.

The film's colour-based occlusion (`swap.film.ingest.stretch_maps`) flags texels unlike both the
stretch's median face and the actor's skin model; a hand is skin-coloured, so it passes as face and
the visitor's cheek is painted over it (measured: a hand pasted on a shared film's cheek came out
27 levels from the hand, more than the swap changes a bare cheek). MediaPipe Hands (tracking mode,
one graph per ingest) finds the hand instead; its 21 landmarks are stored per covered frame in the
track (`FilmTrack.hands`, pixels) and `swap.film.fields` cuts their hull, grown by `HAND_GROW` of the
palm length, out of the swap's alpha in image space, so the hand's edge is as sharp as the fields
(~1-2 px at 720p) and the face around it keeps full strength.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]

MAX_HANDS = 2
HAND_POINTS = 21
HAND_GROW = 0.3  # the hull of the joints grown by this x the palm length (wrist to middle knuckle)
DETECT_WIDTH = 640  # frames are searched downscaled to at most this width
FACE_REACH = 0.25  # a hand counts when its hull comes within this x face width of the face's box
# A real hand is about as long as the face is high, so one in front of the face reaches out of the
# face's hull (the wrist below the chin, fingers past the temple) unless it is much nearer the camera
# than the face (a palm, wrist to middle knuckle, of 0.75 x the face's width or more). One found
# entirely inside the face and smaller is the face itself read as a hand: pursed lips, puffed
# cheeks or a grin as fingers, seen in 39 frames of the shared bedroom film (palm 0.18-0.41 x the
# face width) and 5 of the vertical selfie film (0.56-0.60), every point inside the face.
MIN_PALM_INSIDE = 0.75
INSIDE_SHARE = 0.9  # "entirely inside": this share of the 21 points within the face's hull


class HandTracker:
    """A MediaPipe Hands graph in tracking mode, private to one ingest."""

    def __init__(self) -> None:
        import mediapipe as mp

        self._hands = mp.solutions.hands.Hands(
            static_image_mode=False,
            max_num_hands=MAX_HANDS,
            model_complexity=1,
            min_detection_confidence=0.5,
            min_tracking_confidence=0.5,
        )

    def hands(self, rgb: npt.NDArray[np.uint8]) -> list[FloatArray]:
        """Each hand in the frame as (21, 2) pixel coordinates."""
        h, w = rgb.shape[:2]
        s = min(1.0, DETECT_WIDTH / w)
        small = (
            rgb if s == 1.0 else cv2.resize(rgb, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
        )
        result = self._hands.process(np.ascontiguousarray(small))
        return [
            np.array([(p.x * w, p.y * h) for p in hand.landmark], np.float32)
            for hand in (result.multi_hand_landmarks or [])
        ]

    def close(self) -> None:
        self._hands.close()


def face_read_as_hand(hand: FloatArray, face: npt.NDArray[np.floating[Any]]) -> bool:
    """Whether a detected `hand` (21, 2) is too small to be in front of `face` (landmarks, pixels) and
    lies inside it: MediaPipe Hands' false find on a face (`MIN_PALM_INSIDE`)."""
    xy = np.asarray(face, np.float32)[:468, :2]
    width = max(float(np.ptp(xy[:, 0])), 1.0)
    if float(np.linalg.norm(hand[0] - hand[9])) >= MIN_PALM_INSIDE * width:
        return False
    hull = cv2.convexHull(np.ascontiguousarray(xy))
    inside = sum(cv2.pointPolygonTest(hull, (float(x), float(y)), False) > 0 for x, y in hand)
    return inside >= INSIDE_SHARE * len(hand)


def hands_over_face(hands: list[FloatArray], face: npt.NDArray[np.floating[Any]]) -> FloatArray:
    """(MAX_HANDS, 21, 2): the hands whose grown hull reaches the face's box, NaN rows for none (and
    none that is the face itself read as a hand: `face_read_as_hand`)."""
    out = np.full((MAX_HANDS, HAND_POINTS, 2), np.nan, np.float32)
    xy = np.asarray(face, np.float32)[:468, :2]
    (x0, y0), (x1, y1) = xy.min(axis=0), xy.max(axis=0)
    reach = FACE_REACH * float(x1 - x0)
    k = 0
    for hand in hands:
        hx0, hy0 = hand.min(axis=0) - reach
        hx1, hy1 = hand.max(axis=0) + reach
        if hx1 < x0 or hx0 > x1 or hy1 < y0 or hy0 > y1 or k >= MAX_HANDS or face_read_as_hand(hand, face):
            continue
        out[k] = hand
        k += 1
    return out


def hand_mask(hands: FloatArray, box: tuple[int, int, int, int], size: tuple[int, int]) -> FloatArray | None:
    """(h, w) 0..1 over the crop `box` (x0, y0, x1, y1) sampled at `size` (w, h) texels (texel j
    centred on pixel (j + 0.5) * W / w - 0.5 of the crop): 1 under a hand's grown hull. None: no hand."""
    present = [h for h in hands if np.isfinite(h).all()]
    if not present:
        return None
    x0, y0, x1, y1 = box
    w, h = size
    scale = np.array([w / max(x1 - x0, 1), h / max(y1 - y0, 1)], np.float32)
    mask = np.zeros((h, w), np.float32)
    for hand in present:
        local = (hand - np.array([x0, y0], np.float32) + 0.5) * scale - 0.5
        centre = local.mean(axis=0)
        grow = HAND_GROW * float(np.linalg.norm((hand[0] - hand[9]) * scale))
        hull = cv2.convexHull(local.astype(np.float32)).reshape(-1, 2)
        # grow the hull outward from its centre by `grow` texels (a finger's width and the hand's edge)
        away = hull - centre
        norm = np.maximum(np.linalg.norm(away, axis=1, keepdims=True), 1e-6)
        grown = hull + away / norm * grow
        cv2.fillPoly(mask, [np.round(grown * 16).astype(np.int32)], (1.0,), cv2.LINE_AA, 4)
    return np.clip(cv2.GaussianBlur(mask, (0, 0), 0.7), 0.0, 1.0).astype(np.float32)


def hold_still(field: FloatArray, hands: FloatArray | None, box: tuple[int, int, int, int]) -> FloatArray:
    """The shape warp's grid field (g, g, 2) over `box` with the displacement faded to 0 under the
    hands: the visitor's face shape moves the face, not the hand in front of it (a hand the warp
    bent came out 23 levels from itself; held still, 3). The fade spans ~2 grid nodes (~12 px on a
    720p face), so the face around the hand bends smoothly instead of tearing."""
    if hands is None:
        return field
    g = field.shape[1], field.shape[0]
    mask = hand_mask(hands, box, g)
    if mask is None:
        return field
    soft = np.asarray(cv2.GaussianBlur(cv2.dilate(mask, np.ones((3, 3), np.uint8)), (0, 0), 1.0), np.float32)
    return (field * (1.0 - np.clip(soft, 0.0, 1.0))[..., None]).astype(np.float32)
