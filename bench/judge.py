"""The independent identity judge: dlib's ResNet face descriptor (the `eval` extra).

Why a separate judge: the engine's own `identity_transfer` measures texture correlation in UV space,
which a texture swap carries by construction. A face recogniser trained on other data says whether a
person would be recognised. dlib's authors put the "same person" threshold at a distance of 0.6.

Only the 5-point aligner and the ResNet descriptor of `face_recognition_models` are loaded: the
68-point model in that package is not licensed for commercial use. The product (`swap`, `campaign`,
`workers`) never imports this module (an import-linter contract in pyproject.toml): the judge stays a
judge and the engine cannot optimise against it.

The face is found by dlib's own HOG detector near the caller's box (from Face Mesh landmarks); when
HOG finds none there (strong roll, blur, a swapped face HOG dislikes) the caller's box is used so the
frame is still scored, and `FaceJudge.found_by` counts how many descriptors came each way.
"""

from __future__ import annotations

import warnings
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

SAME_PERSON = 0.6  # dlib's convention: distance below this = the same person
# How a Face Mesh box (x0, y0, x1, y1 of the mesh vertices, forehead to chin) maps onto the square
# box dlib's HOG detector returns: measured on the 17 shared photos HOG finds (side 0.91 +- 0.06
# of the mesh box, centre +0.00 +- 0.03 of its height).
_HINT_SCALE = 0.91
_HINT_DROP = 0.0
_CROP_FACE_PX = 220  # the judge looks at a crop with the face about this wide (dlib's chip is 150 px)

ImageArray = npt.NDArray[np.uint8]
Box = tuple[float, float, float, float]


class JudgeUnavailable(RuntimeError):
    """The `eval` extra (dlib-bin, face_recognition_models, setuptools<81) is not installed."""


@dataclass(frozen=True)
class Judgement:
    """One face's 128-d descriptor and how the face was found ("hog" or "hint")."""

    vector: npt.NDArray[np.float64]
    found_by: str


def _load() -> tuple[Any, Any, Any]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # face_recognition_models imports the deprecated pkg_resources
            import dlib
            import face_recognition_models as models
    except ImportError as exc:
        raise JudgeUnavailable(
            f"the identity judge needs the eval extra: pip install -e '.[eval]' ({exc})"
        ) from exc
    detector = dlib.get_frontal_face_detector()
    aligner = dlib.shape_predictor(models.pose_predictor_five_point_model_location())
    encoder = dlib.face_recognition_model_v1(models.face_recognition_model_location())
    return detector, aligner, encoder


def hint_to_rect(box: Box) -> Box:
    """A Face Mesh box as the square box dlib's HOG detector would give for that face."""
    x0, y0, x1, y1 = box
    side = _HINT_SCALE * max(x1 - x0, y1 - y0)
    cx = (x0 + x1) / 2
    cy = (y0 + y1) / 2 + _HINT_DROP * (y1 - y0)
    return cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2


def _iou(a: Box, b: Box) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


class FaceJudge:
    """Descriptors of faces in RGB images; `distance` < `SAME_PERSON` means "the same person"."""

    def __init__(self) -> None:
        self._detector, self._aligner, self._encoder = _load()
        self.found_by: Counter[str] = Counter()

    def descriptor(self, rgb: ImageArray, box_hint: Box | None = None) -> Judgement | None:
        """The descriptor of the face in `rgb` nearest `box_hint` (or of the largest face without one).

        With a hint, the judge looks at a crop around it scaled so the face is ~220 px wide (the same
        procedure for photo, frame and output, and fast on big photos); a HOG face must overlap the
        hint (IoU > 0.3) to be taken, else the hint's box is used. None when there is no hint and HOG
        finds no face.
        """
        import cv2
        import dlib

        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"expected an (H, W, 3) uint8 RGB image, got {rgb.shape} {rgb.dtype}")
        image = rgb
        hint = hint_to_rect(box_hint) if box_hint is not None else None
        if hint is not None:
            side = hint[2] - hint[0]
            if side <= 4:
                raise ValueError(f"box hint {box_hint} is too small to hold a face")
            h, w = rgb.shape[:2]
            cx0 = int(max(0, hint[0] - side))
            cy0 = int(max(0, hint[1] - side))
            cx1 = int(min(w, hint[2] + side))
            cy1 = int(min(h, hint[3] + side))
            scale = min(1.0, _CROP_FACE_PX / side) if side > _CROP_FACE_PX else _CROP_FACE_PX / side
            crop = rgb[cy0:cy1, cx0:cx1]
            size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
            interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
            image = np.ascontiguousarray(cv2.resize(crop, size, interpolation=interp))
            hint = (
                (hint[0] - cx0) * scale,
                (hint[1] - cy0) * scale,
                (hint[2] - cx0) * scale,
                (hint[3] - cy0) * scale,
            )
        dets = list(self._detector(image, 0))
        if not dets:
            dets = list(self._detector(image, 1))
        boxes: list[Box] = [(d.left(), d.top(), d.right(), d.bottom()) for d in dets]
        chosen: Box | None = None
        found_by = "hog"
        if hint is not None:
            scored = [(_iou(b, hint), b) for b in boxes]
            best = max(scored, default=(0.0, hint))
            if best[0] > 0.3:
                chosen = best[1]
            else:
                chosen, found_by = hint, "hint"
        elif boxes:
            chosen = max(boxes, key=lambda b: (b[2] - b[0]) * (b[3] - b[1]))
        if chosen is None:
            return None
        rect = dlib.rectangle(*(round(v) for v in chosen))
        shape = self._aligner(image, rect)
        vector = np.asarray(self._encoder.compute_face_descriptor(image, shape), dtype=np.float64)
        self.found_by[found_by] += 1
        return Judgement(vector, found_by)

    @staticmethod
    def distance(a: Judgement, b: Judgement) -> float:
        """Euclidean distance of two descriptors (dlib's metric; < 0.6 = same person)."""
        return float(np.linalg.norm(a.vector - b.vector))
