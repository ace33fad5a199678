"""MediaPipe Face Mesh behind a small typed facade.

Everything else in the engine speaks `FaceLandmarks` (pixel coordinates), never MediaPipe's
normalised protobufs. Two MediaPipe facts shape this module:

* Face Mesh's own detector misses faces narrower than ~200 px in a 720p frame, so faces are
  also looked for with the short-range/long-range face *detector* (`model_selection=1`), and a
  face the mesh did not report is re-run through Face Mesh on an upscaled crop.
* With `max_num_faces=1` Face Mesh can never report a second face, so counting uses a higher
  limit plus the detector.

MediaPipe graphs are not thread-safe; one set of graphs is kept per thread.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

N_LANDMARKS = 478
N_MESH_VERTICES = 468  # the last 10 are iris points, not part of the tesselation

FloatArray = npt.NDArray[np.float32]
ImageArray = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class FaceLandmarks:
    """478 Face Mesh landmarks of one face in pixel units.

    `points[:, 0:2]` are x, y in pixels of the analysed image; `points[:, 2]` is MediaPipe's relative
    depth scaled by the image width (so it has the same unit as x: larger is farther from the camera).
    """

    points: FloatArray
    image_size: tuple[int, int]  # (width, height)
    detection_score: float = 1.0

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        """(x0, y0, x1, y1) of the mesh vertices."""
        xy = self.points[:N_MESH_VERTICES, :2]
        x0, y0 = xy.min(axis=0)
        x1, y1 = xy.max(axis=0)
        return float(x0), float(y0), float(x1), float(y1)

    @property
    def face_width(self) -> float:
        """Width of the mesh's bounding box in pixels: the engine's unit of face size."""
        x0, _, x1, _ = self.bbox
        return x1 - x0

    @property
    def interocular(self) -> float:
        """Distance between the two eye centres (iris centres 468 and 473) in pixels."""
        return float(np.linalg.norm(self.points[468, :2] - self.points[473, :2]))


def landmark_points(landmarks: FaceLandmarks | npt.NDArray[np.floating[Any]]) -> FloatArray:
    """The (478, 3) float32 points of `landmarks` (a `FaceLandmarks` or an array), contiguous.

    Raises ValueError for anything not shaped like Face Mesh points (at least the 468 mesh vertices).
    """
    pts = landmarks.points if isinstance(landmarks, FaceLandmarks) else np.asarray(landmarks)
    if pts.ndim != 2 or pts.shape[0] < 468 or pts.shape[1] != 3:
        raise ValueError(f"landmarks must be (478, 3) Face Mesh points, got shape {pts.shape}")
    return np.ascontiguousarray(pts, dtype=np.float32)


class _Graphs(threading.local):
    def __init__(self) -> None:
        self.static_mesh: Any = None
        self.detector: Any = None


_graphs = _Graphs()


def _mp() -> Any:
    import mediapipe as mp  # heavy import: only when a face is really looked for

    return mp


def _static_mesh() -> Any:
    if _graphs.static_mesh is None:
        _graphs.static_mesh = _mp().solutions.face_mesh.FaceMesh(
            static_image_mode=True, max_num_faces=4, refine_landmarks=True, min_detection_confidence=0.5
        )
    return _graphs.static_mesh


def _detector() -> Any:
    if _graphs.detector is None:
        _graphs.detector = _mp().solutions.face_detection.FaceDetection(
            model_selection=1, min_detection_confidence=0.5
        )
    return _graphs.detector


def _to_points(landmarks: Any, width: int, height: int) -> FloatArray:
    arr = np.array([(p.x, p.y, p.z) for p in landmarks.landmark], dtype=np.float32)
    arr[:, 0] *= width
    arr[:, 1] *= height
    arr[:, 2] *= width
    return arr


def _contiguous_rgb(rgb: ImageArray) -> ImageArray:
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an HxWx3 uint8 RGB image, got shape {rgb.shape} and dtype {rgb.dtype}")
    return np.ascontiguousarray(rgb)


def mesh_faces(rgb: ImageArray) -> list[FaceLandmarks]:
    """Faces found by Face Mesh alone (up to four), largest first."""
    rgb = _contiguous_rgb(rgb)
    h, w = rgb.shape[:2]
    result = _static_mesh().process(rgb)
    faces = [FaceLandmarks(_to_points(lm, w, h), (w, h)) for lm in (result.multi_face_landmarks or [])]
    return sorted(faces, key=lambda f: -f.face_width)


@dataclass(frozen=True)
class Detection:
    """A face box from MediaPipe's face detector, in pixels."""

    x0: float
    y0: float
    x1: float
    y1: float
    score: float

    @property
    def width(self) -> float:
        return self.x1 - self.x0


def detect_boxes(rgb: ImageArray, *, min_score: float = 0.5) -> list[Detection]:
    """Face boxes from the full-range detector (finds 50-200 px faces that Face Mesh misses)."""
    rgb = _contiguous_rgb(rgb)
    h, w = rgb.shape[:2]
    result = _detector().process(rgb)
    boxes = []
    for det in result.detections or []:
        score = float(det.score[0])
        if score < min_score:
            continue
        rb = det.location_data.relative_bounding_box
        boxes.append(
            Detection(rb.xmin * w, rb.ymin * h, (rb.xmin + rb.width) * w, (rb.ymin + rb.height) * h, score)
        )
    return sorted(boxes, key=lambda d: -d.width)


def mesh_in_box(rgb: ImageArray, box: Detection, *, crop_size: int = 384) -> FaceLandmarks | None:
    """Run Face Mesh on an upscaled square crop around `box`; landmarks come back in full-image pixels."""
    import cv2

    rgb = _contiguous_rgb(rgb)
    h, w = rgb.shape[:2]
    cx, cy = (box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2
    side = max(box.x1 - box.x0, box.y1 - box.y0) * 2.0
    scale = crop_size / side
    # affine crop (handles crops that run past the image border without copying the whole frame)
    m = np.array([[scale, 0, crop_size / 2 - cx * scale], [0, scale, crop_size / 2 - cy * scale]], np.float32)
    crop = cv2.warpAffine(
        rgb, m, (crop_size, crop_size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
    )
    faces = mesh_faces(np.asarray(crop, dtype=np.uint8))
    if not faces:
        return None
    pts = faces[0].points.copy()
    pts[:, 0] = (pts[:, 0] - m[0, 2]) / scale
    pts[:, 1] = (pts[:, 1] - m[1, 2]) / scale
    pts[:, 2] = pts[:, 2] / scale
    return FaceLandmarks(pts, (w, h), box.score)


def _box_contains(box: Detection, face: FaceLandmarks) -> bool:
    nose_x, nose_y = face.points[1, :2]
    return bool(box.x0 <= nose_x <= box.x1 and box.y0 <= nose_y <= box.y1)


def find_faces(rgb: ImageArray) -> list[FaceLandmarks]:
    """All faces found by Face Mesh or by the detector (re-meshed on an upscaled crop), largest first.

    A detector box with no mesh face inside it is counted as a face even when the crop mesh fails,
    so that the *count* of people is honest; such faces carry landmarks only if the crop mesh succeeded.
    """
    faces = mesh_faces(rgb)
    for box in detect_boxes(rgb):
        if any(_box_contains(box, f) for f in faces):
            continue
        crop_face = mesh_in_box(rgb, box)
        if crop_face is not None:
            faces.append(crop_face)
    return sorted(faces, key=lambda f: -f.face_width)
