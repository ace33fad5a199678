"""Analyse a visitor's photo: accept it (one usable face) or refuse it with a code and a sentence.

Why refuse at all: the engine copies the visitor's face *texture* into every poster and film frame.
Whatever is wrong in the photo is therefore wrong in every output: a second person may be picked,
a turned head leaves half the texture invented, darkness or blur makes a smeared face, a hand or a
mask gets painted onto the actor, an open mouth stays open for the whole film. It is cheaper for the
visitor to retake one photo than to receive five bad posters.

Order of the checks (cheapest and most fundamental first, so the message names the *first* thing
the visitor must fix): decode -> faces found / counted -> upside down -> face size -> face cut off by
the border -> head pose -> exposure -> blur -> a photographed screen -> something covering the face ->
a drawing -> expression. Every limit is in `swap.thresholds`, with the measurements that chose it.

Refusal codes (stable, `PhotoRejected.code`): not_an_image, image_too_small, image_too_large (decode),
no_face, multiple_faces, face_too_small, face_cut_off, not_facing_camera (turned, tilted, sideways or
upside down), too_dark, overexposed, too_blurry, screen_photo, face_covered, not_a_photo,
expression_strong.

Soft warnings (`FaceAnalysis.warnings`; the photo is accepted, the platform may suggest a better one):
face_small (face under SMALL_FACE_WARN_PX), head_turned (pose between the warn and refuse limits),
soft_focus (slightly blurred), hand_near_face (a hand touches or nearly touches the face without
covering it), expression_moderate (mouth somewhat open or a wide smile).

Known gaps: dark hair over the face is not detected. Two cues were measured on a synthetic brown lock
over one eye (all ten good photos) against the clean photos and 40 film frames: the share of the face
much darker than the skin (locks 0.03-0.25, clean 0.00-0.14) and the share darker *and* more textured
than its mirror twin (locks 0.11-0.32, clean 0.00-0.26): neither separates them, beards, moustaches,
glasses and side light look the same, so there is no honest threshold. Coloured hair, masks and objects
are caught by colour, hands by MediaPipe Hands. A big closed-mouth smile is only warned about (no
sample photo to set a refusal limit on). Flat-coloured drawings (cartoons, vector avatars, posterised
art) are refused (`swap.photo_kind`), realistic paintings are not: their gradients look like a photo's,
and a beauty-filtered selfie is as smooth as a painted cheek. Face Mesh lays an upright
mesh on some upside-down faces; the detector vote (`upside_down_evidence`) catches those on every
sample photo turned over.

Everything measured is returned by `measure_face` too, so benchmarks, tests and threshold tuning use
the very numbers the decision uses.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt

from swap import thresholds as th
from swap.errors import PhotoRejected
from swap.face import FaceAnalysis, HeadPose
from swap.imageio import decode_image
from swap.landmarks import N_MESH_VERTICES, Detection, FaceLandmarks, ImageArray, detect_boxes, find_faces
from swap.photo_kind import flat_patch_share
from swap.pose import estimate_pose
from swap.topology import face_topology

# --------------------------------------------------------------------------------------------------
# Measurements
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FaceMeasurements:
    """Every number the accept/refuse decision looks at, for one face in one image."""

    face_width_px: float
    cut_off: float  # how far the face outline reaches outside the image, as a fraction of face width
    pose: HeadPose
    luma_median: float  # 0-255 sRGB luma over the face's skin area
    luma_p95: float
    clipped_fraction: float  # share of the face area at luma >= 250 (blown-out highlights)
    sharpness: float  # fine-detail / mid-detail energy ratio at a fixed face scale (see `_sharpness`)
    hand_cover: float  # share of the face area under a detected hand
    hand_gap: float  # distance from the nearest hand to the face, as a fraction of face width (inf: none)
    hand_on_features: bool  # a hand covers an eye, the nose or the mouth
    foreign_fraction: float  # share of the checked face area whose colour is not skin (see _foreign_fraction)
    mouth_open: float  # inner-lip gap (13-14) / mouth width (61-291)
    mouth_width: float  # mouth width (61-291) / distance between the eye centres
    screen_pattern: float = 0.0  # strongest periodic peak in the skin's fine detail (see `_screen_pattern`)
    flat_patches: float = 0.0  # share of the face in patches of one exact brightness (`swap.photo_kind`)
    hand_mask: npt.NDArray[np.bool_] | None = field(default=None, compare=False, repr=False)  # (H, W), hands


def _face_crop(
    rgb: ImageArray, points: npt.NDArray[np.float32], margin: float
) -> tuple[ImageArray, npt.NDArray[np.float64], tuple[int, int]]:
    """Crop around the mesh (`margin` x face width on each side): crop, shifted points, crop origin."""
    h, w = rgb.shape[:2]
    xy = points[:N_MESH_VERTICES, :2].astype(np.float64)
    x0, y0 = xy.min(axis=0)
    x1, y1 = xy.max(axis=0)
    pad = margin * (x1 - x0)
    cx0, cy0 = max(0, int(x0 - pad)), max(0, int(y0 - pad))
    cx1, cy1 = min(w, int(np.ceil(x1 + pad))), min(h, int(np.ceil(y1 + pad)))
    pts = points[:, :2].astype(np.float64) - np.array([cx0, cy0], dtype=np.float64)
    return rgb[cy0:cy1, cx0:cx1], pts, (cx0, cy0)


@lru_cache(maxsize=1)
def _region_sets() -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_], npt.NDArray[np.int64]]:
    """(skin, checked, triangles): boolean masks over the mesh triangles.

    `checked` (looked at for occluders) = triangles touching no eye, eyebrow or outline vertex: brows are
    hair, eye rims carry lashes, make-up and glasses frames, and the outline's ring straddles hair, beard
    shadow and background on most photos (the texture builder trims it anyway). `skin` (the colour and
    exposure reference) = `checked` minus the lips, which are redder than skin.
    """
    from mediapipe.python.solutions import face_mesh_connections as fmc

    lips = {int(i) for edge in fmc.FACEMESH_LIPS for i in edge}
    excluded: set[int] = set()
    for conn in (
        fmc.FACEMESH_LEFT_EYE,
        fmc.FACEMESH_RIGHT_EYE,
        fmc.FACEMESH_LEFT_EYEBROW,
        fmc.FACEMESH_RIGHT_EYEBROW,
    ):
        for a, b in conn:
            excluded.update((a, b))
    topo = face_topology()
    tris = topo.triangles
    excluded.update(int(i) for i in topo.outer_loop)
    checked = ~np.isin(tris, np.fromiter(excluded, dtype=np.int64)).any(axis=1)
    skin = checked & ~np.isin(tris, np.fromiter(lips, dtype=np.int64)).any(axis=1)
    return skin, checked, tris


def _triangle_labels(shape: tuple[int, int], pts: npt.NDArray[np.float64]) -> npt.NDArray[np.int32]:
    """Image of triangle ids (+1; 0 = outside the face) rasterised from the mesh."""
    import cv2

    _, _, tris = _region_sets()
    labels = np.zeros(shape, dtype=np.int32)
    fixed = np.round(pts * 16).astype(np.int32)  # 4 fractional bits for sub-pixel edges
    for i, t in enumerate(tris):
        cv2.fillConvexPoly(labels, fixed[t], (i + 1,), lineType=cv2.LINE_8, shift=4)
    return labels


def _sharpness(grey: npt.NDArray[np.float32], face_mask: npt.NDArray[np.bool_], interocular: float) -> float:
    """Energy of the finest detail (3x3 Laplacian) over that of mid-scale detail (difference of Gaussians,
    sigma 1.5 and 3 px), both inside the face, after rescaling the face to 48 px between the eyes.

    Why a ratio: the plain Laplacian variance also grows with contrast and lighting, so a dark or a
    dark-skinned face would read as blurry. Blur removes fine detail *before* mid-scale detail, so the
    ratio falls with defocus and motion blur whatever the exposure. Rescaling to a fixed face size makes
    the number independent of the photo's resolution.
    """
    import cv2

    scale = th.SHARPNESS_INTEROCULAR_PX / max(interocular, 1.0)
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    small = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=interp)
    mask = cv2.resize(
        face_mask.astype(np.uint8), (small.shape[1], small.shape[0]), interpolation=cv2.INTER_NEAREST
    )
    mask = cv2.erode(mask, np.ones((5, 5), np.uint8)).astype(bool)  # keep the outline's edge out
    if mask.sum() < 50:
        return 0.0
    lap = cv2.Laplacian(small, cv2.CV_32F, ksize=1)
    dog = cv2.GaussianBlur(small, (0, 0), 1.5) - cv2.GaussianBlur(small, (0, 0), 3.0)
    mid = float(dog[mask].var())
    return float(lap[mask].var()) / max(mid, 1e-6)


class _Graphs(threading.local):
    """MediaPipe graphs are not thread-safe: one set per thread (hands, two face detectors)."""

    def __init__(self) -> None:
        self.hands: Any = None
        self.detectors: list[Any] = []


_graphs = _Graphs()


def _detector_confidence(rgb: ImageArray) -> float:
    """Best face-detector score over MediaPipe's short-range and full-range models (0 when none)."""
    if not _graphs.detectors:
        import mediapipe as mp

        _graphs.detectors = [
            mp.solutions.face_detection.FaceDetection(model_selection=sel, min_detection_confidence=0.2)
            for sel in (0, 1)
        ]
    best = 0.0
    for det in _graphs.detectors:
        for d in det.process(rgb).detections or []:
            best = max(best, float(d.score[0]))
    return best


