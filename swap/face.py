"""Value types shared across the engine: a head pose and the result of analysing a visitor's photo."""

from __future__ import annotations

from dataclasses import dataclass, field

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
    """

    rgb: ImageArray
    landmarks: FaceLandmarks
    pose: HeadPose
    warnings: tuple[str, ...] = field(default=())
