"""Film ingest: find and follow the protagonist in every frame, once per film template.

Two streaming passes over the film (never the whole film in memory):

1. **Landmarks and tracking.** Face Mesh in tracking mode (one graph per ingest: the previous frame's
   face seeds the next, steadier and faster than static mode) for up to `MAX_FACES` faces, plus, when the
   mesh finds nothing and every `DETECT_EVERY` frames, MediaPipe's full-range face detector with a
   re-mesh of an upscaled crop (`mesh_in_box`) so that faces under ~200 px are found. Shot cuts come from
   a colour-histogram difference between consecutive frames. Faces are chained into tracklets by box
   overlap / centre distance, never across a cut. The protagonist is the tracklet with the largest
   presence x size; in other shots the dominant tracklet is taken only if it is present most of the shot
   and of comparable size, so a bystander (e.g. a blurred face in the background) is never chosen.
2. **Per-frame maps**, with the smoothed landmarks (`swap.film.smoothing`): the light map
   (`swap.target.prepare_target`), smoothed over time; the expression detail (the face's UV luminance
   relative to its median over the stretch, band-passed) and an occlusion map (texels whose colour
   departs strongly both from the median texture and from the face's own colour model: hands, hair).

Frames where the face is absent, too small or too turned are flagged and stay untouched at render,
with a short fade (`strength`) where the swap would otherwise pop in or out within a shot.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
from scipy.ndimage import gaussian_filter, maximum_filter

from swap.errors import TemplateError
from swap.film import io
from swap.film.glasses import DEFAULT_GLASSES, GlassesMode, check_glasses_mode
from swap.film.smoothing import jitter, smooth_series, smooth_stretch
from swap.film.track import (
    ABSENT,
    INTERPOLATED,
    SHOT_START,
    TOO_BRIEF,
    TOO_SMALL,
    TOO_TURNED,
    UNCOVERED,
    FilmTrack,
    encode_detail,
    encode_landmarks,
    encode_unit,
    track_path,
)
from swap.landmarks import N_MESH_VERTICES, FaceLandmarks, detect_boxes, mesh_in_box
from swap.threads import single_blas_thread

Progress = Callable[[int, int], None]
FloatArray = npt.NDArray[np.float32]

# ---- thresholds (film-specific; photo thresholds live in swap.thresholds) --------------------------------
MAX_FACES = 3  # faces the tracking graph follows at once (protagonist + bystanders)
DETECT_EVERY = 10  # run the small-face detector at least this often (frames)
MIN_DETECT_PX = 24  # detector boxes narrower than this are not re-meshed
MIN_FACE_PX = 48  # narrower faces are flagged TOO_SMALL: too few pixels for a convincing swap
MAX_YAW_DEG = 45.0  # Face Mesh reads a strict profile as ~50 deg; beyond this the far cheek is invisible
MAX_PITCH_DEG = 35.0
CUT_THRESHOLD = 0.25  # Bhattacharyya distance of consecutive frames' HSV histograms that marks a cut
MAX_GAP = 12  # frames a tracklet may miss and still be continued
INTERPOLATE_GAP = 3  # missing frames inside a run that are interpolated rather than left untouched
MIN_RUN = 8  # shorter covered runs are not swapped (the swap would flash)
FADE = 6  # frames of cross-fade where a covered run starts/ends inside a shot
SHOT_PRESENCE = 0.5  # a tracklet must be in this share of a (non-main) shot's frames to be the protagonist
SIZE_RATIO = 0.5  # ... and at least this fraction of the main tracklet's median width
# ... and its face shape (frontalised landmarks, mean vertex distance in outer-eye-corner units) this close to
# the main tracklet's: same person across halves of a film measured 0.008-0.023, different people 0.018-0.077
# (the hamilton clip's audience member: 0.075). A crude identity cue, but it errs toward leaving a shot alone.
SHAPE_MATCH = 0.03
LIGHT_STORE = 32  # stored light-map resolution (they are low-pass)
LIGHT_TIME_SIGMA = 2.0  # frames
LIGHT_FACE_PX = 128  # light maps are computed on a crop downscaled to this face width
FACING_FULL = 0.6  # cosine from which a texel of the detail/occlusion unwrap is fully trusted
MAP_SIZE = 64  # expression detail and occlusion resolution in UV
DETAIL_BAND = (0.8, 6.0)  # band-pass sigmas in texels at MAP_SIZE: folds, not lighting
DETAIL_TIME_SIGMA = 1.0
OCC_COLOUR = 0.12  # RGB distance (0..1) from the median texture where occlusion starts ...
OCC_COLOUR_FULL = 0.22  # ... and is certain
OCC_MAHALANOBIS = 3.0  # skin-model distance where occlusion starts (full at +2)
MIN_FILM_S = 1.0  # shorter films are refused (too_short)
MIN_COVERAGE = 0.05  # films whose protagonist is swappable in fewer frames are refused (no_face)


@dataclass
class _Tracklet:
    shot: int
    frames: list[int] = field(default_factory=list)
    points: list[FloatArray] = field(default_factory=list)

    @property
    def last_box(self) -> tuple[float, float, float, float]:
        return _box(self.points[-1])

    @property
    def score(self) -> float:
        return float(sum(_width(p) for p in self.points))

    @property
    def median_width(self) -> float:
        return float(np.median([_width(p) for p in self.points]))

    def shape(self) -> FloatArray:
        """Median frontalised face shape (x, y of the 468 mesh vertices) over up to 30 frames."""
        from swap.topology import frontalise

        step = max(1, len(self.points) // 30)
        shapes = np.stack([frontalise(p)[:N_MESH_VERTICES, :2] for p in self.points[::step]])
        med = np.median(shapes, axis=0)
        return (med - med.mean(axis=0)).astype(np.float32)


def shape_distance(a: FloatArray, b: FloatArray) -> float:
    return float(np.linalg.norm(a - b, axis=1).mean())


def _box(points: FloatArray) -> tuple[float, float, float, float]:
    xy = points[:N_MESH_VERTICES, :2]
    return float(xy[:, 0].min()), float(xy[:, 1].min()), float(xy[:, 0].max()), float(xy[:, 1].max())


def _width(points: FloatArray) -> float:
    x0, _, x1, _ = _box(points)
    return x1 - x0


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _same_face(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """Association score of two boxes (0 = not the same face): IoU, or close centres at a similar size."""
    iou = _iou(a, b)
    wa, wb = a[2] - a[0], b[2] - b[0]
    ratio = min(wa, wb) / max(wa, wb, 1e-6)
    dist = np.hypot((a[0] + a[2] - b[0] - b[2]) / 2, (a[1] + a[3] - b[1] - b[3]) / 2)
    near = 1 - dist / (0.5 * max(wa, wb, 1e-6))
    if ratio < 0.6 or (iou < 0.3 and near <= 0):
        return 0.0
    return max(iou, near)


def head_angles(points: npt.NDArray[np.floating[Any]]) -> tuple[float, float]:
    """Rough |yaw|, |pitch| in degrees from the 3-D landmarks (cheek-to-cheek and forehead-to-chin axes)."""
    p = np.asarray(points, np.float64)
    x = p[454] - p[234]
    y = p[152] - p[10]
    yaw = np.degrees(np.arctan2(abs(x[2]), abs(x[0]) + 1e-9))
    pitch = np.degrees(np.arctan2(abs(y[2]), abs(y[1]) + 1e-9))
    return float(yaw), float(pitch)


class _TrackingMesh:
    """A Face Mesh graph in tracking mode, private to one ingest (its state is this film's faces)."""

    def __init__(self) -> None:
        import mediapipe as mp

        self._mesh = mp.solutions.face_mesh.FaceMesh(
            static_image_mode=False,
            max_num_faces=MAX_FACES,
            refine_landmarks=True,
            min_detection_confidence=0.5,
            min_tracking_confidence=0.5,
        )

    def reset(self) -> None:
        """Forget the tracked faces (after a shot cut the previous boxes mean nothing)."""
        self.close()
        self.__init__()  # type: ignore[misc]

    def faces(self, rgb: npt.NDArray[np.uint8]) -> list[FloatArray]:
        h, w = rgb.shape[:2]
        result = self._mesh.process(rgb)
        out = []
        for lm in result.multi_face_landmarks or []:
            arr = np.array([(p.x, p.y, p.z) for p in lm.landmark], dtype=np.float32)
            arr[:, 0] *= w
            arr[:, 1] *= h
            arr[:, 2] *= w
            out.append(arr)
        return out

    def close(self) -> None:
        self._mesh.close()


def _histogram(rgb: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    small = cv2.resize(rgb, (64, 36), interpolation=cv2.INTER_AREA)
    hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV)
    hist = cv2.calcHist([hsv], [0, 1, 2], None, [12, 4, 4], [0, 180, 0, 256, 0, 256])
    hist = np.asarray(hist, np.float32).flatten()
    return (hist / max(float(np.linalg.norm(hist)), 1e-9)).astype(np.float32)


def _find_candidates(rgb: npt.NDArray[np.uint8], mesh: _TrackingMesh, detect: bool) -> list[FloatArray]:
    faces = mesh.faces(rgb)
    if detect or not faces:
        for box in detect_boxes(rgb):
            if box.width < MIN_DETECT_PX:
                continue
            if any(box.x0 <= f[1, 0] <= box.x1 and box.y0 <= f[1, 1] <= box.y1 for f in faces):
                continue
            lm: FaceLandmarks | None = mesh_in_box(rgb, box)
            if lm is not None:
                faces.append(lm.points)
    return faces


@dataclass
class _Pass1:
    candidates: list[list[FloatArray]]
    shot: npt.NDArray[np.int32]
    tracklets: list[_Tracklet]
    frames: int


def _pass1(info: io.FilmInfo, progress: Progress | None, total: int) -> _Pass1:
    mesh = _TrackingMesh()
    shot_ids: list[int] = []
    candidates: list[list[FloatArray]] = []
    tracklets: list[_Tracklet] = []
    active: list[_Tracklet] = []
    prev_hist: npt.NDArray[np.float32] | None = None
    shot = 0
    n = 0
    try:
        for frame in io.iter_frames(info.path, "rgb24"):
            i = frame.index
            rgb = frame.data
            hist = _histogram(rgb)
            if prev_hist is not None:
                d = cv2.compareHist(prev_hist, hist, cv2.HISTCMP_BHATTACHARYYA)
                if d > CUT_THRESHOLD:
                    shot += 1
                    active = []
                    mesh.reset()
            prev_hist = hist
            shot_ids.append(shot)
            faces = _find_candidates(rgb, mesh, detect=i % DETECT_EVERY == 0)
            candidates.append(faces)
            # greedy association, largest faces first
            active = [t for t in active if i - t.frames[-1] <= MAX_GAP]
            taken: set[int] = set()
            for f in sorted(faces, key=lambda p: -_width(p)):
                box = _box(f)
                best, best_score = None, 0.0
                for k, t in enumerate(active):
                    if k in taken or t.frames[-1] == i:
                        continue
                    sc = _same_face(t.last_box, box)
                    if sc > best_score:
                        best, best_score = k, sc
                if best is None:
                    t = _Tracklet(shot)
                    tracklets.append(t)
                    active.append(t)
                    best = len(active) - 1
                taken.add(best)
                active[best].frames.append(i)
                active[best].points.append(f)
            n = i + 1
            if progress is not None and n % 10 == 0:
                progress(n, total)
    finally:
        mesh.close()
    return _Pass1(candidates, np.array(shot_ids, np.int32), tracklets, n)


def _choose_protagonist(p1: _Pass1) -> tuple[list[_Tracklet], int, int]:
    """The protagonist's tracklets (at most one at a time), bystander faces passed over, tracklets refused
    for not looking like the protagonist."""
    if not p1.tracklets:
        return [], 0, 0
    main = max(p1.tracklets, key=lambda t: t.score)
    main_shape = main.shape()
    chosen = [main]
    refused = 0

    def same_person(t: _Tracklet) -> bool:
        nonlocal refused
        ok = (
            t.median_width >= SIZE_RATIO * main.median_width
            and shape_distance(t.shape(), main_shape) <= SHAPE_MATCH
        )
        refused += not ok
        return ok

    for s in np.unique(p1.shot):
        in_shot = [t for t in p1.tracklets if t.shot == s and t is not main]
        if s == main.shot:
            # the main shot may hold further tracklets of the protagonist (re-found after a long miss)
            for t in sorted(in_shot, key=lambda t: -t.score):
                mine = [c for c in chosen if c.shot == s]
                if any(set(t.frames) & set(c.frames) for c in mine):
                    continue
                near = max(
                    _same_face(_box(c.points[0 if t.frames[0] < c.frames[0] else -1]), _box(t.points[0]))
                    for c in mine
                )
                if near > 0 and len(t.frames) >= 3 and same_person(t):
                    chosen.append(t)
            continue
        if not in_shot:
            continue
        best = max(in_shot, key=lambda t: t.score)
        shot_len = int((p1.shot == s).sum())
        if len(best.frames) >= SHOT_PRESENCE * shot_len and same_person(best):
            chosen.append(best)
    passed = sum(len(c) for c in p1.candidates) - sum(len(t.frames) for t in chosen)
    return chosen, passed, refused


def _runs(mask: npt.NDArray[np.bool_]) -> list[tuple[int, int]]:
    """(start, end exclusive) of each run of True."""
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    d = np.diff(padded)
    return list(zip(np.where(d == 1)[0].tolist(), np.where(d == -1)[0].tolist(), strict=True))


def _stretches(mask: npt.NDArray[np.bool_], shot: npt.NDArray[np.int32]) -> list[tuple[int, int]]:
    """(start, end exclusive) of each run of True in `mask`, split at every shot cut: the stretches that
    smoothing, fades and the per-stretch maps work on, so none of them crosses a cut or a gap."""
    stretches: list[tuple[int, int]] = []
    for a, b in _runs(mask):
        cuts = [k for k in range(a + 1, b) if shot[k] != shot[k - 1]]
        stretches.extend(zip([a, *cuts], [*cuts, b], strict=True))
    return stretches


def fade_strength(flags: npt.NDArray[np.uint8], shot: npt.NDArray[np.int32]) -> npt.NDArray[np.float32]:
    """Per-frame swap strength; marks covered runs shorter than `MIN_RUN` TOO_BRIEF in `flags` (in place).

    A run that starts (ends) inside a shot fades in (out) over `FADE` frames, so the swap does not pop
    when the face turns away or leaves; at a cut or at the film's ends it starts and stops at full strength.
    """
    n = len(flags)
    strength = np.zeros(n, np.float32)
    for s0, s1 in _stretches((flags & UNCOVERED) == 0, shot):
        if s1 - s0 < MIN_RUN:
            flags[s0:s1] |= TOO_BRIEF
            continue
        ramp = np.ones(s1 - s0, np.float32)
        k = np.arange(s1 - s0, dtype=np.float32)
        if s0 > 0 and shot[s0] == shot[s0 - 1]:
            ramp = np.minimum(ramp, (k + 1) / (FADE + 1))
        if s1 < n and shot[s1] == shot[s1 - 1]:
            ramp = np.minimum(ramp, (s1 - s0 - k) / (FADE + 1))
        strength[s0:s1] = ramp
    strength[(flags & UNCOVERED) != 0] = 0
    return strength


def _probe_film(path: Path) -> io.FilmInfo:
    """The film's header; `too_short` when it is too short to be a template."""
    info = io.probe(path)
    if info.duration_s < MIN_FILM_S or info.frames < 2:
        raise TemplateError(
            "too_short",
            f"{path.name} lasts {info.duration_s:.2f} s: a film template needs at least {MIN_FILM_S:.0f} s",
        )
    return info


def _protagonist_landmarks(
    p1: _Pass1, chosen: list[_Tracklet]
) -> tuple[FloatArray, npt.NDArray[np.bool_], npt.NDArray[np.uint8]]:
    """The chosen tracklets' landmarks per frame, short gaps interpolated: (raw, have, flags)."""
    n = p1.frames
    flags = np.zeros(n, np.uint8)
    raw = np.zeros((n, 478, 3), np.float32)
    have = np.zeros(n, bool)
    for t in chosen:
        for i, p in zip(t.frames, t.points, strict=True):
            raw[i] = p
            have[i] = True
    flags[~have] |= ABSENT
    starts = np.concatenate([[True], p1.shot[1:] != p1.shot[:-1]])
    flags[starts] |= SHOT_START
    _interpolate_gaps(raw, have, flags, p1.shot)
    _flag_unswappable(raw, have, flags)
    return raw, have, flags


def _interpolate_gaps(
    raw: FloatArray, have: npt.NDArray[np.bool_], flags: npt.NDArray[np.uint8], shot: npt.NDArray[np.int32]
) -> None:
    """Gaps of at most `INTERPOLATE_GAP` frames inside a shot are filled linearly (in place, INTERPOLATED)."""
    n = len(have)
    for a, b in _runs(~have):
        if a > 0 and b < n and b - a <= INTERPOLATE_GAP and shot[a - 1] == shot[b]:
            for i in range(a, b):
                w = (i - a + 1) / (b - a + 1)
                raw[i] = (1 - w) * raw[a - 1] + w * raw[b]
            have[a:b] = True
            flags[a:b] = (flags[a:b] & ~np.uint8(ABSENT)) | INTERPOLATED


def _flag_unswappable(raw: FloatArray, have: npt.NDArray[np.bool_], flags: npt.NDArray[np.uint8]) -> None:
    """Flag (in place) the frames whose face is too small or too turned to swap."""
    for i in np.where(have)[0]:
        if _width(raw[i]) < MIN_FACE_PX:
            flags[i] |= TOO_SMALL
        yaw, pitch = head_angles(raw[i])
        if yaw > MAX_YAW_DEG or pitch > MAX_PITCH_DEG:
            flags[i] |= TOO_TURNED


def _smooth_landmarks(
    raw: FloatArray, have: npt.NDArray[np.bool_], shot: npt.NDArray[np.int32]
) -> tuple[FloatArray, tuple[float, float]]:
    """Landmarks smoothed per stretch, and the jitter before and after (mean weighted by stretch length)."""
    smoothed = raw.copy()
    jit_before, jit_after, weights = [], [], []
    for s0, s1 in _stretches(have, shot):
        smoothed[s0:s1] = smooth_stretch(raw[s0:s1])
        if s1 - s0 >= 3:
            jit_before.append(jitter(raw[s0:s1]))
            jit_after.append(jitter(smoothed[s0:s1]))
            weights.append(s1 - s0)
    wts = np.array(weights, np.float64) if weights else np.ones(1)
    before = round(float(np.average(jit_before, weights=wts)) if jit_before else 0.0, 5)
    after = round(float(np.average(jit_after, weights=wts)) if jit_after else 0.0, 5)
    return smoothed, (before, after)


def _check_coverage(path: Path, have: npt.NDArray[np.bool_], covered: npt.NDArray[np.bool_]) -> None:
    """`no_face` when too few frames are swappable for a template."""
    coverage = float(covered.mean())
    if not have.any() or coverage < MIN_COVERAGE:
        raise TemplateError(
            "no_face",
            f"{path.name}: a swappable face is visible in only {coverage:.0%} of the frames; "
            "a film template needs its protagonist facing the camera for most of the film",
        )


def _protagonist_switches(
    smoothed: FloatArray, covered: npt.NDArray[np.bool_], shot: npt.NDArray[np.int32]
) -> int:
    """Frames where the face jumps by more than half its width within a shot (a switch to someone else)."""
    jumps = 0
    for i in range(1, len(covered)):
        if covered[i] and covered[i - 1] and shot[i] == shot[i - 1]:
            c0 = smoothed[i - 1, 1, :2]
            c1 = smoothed[i, 1, :2]
            if np.linalg.norm(c1 - c0) > 0.5 * _width(smoothed[i]):
                jumps += 1
    return jumps


def ingest_film(
    path: Path | str,
    progress: Progress | None = None,
    *,
    save: bool = True,
    glasses: GlassesMode = DEFAULT_GLASSES,
) -> FilmTrack:
    """Ingest a film template; writes `<film>.track.npz` beside it (unless `save=False`) and returns the track.

    The swap fields cached beside it are built for the editor's `glasses` choice (`swap.film.glasses`).

    Raises `TemplateError` with code `corrupt_video`, `too_short` or `no_face`.
    """
    single_blas_thread()
    started = time.perf_counter()
    glasses = check_glasses_mode(glasses)
    path = Path(path)
    info = _probe_film(path)
    total = 2 * info.frames  # two passes
    p1 = _pass1(info, progress, total)
    n = p1.frames
    if n < 2:
        raise TemplateError("corrupt_video", f"{path.name}: no decodable frames")
    chosen, passed, refused = _choose_protagonist(p1)
    raw, have, flags = _protagonist_landmarks(p1, chosen)
    smoothed, jitter_stats = _smooth_landmarks(raw, have, p1.shot)
    strength = fade_strength(flags, p1.shot)
    covered = (flags & UNCOVERED) == 0
    _check_coverage(path, have, covered)
    light, detail, occ, hands, worn = _pass2(info, smoothed, covered, p1.shot, progress, total, n)
    report = _ingest_report(
        path, info, p1.shot, flags, have, covered, smoothed, jitter_stats, (len(chosen), passed, refused)
    )
    track = FilmTrack(
        film_name=path.name,
        width=info.width & ~1,
        height=info.height & ~1,
        fps_num=info.fps.numerator,
        fps_den=info.fps.denominator,
        frames=n,
        flags=flags,
        landmarks_q=encode_landmarks(np.where(have[:, None, None], smoothed, 0)),
        strength=strength.astype(np.float16),
        light_q=light,
        detail_q=detail,
        occlusion_q=occ,
        shot=p1.shot,
        hands=hands,
        glasses_q=worn.masks,
        report=report,
    )
    report["glasses_share"] = round(worn.share, 4)  # the actor's glasses, for the editor
    report["glasses_frames"] = int((worn.masks > 127).any(axis=(1, 2)).sum())
    # frames with a hand over the face (kept in front of the swap, swap.film.hands): for the editor
    report["hand_frames"] = int(np.isfinite(hands).all(axis=(2, 3)).any(axis=1).sum())
    report["ingest_s"] = round(time.perf_counter() - started, 2)
    if save:
        _save_beside(path, track, glasses)
    if progress is not None:
        progress(total, total)
    return track


def _ingest_report(
    path: Path,
    info: io.FilmInfo,
    shot: npt.NDArray[np.int32],
    flags: npt.NDArray[np.uint8],
    have: npt.NDArray[np.bool_],
    covered: npt.NDArray[np.bool_],
    smoothed: FloatArray,
    jitter_stats: tuple[float, float],
    tracklets: tuple[int, int, int],
) -> dict[str, Any]:
    """`FilmTrack.report`: what the ingest found. `jitter_stats` is the landmark jitter (before, after)
    smoothing; `tracklets` (protagonist tracklets, bystander faces passed over, lookalikes refused)."""
    n = len(flags)
    return {
        "film": path.name,
        "frames": n,
        "fps": float(info.fps),
        "width": info.width,
        "height": info.height,
        "duration_s": round(info.duration_s, 3),
        "coverage": round(float(covered.mean()), 4),
        "face_found": round(float(have.mean()), 4),
        "too_small_frames": int(((flags & TOO_SMALL) > 0).sum()),
        "too_turned_frames": int(((flags & TOO_TURNED) > 0).sum()),
        "interpolated_frames": int(((flags & INTERPOLATED) > 0).sum()),
        "shot_cuts": int(shot[-1]) if n else 0,
        "stretches": len(_runs(covered)),
        "jitter_before": jitter_stats[0],
        "jitter_after": jitter_stats[1],
        "protagonist_switches": _protagonist_switches(smoothed, covered, shot),
        "bystander_faces_passed_over": int(tracklets[1]),
        "protagonist_tracklets": tracklets[0],
        "lookalike_tracklets_refused": tracklets[2],
        "ingest_s": 0.0,
    }


def _save_beside(path: Path, track: FilmTrack, glasses: GlassesMode) -> None:
    """Write the track, its swap fields and the shape warp's rasters beside the film; their sizes go into
    `track.report`."""
    out = track.save(track_path(path))
    track.report["track_bytes"] = out.stat().st_size
    from swap.film.fields import build_fields  # film-only swap work, so no visitor render repeats it
    from swap.film.warpcache import build_warp

    cached = build_fields(path, track, glasses=glasses)
    track.report["fields_bytes"] = cached.stat().st_size if cached is not None else 0
    rasters = build_warp(path, track)
    track.report["warp_bytes"] = rasters.stat().st_size if rasters is not None else 0


def _pass2(
    info: io.FilmInfo,
    landmarks: FloatArray,
    covered: npt.NDArray[np.bool_],
    shot: npt.NDArray[np.int32],
    progress: Progress | None,
    total: int,
    n: int,
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8], npt.NDArray[np.uint8], FloatArray, _Glasses]:
    """Light maps, expression detail, occlusion, the hands over the face and the actor's glasses for the
    covered frames (second decode)."""
    from swap.film.glasses import DETECT_SIZE, film_zone, frame_lines
    from swap.film.hands import HAND_POINTS, MAX_HANDS, HandTracker, hands_over_face

    light = np.zeros((n, LIGHT_STORE, LIGHT_STORE, 3), np.float32)
    tex = np.zeros((n, MAP_SIZE, MAP_SIZE, 3), np.float16)
    valid = np.zeros((n, MAP_SIZE, MAP_SIZE), np.float16)
    hands = np.full((n, MAX_HANDS, HAND_POINTS, 2), np.nan, np.float32)
    lines = np.zeros((n, int(film_zone(DETECT_SIZE).sum())), np.uint8)  # packed: 10 KB per frame
    tracker = HandTracker()
    try:
        for frame in io.iter_frames(info.path, "rgb24"):
            i = frame.index
            if i >= n:
                break
            if covered[i]:
                light[i] = light_map(frame.data, landmarks[i])
                t, v = fast_unwrap(frame.data, landmarks[i], MAP_SIZE)
                tex[i], valid[i] = t, v
                hands[i] = hands_over_face(tracker.hands(frame.data), landmarks[i])
                lines[i] = frame_lines(*fast_unwrap(frame.data, landmarks[i], DETECT_SIZE))
            if progress is not None and (i + 1) % 10 == 0:
                progress(n + i + 1, total)
    finally:
        tracker.close()
    detail = np.full((n, MAP_SIZE, MAP_SIZE), 128, np.uint8)
    occ = np.zeros((n, MAP_SIZE, MAP_SIZE), np.uint8)
    stretches = _stretches(covered, shot)
    for s0, s1 in stretches:
        light[s0:s1] = smooth_series(light[s0:s1], LIGHT_TIME_SIGMA)
        d, o = stretch_maps(tex[s0:s1].astype(np.float32), valid[s0:s1].astype(np.float32))
        detail[s0:s1] = encode_detail(d)
        occ[s0:s1] = encode_unit(o)
    return encode_unit(light), detail, occ, hands, _film_glasses(lines, stretches)