def upside_down_evidence(rgb: ImageArray) -> tuple[float, float]:
    """(detector confidence as the photo is, confidence with the photo turned 180 degrees).

    Why: Face Mesh can lay an upright mesh over an upside-down face (woman_neutral_frown turned 180
    degrees is meshed with a plausible pose), which would put the mouth's texture where the eyes go.
    MediaPipe's face detectors are trained on upright faces: on the nine sample photos and the
    astronaut they score 0.84-0.98 upright and at most 0.78 turned over, and `upside_down.jpg` scores
    0.90 only once turned. Runs on a <= 640 px copy (the detectors see 128/192 px anyway).
    """
    import cv2

    h, w = rgb.shape[:2]
    scale = min(1.0, 640 / max(h, w))
    small: ImageArray = np.ascontiguousarray(
        rgb
        if scale == 1.0
        else cv2.resize(rgb, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA),
        dtype=np.uint8,
    )
    return _detector_confidence(small), _detector_confidence(np.ascontiguousarray(small[::-1, ::-1]))


def _screen_pattern(grey: npt.NDArray[np.float32], points: npt.NDArray[np.float64]) -> float:
    """How strongly the face's fine detail repeats on a grid: a photographed screen's pixel raster.

    A phone photo of a monitor shows the monitor's pixel grid (or its moire) all over the skin: in the
    spectrum of the fine detail of a square on the cheeks and nose, sharp peaks stand far above their
    neighbourhood, whereas skin, pores, noise and JPEG blocking give a smooth spectrum (the 8x8 JPEG
    grid's own frequencies are skipped). Returns the highest peak's log-ratio to the local spectrum
    level (`swap.thresholds.MAX_SCREEN_PATTERN` has the measured values).
    """
    import cv2

    xy = points[:N_MESH_VERTICES, :2]
    (x0, y0), (x1, y1) = xy.min(axis=0), xy.max(axis=0)
    cx, cy, half = (x0 + x1) / 2, (y0 + y1) / 2, int(0.3 * (x1 - x0))
    h, w = grey.shape
    top, left = max(0, int(cy - half)), max(0, int(cx - half))
    square = grey[top : min(h, int(cy + half)), left : min(w, int(cx + half))]
    n = min(square.shape) & ~1
    if n < 32:
        return 0.0
    square = square[:n, :n]
    fine = square - cv2.GaussianBlur(square, (0, 0), 2.0)
    window = np.outer(np.hanning(n), np.hanning(n)).astype(np.float32)
    spectrum = np.log(np.abs(np.fft.fftshift(np.fft.fft2(fine * window))) + 1e-6).astype(np.float32)
    level = cv2.GaussianBlur(cv2.medianBlur(spectrum, 5), (0, 0), 3)
    fy, fx = (np.mgrid[:n, :n] - n // 2) / n  # cycles per pixel
    band = (np.hypot(fx, fy) > 0.08) & (np.hypot(fx, fy) < 0.5)

    def on_jpeg_grid(f: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
        return np.asarray(np.abs(f * 8 - np.round(f * 8)) < 12 / n)

    keep = band & ~(on_jpeg_grid(fx) & on_jpeg_grid(fy))
    return float((spectrum - level)[keep].max()) if keep.any() else 0.0


def _hand_polygons(rgb: ImageArray) -> list[npt.NDArray[np.float64]]:
    """Each detected hand as its 21 landmarks in pixels (MediaPipe Hands, static mode, per thread)."""
    if _graphs.hands is None:
        import mediapipe as mp

        _graphs.hands = mp.solutions.hands.Hands(
            static_image_mode=True,
            max_num_hands=2,
            model_complexity=1,
            min_detection_confidence=th.HAND_MIN_CONFIDENCE,
        )
    h, w = rgb.shape[:2]
    result = _graphs.hands.process(np.ascontiguousarray(rgb))
    return [
        np.array([(p.x * w, p.y * h) for p in hand.landmark], dtype=np.float64)
        for hand in (result.multi_hand_landmarks or [])
    ]


# landmarks a hand must leave clear for the photo to be used: eye corners and lids, nose tip and wings,
# lip corners and centres (a hand elsewhere on the face is filled from the mirrored side)
FEATURE_POINTS = (33, 133, 159, 145, 362, 263, 386, 374, 1, 4, 98, 327, 61, 291, 0, 17, 13, 14)


@dataclass(frozen=True)
class HandCover:
    """Hands against one face: share of the face under them, gap to the face (face widths; inf: none),
    whether they cover an eye, the nose or the mouth, and their pixels in the whole image."""

    cover: float = 0.0
    gap: float = float("inf")
    on_features: bool = False
    mask: npt.NDArray[np.bool_] | None = None


def _hand_cover(
    rgb: ImageArray,
    face_mask_full: npt.NDArray[np.bool_],
    offset: tuple[int, int],
    face_width: float,
    points: npt.NDArray[np.float64],
) -> HandCover:
    """The hands detected in `rgb` against the face (`face_mask_full`: the mesh in the crop at `offset`).

    A hand's 21 landmarks sit on the joints, inside the hand's outline; the region is their convex hull
    grown by HAND_MARGIN x the palm length (wrist to middle-finger knuckle), about a finger's half width.
    """
    import cv2

    ox, oy = offset
    # searched in the face's neighbourhood (HAND_SEARCH face widths around the mesh): MediaPipe's palm
    # detector finds a hand on a cheek far more often when it fills more of the image (a hand pasted on
    # five shared photos at 12 placements each: found in 53 of 60 crops, against at most 42 in the
    # whole photos), and only hands that reach the face matter
    full_xy = points[:N_MESH_VERTICES, :2] + np.array([ox, oy])
    (fx0, fy0), (fx1, fy1) = full_xy.min(axis=0), full_xy.max(axis=0)
    reach = th.HAND_SEARCH * float(fx1 - fx0)
    h_img, w_img = rgb.shape[:2]
    sx0, sy0 = max(0, int(fx0 - reach)), max(0, int(fy0 - reach))
    sx1, sy1 = min(w_img, int(np.ceil(fx1 + reach))), min(h_img, int(np.ceil(fy1 + reach)))
    hands = _hand_polygons(np.ascontiguousarray(rgb[sy0:sy1, sx0:sx1]))  # in the search crop's pixels
    if not hands:
        return HandCover()
    hh, ww = face_mask_full.shape
    face_area = max(int(face_mask_full.sum()), 1)
    dist = cv2.distanceTransform((~face_mask_full).astype(np.uint8), cv2.DIST_L2, 5)
    # drawn in the search crop, which holds the face crop (a smaller margin around the same mesh): the
    # asset only looks at face pixels, so nothing beyond it is needed
    near: npt.NDArray[Any] = np.zeros((sy1 - sy0, sx1 - sx0), np.uint8)
    for pts in hands:
        grow = th.HAND_MARGIN * float(np.linalg.norm(pts[0] - pts[9]))
        hand: npt.NDArray[Any] = np.zeros_like(near)
        cv2.fillConvexPoly(hand, cv2.convexHull(np.round(pts).astype(np.int32)), (1,))
        if grow >= 1:
            k = round(grow)
            hand = cv2.dilate(hand, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1)))
        near |= hand
    inside = near[oy - sy0 : oy - sy0 + hh, ox - sx0 : ox - sx0 + ww].astype(bool)
    if not inside.any():  # the hands lie outside the face crop altogether
        return HandCover()
    full = np.zeros(rgb.shape[:2], bool)
    full[sy0:sy1, sx0:sx1] = near.astype(bool)
    xy = np.round(points[list(FEATURE_POINTS), :2]).astype(np.int64)
    ok = (xy[:, 0] >= 0) & (xy[:, 0] < ww) & (xy[:, 1] >= 0) & (xy[:, 1] < hh)
    return HandCover(
        cover=float((inside & face_mask_full).sum()) / face_area,
        gap=float(dist[inside].min()) / max(face_width, 1.0),
        on_features=bool(inside[xy[ok, 1], xy[ok, 0]].any()),
        mask=full,
    )


