"""Value types shared across the engine: a head pose and the result of analysing a visitor's photo."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from swap.landmarks import FaceLandmarks, ImageArray


@dataclass(frozen=True)
class HeadPose:
    """Head rotation in degrees: yaw (turn, + = subject turns to their left), pitch (+ = chin up), roll."""

    yaw: float
    pitch: float
    roll: float


@dataclass(frozen=True)
class FaceAnalysis:
    """An accepted visitor photo: the upright RGB pixels, the one face's landmarks and pose.

    `warnings` holds codes of soft problems (e.g. ``"expression_strong"``) that did not refuse the photo.
    `occluders` (H, W) bool, or None: pixels of the photo covered by something in front of the face
    that was accepted (a hand on a cheek or the chin, clear of eyes, nose and mouth); the face asset
    fills them from the mirrored side instead of painting the hand onto the actor.
    """

    rgb: ImageArray
    landmarks: FaceLandmarks
    pose: HeadPose
    warnings: tuple[str, ...] = field(default=())
    occluders: npt.NDArray[np.bool_] | None = field(default=None, compare=False, repr=False)