@dataclass
class _Glasses:
    masks: npt.NDArray[np.uint8]  # (N, G, G), or (0, G, G) when no stretch has glasses
    share: float  # the largest static share of any stretch (swap.film.glasses.static_share)


def _film_glasses(lines: npt.NDArray[np.uint8], stretches: list[tuple[int, int]]) -> _Glasses:
    """The actor's glasses per frame (`swap.film.glasses.stretch_masks`), stored only if any were found."""
    from swap.film.glasses import STORE_SIZE, stretch_masks

    masks = np.zeros((len(lines), STORE_SIZE, STORE_SIZE), np.uint8)
    share = 0.0
    for s0, s1 in stretches:
        masks[s0:s1], stretch_share = stretch_masks(lines[s0:s1])
        share = max(share, stretch_share)
    if not masks.any():
        masks = np.zeros((0, STORE_SIZE, STORE_SIZE), np.uint8)
    return _Glasses(masks, share)


def light_map(rgb: npt.NDArray[np.uint8], points: FloatArray) -> FloatArray:
    """`prepare_target(...).light_map` at `LIGHT_STORE` texels, computed on a crop downscaled so the face is
    at most `LIGHT_FACE_PX` wide: the map is a low-pass at ~9 % of the face width, so this changes it by
    less than one 8-bit step (measured 0.002 mean) and costs a third of the time of the full frame."""
    from swap.target import prepare_target

    xy = points[:N_MESH_VERTICES, :2]
    (x0, y0), (x1, y1) = xy.min(axis=0), xy.max(axis=0)
    w = float(x1 - x0)
    m = 0.3 * w
    h_img, w_img = rgb.shape[:2]
    cx0, cy0 = int(max(0, x0 - m)), int(max(0, y0 - m))
    cx1, cy1 = int(min(w_img, x1 + m)), int(min(h_img, y1 + m))
    s = min(1.0, LIGHT_FACE_PX / max(w, 1.0))
    crop = rgb[cy0:cy1, cx0:cx1]
    if s < 1.0:
        size = (max(8, round((cx1 - cx0) * s)), max(8, round((cy1 - cy0) * s)))
        crop = np.asarray(cv2.resize(crop, size, interpolation=cv2.INTER_AREA), np.uint8)
    p = points.astype(np.float32).copy()
    p[:, 0] = (p[:, 0] - cx0) * s
    p[:, 1] = (p[:, 1] - cy0) * s
    p[:, 2] *= s
    lm = prepare_target(np.ascontiguousarray(crop), p).light_map
    return np.asarray(cv2.resize(lm, (LIGHT_STORE, LIGHT_STORE), interpolation=cv2.INTER_AREA), np.float32)