def _foreign_fraction(lab: npt.NDArray[Any], labels: npt.NDArray[np.int32]) -> float:
    """Share of the checked face area whose colour is not the face's own skin colour.

    Per mesh triangle, the mean CIELAB a*, b*; the skin reference is the area-weighted median over
    the skin triangles. A triangle is foreign when
    * its (a*, b*) lies more than FOREIGN_CHROMA_DELTA from the reference *and* its hue differs by more
      than FOREIGN_HUE_DEG (a coloured object: a blue mask is ~180 degrees away; shadows, highlights and
      the cool window light on one cheek of a mixed-light selfie shift hue by less), or
    * its chroma is below FOREIGN_NEUTRAL_CHROMA_RATIO x the skin's (a white, grey or black object;
      shadows and specular highlights keep a clear skin tint).
    Catches masks, scarves, phones and other objects; it cannot see a hand (skin coloured: MediaPipe
    Hands does that) and is skipped in black-and-white photos (then 0).
    """
    skin, checked, tris = _region_sets()
    n = len(tris)
    flat = labels.ravel()
    inside = flat > 0
    ids = flat[inside] - 1
    counts = np.bincount(ids, minlength=n).astype(np.float64)
    a, b = (
        np.bincount(ids, weights=lab[..., k].ravel()[inside], minlength=n) / np.maximum(counts, 1)
        for k in (1, 2)
    )
    ref = skin & (counts >= 3)
    if counts[ref].sum() < 100:
        return 0.0
    ref_a = _weighted_median(a[ref], counts[ref])
    ref_b = _weighted_median(b[ref], counts[ref])
    ref_c = float(np.hypot(ref_a, ref_b))
    if ref_c < th.FOREIGN_MIN_SKIN_CHROMA:  # black-and-white or near-grey photo: colour says nothing
        return 0.0
    chroma = np.hypot(a, b)
    look = checked & (counts >= 3)
    delta = np.hypot(a[look] - ref_a, b[look] - ref_b)
    cos_hue = (a[look] * ref_a + b[look] * ref_b) / (chroma[look] * ref_c + 1e-6)
    coloured = (delta > th.FOREIGN_CHROMA_DELTA) & (cos_hue < np.cos(np.radians(th.FOREIGN_HUE_DEG)))
    neutral = chroma[look] < th.FOREIGN_NEUTRAL_CHROMA_RATIO * ref_c
    w = counts[look]
    return float(w[coloured | neutral].sum() / w.sum())


