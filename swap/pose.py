"""Head pose (yaw, pitch, roll) from Face Mesh's 3-D landmarks.

How: a scaled rigid (Umeyama) fit of five expression-stable points of MediaPipe's canonical face
model onto the observed landmarks, then an Euler decomposition of the fitted rotation.

* The five points are the four eye corners (33, 133, 362, 263) and the nose tip (1). They do not move
  when the visitor smiles, frowns or opens the mouth, so an open jaw (which drags the chin, 152) or
  raised brows (which drag the forehead, 10) do not read as a head nod. The nose tip sits ~4.3 units in
  front of the eye corners (eye span 8.9), which pins pitch and yaw down; the eye corners pin roll.
* The canonical coordinates (cm, y up, z toward the viewer) are those of MediaPipe's own
  `canonical_face_model.obj` (Apache-2.0), the model Face Mesh's geometry pipeline is defined against,
  so "zero" means "facing the camera the way MediaPipe's reference face does" rather than a tuned offset.
* MediaPipe's z is in the same unit as x once `swap.landmarks` scales it by the image width: the fit's
  residual on the shared photos is 1-3 % of the eye span and the nose depth / eye span ratio is
  0.41-0.55 against the model's 0.48, so no extra depth scale is fitted.

Sign conventions (degrees; the same as `swap.face.HeadPose`'s docstring):

* yaw   > 0: the subject turns to *their* left, i.e. the nose points toward the right of the image.
* pitch > 0: chin up (the nose points toward the top of the image).
* roll  > 0: the head tilts toward the subject's left shoulder, i.e. the face turns clockwise in the
  image (the subject's left eye, on the right of the image, is lower).

`../shared/media/SOURCES.md`'s rough probe (cheek and forehead-chin lines) prints yaw and pitch with the
opposite signs: its profile_left "+49" is this module's -54 (she faces the image's left, i.e. turns to
her right), its asian_woman "+23" is -22 here; roll agrees (+18 there, +15 here).

Known bias: Face Mesh cannot see the far side of a turned head and under-reads large turns; a strict
side profile (`badinputs/profile_left.jpeg`) reads about -54 degrees yaw, not -90. Limits in
`swap.thresholds` are set on this instrument's readings, not on true angles.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from swap.face import HeadPose
from swap.landmarks import FaceLandmarks

POSE_LANDMARKS = (33, 133, 362, 263, 1)  # outer/inner eye corners (subject's right, then left), nose tip

# canonical_face_model.obj coordinates of POSE_LANDMARKS (cm; x to the subject's left, y up, z to viewer)
_CANONICAL = np.array(
    [
        [-4.445859, 2.663991, 3.173422],
        [-1.856432, 2.585245, 3.757904],
        [1.856432, 2.585245, 3.757904],
        [4.445859, 2.663991, 3.173422],
        [0.000000, -1.126865, 7.475604],
    ],
    dtype=np.float64,
)
# into the landmarks' image convention: x right, y down, z away from the camera
_REFERENCE = _CANONICAL * np.array([1.0, -1.0, -1.0])


def _points(landmarks: FaceLandmarks | npt.NDArray[Any]) -> npt.NDArray[np.float64]:
    pts = landmarks.points if isinstance(landmarks, FaceLandmarks) else np.asarray(landmarks)
    if pts.ndim != 2 or pts.shape[1] < 3 or pts.shape[0] <= max(POSE_LANDMARKS):
        raise ValueError(f"expected (478, 3) Face Mesh landmarks, got shape {pts.shape}")
    return np.asarray(pts[:, :3], dtype=np.float64)


def head_rotation(landmarks: FaceLandmarks | npt.NDArray[Any]) -> npt.NDArray[np.float64]:
    """Rotation matrix R (3x3) taking head-frame directions to image-frame directions (x right, y down,
    z away from the camera); the identity for a face looking straight into the camera."""
    obs = _points(landmarks)[list(POSE_LANDMARKS)]
    ref = _REFERENCE
    mo, mr = obs.mean(axis=0), ref.mean(axis=0)
    cov = (obs - mo).T @ (ref - mr)
    u, _, vt = np.linalg.svd(cov)
    d = np.sign(np.linalg.det(u @ vt)) or 1.0
    return np.asarray(u @ np.diag([1.0, 1.0, d]) @ vt, dtype=np.float64)


def pose_from_rotation(rot: npt.NDArray[np.float64]) -> HeadPose:
    """Euler angles of R = Ry(a) @ Rx(b) @ Rz(c) (image axes), mapped to the documented signs.

    Ry(a) with a > 0 swings the head's back toward +x, i.e. the nose toward the image's left: that is the
    subject turning to their right, hence yaw = -a. Rx(b) with b > 0 lifts the head's back, so the nose
    points down: pitch = -b. Rz(c) with c > 0 turns the head's x axis toward +y (down), clockwise on
    screen: roll = +c.
    """
    a = math.atan2(rot[0, 2], rot[2, 2])
    b = math.asin(max(-1.0, min(1.0, -rot[1, 2])))
    c = math.atan2(rot[1, 0], rot[1, 1])
    return HeadPose(yaw=-math.degrees(a), pitch=-math.degrees(b), roll=math.degrees(c))


def estimate_pose(landmarks: FaceLandmarks | npt.NDArray[Any]) -> HeadPose:
    """Yaw, pitch and roll in degrees of one face (see the module docstring for the signs and the bias)."""
    return pose_from_rotation(head_rotation(landmarks))