def fast_unwrap(rgb: npt.NDArray[np.uint8], points: FloatArray, size: int) -> tuple[FloatArray, FloatArray]:
    """`swap.target.unwrap` without its z-buffer: texels trusted by how squarely they face the camera only.

    For the low-resolution detail/occlusion maps of frames within `MAX_YAW_DEG`, the facing ramp already
    distrusts the cheek behind the nose; skipping the CPU z-buffer makes this ~25x faster (3 vs 78 ms).
    """
    from swap.mesh import vertex_normals
    from swap.target import MIN_FACING
    from swap.uv import uv_raster

    ur = uv_raster(size)
    pts = ur.mesh.positions(points)
    texel = ur.interpolate(pts)
    map_x, map_y = texel[..., 0], texel[..., 1]
    texture = cv2.remap(rgb, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    n_tex = ur.interpolate(vertex_normals(pts, ur.mesh.triangles))
    facing = -n_tex[..., 2] / np.maximum(np.linalg.norm(n_tex, axis=-1), 1e-6)
    h, w = rgb.shape[:2]
    inside = (map_x >= 0) & (map_x <= w - 1) & (map_y >= 0) & (map_y <= h - 1) & ur.covered
    valid = np.clip((facing - MIN_FACING) / (FACING_FULL - MIN_FACING), 0, 1) * inside
    return (texture.astype(np.float32) / 255.0), valid.astype(np.float32)


def stretch_maps(tex: FloatArray, valid: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Expression detail (T, S, S) and occlusion (T, S, S) of one stretch's UV textures (T, S, S, 3).

    Detail: the frame's luminance over the stretch's median luminance, band-passed between
    `DETAIL_BAND` sigmas (finer than the light map, coarser than noise), 1 where untrusted.
    Occlusion: texels whose colour, once the frame's own low-frequency shading is divided out, is far from
    the median texture AND from the skin colour model (Mahalanobis distance over the median texture).
    """
    t_len, size = tex.shape[0], tex.shape[1]
    trusted = valid > 0.5
    stack = np.where(trusted[..., None], tex, np.nan)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN texels (never trusted) are expected
        med = np.nanmedian(stack, axis=0) if t_len > 1 else tex[0]
    med_ok = np.isfinite(med).all(axis=-1)
    med = np.where(med_ok[..., None], med, 0).astype(np.float32)
    lum_w = np.array([0.299, 0.587, 0.114], np.float32)
    s_fine, s_coarse = DETAIL_BAND

    def blur(img: FloatArray, w: FloatArray, sigma: float) -> FloatArray:
        num = cv2.GaussianBlur(img * w, (0, 0), sigma)
        den = cv2.GaussianBlur(w, (0, 0), sigma)
        return np.asarray(num / np.maximum(den, 1e-4), np.float32)

    med_l = med @ lum_w
    wm = med_ok.astype(np.float32)
    med_f, med_c = blur(med_l, wm, s_fine), blur(med_l, wm, s_coarse)
    med_lo_rgb = np.stack([blur(med[..., c], wm, s_coarse) for c in range(3)], axis=-1)
    # skin model: colour mean/covariance of the trusted median texture
    skin = med[med_ok & (med_l > 0.05)]
    if len(skin) > 20:
        mu = skin.mean(axis=0)
        cov_inv = np.linalg.inv(np.cov(skin.T) + np.eye(3) * 1e-4)
    else:
        mu, cov_inv = np.zeros(3, np.float32), np.eye(3) * 1e-6
    detail = np.ones((t_len, size, size), np.float32)
    occ = np.zeros((t_len, size, size), np.float32)
    for k in range(t_len):
        w = (trusted[k] & med_ok).astype(np.float32)
        if w.sum() < 10:
            continue
        lum = tex[k] @ lum_w
        f, c = blur(lum, w, s_fine), blur(lum, w, s_coarse)
        ratio = (f / np.maximum(med_f, 1e-3)) / np.maximum(c / np.maximum(med_c, 1e-3), 1e-3)
        detail[k] = np.where(w > 0, ratio, 1.0)
        lo = np.stack([blur(tex[k][..., ch], w, s_coarse) for ch in range(3)], axis=-1)
        norm = tex[k] * (med_lo_rgb / np.maximum(lo, 1e-3))
        dist = np.linalg.norm(norm - med, axis=-1)
        diff = norm - mu
        maha = np.sqrt(np.maximum(np.einsum("hwi,ij,hwj->hw", diff, cov_inv, diff), 0))
        a = np.clip((dist - OCC_COLOUR) / (OCC_COLOUR_FULL - OCC_COLOUR), 0, 1)
        b = np.clip((maha - OCC_MAHALANOBIS) / 2.0, 0, 1)
        occ[k] = maximum_filter(a * b * w, size=3)
    detail = smooth_series(detail, DETAIL_TIME_SIGMA)
    occ = smooth_series(occ, 1.0)
    occ = gaussian_filter(occ, sigma=(0, 0.7, 0.7))
    return detail, np.clip(occ, 0, 1)