def _weighted_median(values: npt.NDArray[np.float64], weights: npt.NDArray[np.float64]) -> float:
    order = np.argsort(values)
    cum = np.cumsum(weights[order])
    return float(values[order][min(int(np.searchsorted(cum, cum[-1] / 2)), len(values) - 1)])


def measure_face(rgb: ImageArray, face: FaceLandmarks, *, with_hands: bool = True) -> FaceMeasurements:
    """All measurements of `face` in `rgb` (the decision thresholds are applied by `analyze_photo`)."""
    import cv2

    pts_full = face.points.astype(np.float64)
    h, w = rgb.shape[:2]
    fw = face.face_width
    outline = pts_full[face_topology().outer_loop, :2]
    outside = np.concatenate(
        [-outline[:, 0], outline[:, 0] - w, -outline[:, 1], outline[:, 1] - h]
    ).max()  # how far the furthest outline point lies beyond any border (px; <= 0 when inside)
    cut_off = max(0.0, float(outside)) / max(fw, 1.0)

    crop, pts, origin = _face_crop(rgb, face.points, margin=0.15)
    labels = _triangle_labels((crop.shape[0], crop.shape[1]), pts)
    face_mask = labels > 0
    skin_tri, _, _ = _region_sets()
    skin_mask = face_mask & skin_tri[np.maximum(labels - 1, 0)]

    grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    luma = grey[skin_mask] if skin_mask.any() else grey[face_mask]
    if luma.size == 0:
        luma = grey.ravel()
    luma_median = float(np.median(luma))
    luma_p95 = float(np.percentile(luma, 95))
    clipped = float(np.mean(luma >= th.CLIPPED_LUMA))

    sharp = _sharpness(grey.astype(np.float32), face_mask, face.interocular)
    screen = _screen_pattern(grey.astype(np.float32), pts)  # the crop holds the square it looks at
    flat = flat_patch_share(grey.astype(np.uint8, copy=False), face_mask, fw)

    lab = cv2.cvtColor(crop.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    foreign = _foreign_fraction(lab, labels)

    hands = _hand_cover(rgb, face_mask, origin, fw, pts) if with_hands else HandCover()

    p = pts_full
    mouth_w = float(np.linalg.norm(p[61, :2] - p[291, :2]))
    mouth_open = float(np.linalg.norm(p[13, :2] - p[14, :2])) / max(mouth_w, 1e-6)
    mouth_width = mouth_w / max(face.interocular, 1e-6)

    return FaceMeasurements(
        face_width_px=fw,
        cut_off=cut_off,
        pose=estimate_pose(face),
        luma_median=luma_median,
        luma_p95=luma_p95,
        clipped_fraction=clipped,
        sharpness=sharp,
        hand_cover=hands.cover,
        hand_gap=hands.gap,
        hand_on_features=hands.on_features,
        hand_mask=hands.mask,
        foreign_fraction=foreign,
        mouth_open=mouth_open,
        mouth_width=mouth_width,
        screen_pattern=screen,
        flat_patches=flat,
    )


# --------------------------------------------------------------------------------------------------
# Decision
# --------------------------------------------------------------------------------------------------


def _box_holds(box: Detection, face: FaceLandmarks) -> bool:
    """A detector box belongs to a mesh face when the face's nose tip lies inside it."""
    x, y = face.points[1, :2]
    return bool(box.x0 <= x <= box.x1 and box.y0 <= y <= box.y1)


def find_main_face(rgb: ImageArray) -> FaceLandmarks:
    """The one face of the photo, or `PhotoRejected` (``no_face`` / ``multiple_faces``).

    Faces come from Face Mesh plus the face detector (which also finds the small faces of a group photo
    that Face Mesh misses). A detector box with no mesh face counts as a person too, so the count is
    honest even when a second face cannot be meshed. People much smaller than the main face (a
    passer-by far behind) are ignored: they cannot be mistaken for the visitor and are not in the texture.
    """
    faces = find_faces(rgb)
    boxes = detect_boxes(rgb)
    if not faces:
        if boxes:
            raise PhotoRejected(
                "no_face",
                "We could not make out a face in this photo: use an upright photo with your whole face "
                "clearly visible.",
            )
        raise PhotoRejected(
            "no_face", "No face found in this photo: upload a photo of your face, looking at the camera."
        )
    main = faces[0]
    others = [f.face_width for f in faces[1:]]
    # detector boxes are ~1.2x wider than the mesh's bounding box: compare like with like
    others += [b.width / th.DETECTOR_TO_MESH_WIDTH for b in boxes if not any(_box_holds(b, f) for f in faces)]
    if any(o >= th.SECOND_FACE_MIN_RATIO * main.face_width for o in others):
        raise PhotoRejected("multiple_faces", "More than one face found: upload a photo of just you.")
    return main


def _too_small(face_width_px: float) -> str:
    return (
        f"Your face is too small in this photo ({face_width_px:.0f} pixels wide): "
        "move closer or crop the photo so your face fills more of it."
    )


_UPSIDE_DOWN = "This photo is upside down: turn it the right way up and upload it again."
_UPSIDE_DOWN_ROLL_DEG = 135.0  # a roll past this is a photo turned over, not a tilted head


@dataclass(frozen=True)
class _Limit:
    """One limit on the measurements. When `breached`, a hard limit refuses the photo with `code` and
    `message` (a sentence, or one made from the measurements); a soft one (`message` None) adds `code`
    to the warnings."""

    code: str
    breached: Callable[[FaceMeasurements], bool]
    message: str | Callable[[FaceMeasurements], str] | None = None


# In the order of the module docstring: the first hard limit breached names what to fix first.
_LIMITS = (
    _Limit(
        "face_too_small",
        lambda m: m.face_width_px < th.MIN_FACE_WIDTH_PX,
        lambda m: _too_small(m.face_width_px),
    ),
    _Limit("face_small", lambda m: m.face_width_px < th.SMALL_FACE_WARN_PX),
    _Limit(
        "face_cut_off",
        lambda m: m.cut_off > th.MAX_CUT_OFF,
        "Part of your face is cut off by the edge of the photo: use a photo with your whole face, "
        "from forehead to chin, inside the picture.",
    ),
    _Limit(
        "not_facing_camera",
        lambda m: abs(m.pose.roll) > th.MAX_ABS_ROLL_DEG and abs(m.pose.roll) > _UPSIDE_DOWN_ROLL_DEG,
        _UPSIDE_DOWN,
    ),
    _Limit(
        "not_facing_camera",
        lambda m: abs(m.pose.roll) > th.MAX_ABS_ROLL_DEG,
        "This photo is sideways or your head is tilted too far: turn the photo upright, with your head "
        "straight.",
    ),
    _Limit(
        "not_facing_camera",
        lambda m: abs(m.pose.yaw) > th.MAX_ABS_YAW_DEG or abs(m.pose.pitch) > th.MAX_ABS_PITCH_DEG,
        "Your head is turned away from the camera: use a photo where you look straight into the camera.",
    ),
    _Limit(
        "head_turned",
        lambda m: abs(m.pose.yaw) > th.WARN_ABS_YAW_DEG or abs(m.pose.pitch) > th.WARN_ABS_PITCH_DEG,
    ),
    _Limit(
        "too_dark",
        lambda m: m.luma_p95 < th.TOO_DARK_P95,
        "Your face is too dark in this photo: take it again facing a window or a lamp.",
    ),
    _Limit(
        "overexposed",
        lambda m: m.clipped_fraction > th.MAX_CLIPPED_FRACTION or m.luma_median > th.OVEREXPOSED_MEDIAN,
        "Your face is too bright in this photo (washed out): take it again out of direct sun or "
        "without the flash.",
    ),
    _Limit(
        "too_blurry",
        lambda m: m.sharpness < th.MIN_SHARPNESS,
        "This photo is too blurry: hold the phone still, tap your face to focus and take it again.",
    ),
    _Limit("soft_focus", lambda m: m.sharpness < th.WARN_SHARPNESS),
    _Limit(
        "screen_photo",
        lambda m: m.screen_pattern > th.MAX_SCREEN_PATTERN,
        "This looks like a photo of a screen: upload the original photo file instead (or take a new "
        "photo of yourself).",
    ),
    _Limit(
        "face_covered",
        lambda m: m.hand_on_features,
        "A hand is covering your eyes, nose or mouth: use a photo where they are clearly visible.",
    ),
    _Limit(
        "face_covered",
        lambda m: m.hand_cover > th.MAX_HAND_COVER,
        "A hand is covering too much of your face: use a photo with nothing in front of your face.",
    ),
    _Limit("hand_near_face", lambda m: m.hand_cover > 0 or m.hand_gap < th.HAND_NEAR_GAP),
    _Limit(
        "face_covered",
        lambda m: m.foreign_fraction > th.MAX_FOREIGN_FRACTION,
        "Something is covering part of your face (a mask, hair, glasses or an object): use a photo "
        "where your whole face is visible.",
    ),
    # after the colour occluders: a flat patch pasted over the mouth is one exact colour too, and
    # "covered" is the more useful message for it
    _Limit(
        "not_a_photo",
        lambda m: m.flat_patches > th.MAX_FLAT_PATCH_SHARE,
        "This looks like a painting or a drawing, not a photo: upload a photo of your own face.",
    ),
    _Limit(
        "expression_strong",
        lambda m: m.mouth_open > th.MAX_MOUTH_OPEN,
        "Your mouth is wide open in this photo: use a photo with a relaxed face and your mouth closed.",
    ),
    _Limit(
        "expression_moderate",
        lambda m: m.mouth_open > th.WARN_MOUTH_OPEN or m.mouth_width > th.WARN_MOUTH_WIDTH,
    ),
)


def check_face(m: FaceMeasurements) -> tuple[str, ...]:
    """Apply every limit to the measurements: raise `PhotoRejected` or return the soft warnings."""
    warnings: list[str] = []
    for limit in _LIMITS:
        if not limit.breached(m):
            continue
        if limit.message is None:
            warnings.append(limit.code)
        else:
            raise PhotoRejected(
                limit.code, limit.message if isinstance(limit.message, str) else limit.message(m)
            )
    return tuple(warnings)


def analyze_rgb(rgb: ImageArray) -> FaceAnalysis:
    """`analyze_photo` for already decoded, upright RGB pixels (templates, tests, benchmarks)."""
    face = find_main_face(rgb)
    upright_score, turned_score = upside_down_evidence(rgb)
    if turned_score > upright_score + th.UPSIDE_DOWN_MARGIN:
        raise PhotoRejected("not_facing_camera", _UPSIDE_DOWN)
    if face.face_width < th.MIN_FACE_WIDTH_PX:  # skip the costlier measurements for a hopeless face
        raise PhotoRejected("face_too_small", _too_small(face.face_width))
    m = measure_face(rgb, face)
    warnings = check_face(m)
    # an accepted hand on the face (clear of the features) is filled from the mirrored side (swap.asset)
    occluders = m.hand_mask if m.hand_cover > 0 else None
    return FaceAnalysis(rgb=rgb, landmarks=face, pose=m.pose, warnings=warnings, occluders=occluders)


def analyze_photo(photo: bytes) -> FaceAnalysis:
    """Decode the upload (any common format incl. HEIC, EXIF-upright, <= 2048 px) and analyse it.

    Returns the accepted photo's pixels, landmarks, pose and soft warnings; raises `PhotoRejected`
    with one of the codes of the engine contract and a sentence telling the visitor what to do.
    """
    return analyze_rgb(decode_image(photo))
