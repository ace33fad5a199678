"""The demo campaign, generated on the spot from a portrait that ships inside a dependency's wheel.

So that the one-command run shows a working campaign on a fresh machine (no ../shared/media, and the
project ships no third-party media), everything here is made from scikit-image's `data.astronaut()`:
Eileen Collins, NASA photograph, "no known copyright restrictions, released into the public domain"
(scikit-image's own notice). No portrait of a man ships in any of the project's wheels under a licence
that allows this (the only other portrait found, matplotlib's Grace Hopper, public domain US Navy
photograph, is a woman and matplotlib is no run-time dependency), so the demo film has one role, the
female lead; the page hides roles no film has instead of casting a mirrored copy of the same woman.

The film: 15 s, 9:16, in which the actor's face really moves, with the engine's own landmarks and
shape warp (`swap.landmarks.find_faces`, `swap.shape.warp_basis`): blinks, speech-like jaw and lip
movement, small head turns (parallax from Face Mesh depth) and a slow camera move that never leaves
the photo (no smeared borders), while the light goes from a warm interior to dusk to night with
passing car lights. Music: a short generated cue (plucked arpeggio, pad, bass, soft drums). Five
posters: different crops and grades of the same portrait with a film title, tagline and credits, the
QR and AI-label corners left free.
"""

from __future__ import annotations

import io
import math
import sys
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFilter, ImageFont

FILM_SECONDS = 15
FILM_FPS = 25
FILM_SIZE = (540, 960)  # portrait, width x height
AUDIO_RATE = 44_100
FILM_TITLE = ("星际主角", "STAR LEAD")
PORTRAIT_CREDIT = "Portrait: Eileen Collins, NASA (public domain), via scikit-image"

RGB = npt.NDArray[np.uint8]  # (H, W, 3)
Floats = npt.NDArray[np.float32]

_CJK_FONTS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Bold.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
)

# Face Mesh landmark ids the motion moves (MediaPipe's canonical topology).
_UPPER_LID = (159, 158, 160, 157, 161, 246, 386, 385, 387, 384, 388, 466)
_LOWER_LID = (145, 153, 144, 154, 163, 7, 374, 380, 373, 381, 390, 249)
_LID_CREASE = ((27, 28, 29, 30, 56, 190), (257, 258, 259, 260, 286, 414))
_LOWER_LIP = (14, 87, 178, 88, 95, 317, 402, 318, 324, 17, 84, 181, 91, 146, 314, 405, 321, 375)
_UPPER_LIP_INNER = (13, 82, 81, 80, 191, 312, 311, 310, 415)
_CHIN = (152, 148, 176, 149, 377, 400, 378, 199, 175, 18, 200, 83, 313)
_JAW_SIDES = (150, 136, 172, 58, 379, 365, 397, 288)
_MOUTH_CORNERS = ((61, 78, 146), (291, 308, 375))


def astronaut() -> RGB:
    from skimage import data

    return data.astronaut()


@lru_cache(maxsize=1)
def _portrait() -> tuple[RGB, Floats]:
    """The portrait (512x512 RGB) and its 478 Face Mesh landmarks, found once per process."""
    from swap.landmarks import find_faces

    rgb = astronaut()
    faces = find_faces(rgb)
    if len(faces) != 1:
        raise RuntimeError(f"expected one face in the demo portrait, found {len(faces)}")
    return rgb, np.asarray(faces[0].points, np.float32)


# ---- motion --------------------------------------------------------------------------------------

BLINKS_S = (1.2, 3.9, 6.1, 8.4, 10.9, 12.2, 14.1)
BLINK_S = 0.24
# Lines of "dialogue": (start, end) in seconds; the jaw moves in syllables inside them.
SPEECH_S = ((1.8, 5.2), (6.8, 9.6), (11.4, 13.9))


def _bump(x: float) -> float:
    """0 outside [0, 1], a smooth rise and fall inside."""
    return 0.0 if x <= 0.0 or x >= 1.0 else math.sin(math.pi * x) ** 2


def blink_closure(t: float) -> float:
    """How far the lids are closed at `t` (0 open, ~0.9 closed)."""
    return 0.92 * max((_bump((t - start) / BLINK_S) for start in BLINKS_S), default=0.0)


def mouth_opening(t: float) -> float:
    """Jaw opening at `t` in [0, 1]: syllables at ~4-5 per second inside each line, still between."""
    for start, end in SPEECH_S:
        if start <= t <= end:
            envelope = min(1.0, (t - start) / 0.2, (end - t) / 0.2)
            local = t - start
            wobble = 0.8 * math.sin(2 * math.pi * 1.3 * local)
            syllable = 0.5 + 0.5 * math.sin(2 * math.pi * 4.4 * local + wobble - math.pi / 2)
            stress = 0.65 + 0.35 * math.sin(2 * math.pi * 0.9 * local + 1.0)
            return max(0.0, min(1.0, envelope * syllable**1.3 * stress))
    return 0.0


def head_turn(t: float) -> tuple[float, float]:
    """(yaw, pitch) in [-1, 1]: small, slow, irregular head movement."""
    yaw = 0.65 * math.sin(2 * math.pi * t / 7.1) + 0.3 * math.sin(2 * math.pi * t / 2.9 + 1.1)
    pitch = 0.5 * math.sin(2 * math.pi * t / 5.3 + 0.4) + 0.2 * math.sin(2 * math.pi * t / 1.9)
    return max(-1.0, min(1.0, yaw)), max(-1.0, min(1.0, pitch))


def face_offsets(points: Floats, t: float) -> Floats:
    """Landmark offsets (478, 2) in portrait pixels for the expression and head pose at `t`."""
    offsets = np.zeros((len(points), 2), np.float32)
    x0, _ = points[:468, :2].min(axis=0)
    x1, _ = points[:468, :2].max(axis=0)
    width = float(x1 - x0)
    # Head turn: Face Mesh depth gives parallax (the nose moves more than the cheeks' edge).
    yaw, pitch = head_turn(t)
    depth = points[:, 2]
    near = (float(np.median(depth[:468])) - depth) / max(1e-3, float(np.ptp(depth[:468])))
    offsets[:, 0] += yaw * 0.13 * width * near
    offsets[:, 1] += pitch * 0.07 * width * near
    # Blink: upper lids down onto the lower lids, the crease above following part of the way.
    closure = blink_closure(t)
    if closure > 0:
        upper, lower = list(_UPPER_LID), list(_LOWER_LID)
        gap = points[lower, 1] - points[upper, 1]
        offsets[upper, 1] += closure * gap * 0.92
        offsets[lower, 1] -= closure * gap * 0.06
        for side, crease in enumerate(_LID_CREASE):
            side_gap = float(np.mean(gap[side * 6 : side * 6 + 6]))
            offsets[list(crease), 1] += closure * side_gap * 0.35
    # Speech: the jaw drops, the lower lip follows, the corners round a little.
    opening = mouth_opening(t)
    if opening > 0:
        drop = opening * 0.065 * width
        offsets[list(_LOWER_LIP), 1] += drop
        offsets[list(_CHIN), 1] += 0.85 * drop
        offsets[list(_JAW_SIDES), 1] += 0.4 * drop
        offsets[list(_UPPER_LIP_INNER), 1] -= 0.12 * drop
        rounding = 0.5 + 0.5 * math.sin(2 * math.pi * t * 1.3)
        centre_x = float(np.mean(points[[61, 291], 0]))
        for corner in _MOUTH_CORNERS:
            ids = list(corner)
            offsets[ids, 1] += 0.45 * drop
            offsets[ids, 0] += rounding * 0.07 * width * np.sign(centre_x - points[ids, 0]) * opening
    return offsets


class _FaceWarp:
    """The engine's shape warp with its basis computed once (the portrait's landmarks never move), so
    a frame costs one gather and one remap instead of a triangulation."""

    def __init__(self, rgb: RGB, points: Floats) -> None:
        from swap.shape import warp_basis, warp_box

        height, width = rgb.shape[:2]
        self.box = warp_box(points, width, height)
        x0, y0, x1, y1 = self.box
        local = points.copy()
        local[:, 0] -= x0
        local[:, 1] -= y0
        self.basis = warp_basis(local, (0, 0, x1 - x0, y1 - y0))
        self.points = points
        grid_y, grid_x = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        self.grid = (grid_x, grid_y)

    def apply(self, rgb: RGB, offsets: Floats, *, closure: float = 0.0) -> RGB:
        """The portrait with its landmarks moved by `offsets`; a closing eye gets its lid painted over
        the squeezed iris (squeezing alone leaves a dark slit)."""
        out = self._warp(rgb, offsets)
        if closure > 0.3:
            out = self._paint_lids(out, rgb, offsets, closure)
        return out

    def _paint_lids(self, out: RGB, rgb: RGB, offsets: Floats, closure: float) -> RGB:
        import cv2

        points = self.points
        moved = points[:, :2] + offsets
        strength = _smoothstep(0.3, 0.85, closure)
        for upper_ids, lower_ids in ((_UPPER_LID[:6], _LOWER_LID[:6]), (_UPPER_LID[6:], _LOWER_LID[6:])):
            upper, lower = list(upper_ids), list(lower_ids)
            ring = np.concatenate([moved[upper], moved[lower][::-1]])
            # The lid's own skin: just above the open eye in the photo.
            lid = points[upper, :2].mean(axis=0) - np.array(
                [0, 0.35 * float(np.ptp(points[lower + upper, 1]))]
            )
            x, y = round(float(lid[0])), round(float(lid[1]))
            colour = rgb[max(0, y - 2) : y + 2, max(0, x - 4) : x + 4].reshape(-1, 3).mean(axis=0)
            mask = np.zeros(out.shape[:2], np.float32)
            cv2.fillPoly(mask, [np.round(ring).astype(np.int32)], (1.0,))
            # The closed lid: a little wider than the squeezed opening, its lash line a shade darker.
            mask = cv2.GaussianBlur(cv2.dilate(mask, np.ones((3, 5), np.uint8)), (0, 0), 1.2) * strength
            lash = cv2.GaussianBlur(np.roll(mask, 1, axis=0) - mask, (0, 0), 0.8).clip(0, 1)
            fill = np.empty_like(out, dtype=np.float32)
            fill[:] = colour
            blended = out.astype(np.float32) * (1 - mask[..., None]) + fill * mask[..., None]
            out = np.clip(blended * (1 - 0.35 * lash[..., None]), 0, 255).astype(np.uint8)
        return out

    def _warp(self, rgb: RGB, offsets: Floats) -> RGB:
        import cv2

        x0, y0, x1, y1 = self.box
        field = self.basis.field(offsets)  # forward displacement on a coarse grid over the box
        # Backward map: out(p) = in(p - d(p)); the field is smooth and small, so d at p is close enough.
        dense = cv2.resize(field, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
        map_x = self.grid[0] - dense[..., 0]
        map_y = self.grid[1] - dense[..., 1]
        out = rgb.copy()
        out[y0:y1, x0:x1] = cv2.remap(rgb, map_x, map_y, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT_101)
        return out


# ---- camera and light ----------------------------------------------------------------------------


def _smoothstep(edge0: float, edge1: float, x: float) -> float:
    u = min(1.0, max(0.0, (x - edge0) / (edge1 - edge0)))
    return u * u * (3 - 2 * u)


def _camera(t: float, seconds: float, size: tuple[int, int], face: tuple[float, float]) -> Floats:
    """The 2x3 affine from the portrait to the frame: a slow push-in with a little drift and roll, the
    window always inside the 512x512 photo (nothing outside it is ever shown: no smeared borders)."""
    import cv2

    width, height = size
    phase = t / max(seconds, 1e-3)
    window_h = 400.0 - 70.0 * _smoothstep(0.0, 1.0, phase)  # portrait pixels the frame shows
    scale = height / window_h
    window_w = width / scale
    roll = 1.1 * math.sin(2 * math.pi * t / 6.3)
    cx = face[0] + 10.0 * math.sin(2 * math.pi * t / 9.0)
    # Keep the rotated window inside the photo: its corners move by half its size times sin(roll).
    slack = 0.5 * (window_w + window_h) * abs(math.sin(math.radians(roll))) + 2
    cx = min(max(cx, window_w / 2 + slack), 512 - window_w / 2 - slack)
    cy = window_h / 2 + slack + 3.0 * (1 + math.sin(2 * math.pi * t / 7.7))
    cy = min(cy, 512 - window_h / 2 - slack)
    matrix = cv2.getRotationMatrix2D((cx, cy), roll, scale)
    matrix[0, 2] += width / 2 - cx
    matrix[1, 2] += height / 2 - cy
    return np.asarray(matrix, np.float32)


# Light keyframes: (gain, tint RGB, key light from the left (-1) or right (+1), its strength)
_INDOOR = (1.0, (1.05, 1.0, 0.9), -1.0, 0.16)
_DUSK = (0.86, (1.12, 0.86, 0.8), 1.0, 0.22)
_NIGHT = (0.62, (0.72, 0.84, 1.16), -1.0, 0.1)


def light_at(t: float) -> tuple[float, tuple[float, float, float], float, float, float]:
    """The scene's light at `t`: indoor until ~5 s, dusk until ~10 s, then night; plus the strength of a
    passing car's headlights (night only)."""
    a = _smoothstep(4.3, 5.8, t)
    b = _smoothstep(9.3, 10.8, t)

    def mix(i: int) -> Floats:
        first = np.asarray(_INDOOR[i], np.float32) * (1 - a) + np.asarray(_DUSK[i], np.float32) * a
        return first * (1 - b) + np.asarray(_NIGHT[i], np.float32) * b

    headlights = max(_bump((t - 11.0) / 1.6), 0.7 * _bump((t - 13.1) / 1.3))
    return (
        float(mix(0)),
        tuple(float(v) for v in mix(1)),  # type: ignore[return-value]
        float(mix(2)),
        float(mix(3)),
        headlights,
    )


def _light(frame: RGB, t: float) -> RGB:
    height, width = frame.shape[:2]
    gain, tint, side, key, headlights = light_at(t)
    xs = np.linspace(-1.0, 1.0, width, dtype=np.float32)[None, :]
    ys = np.linspace(-1.0, 1.0, height, dtype=np.float32)[:, None]
    shading = gain * (1.0 + key * side * xs)  # the key light's side is brighter
    vignette = 1.0 - 0.22 * (xs**2 + 0.6 * ys**2)
    out = frame.astype(np.float32) * (shading * vignette)[..., None] * np.asarray(tint, np.float32)
    if headlights > 0:
        centre = -1.4 + 2.8 * ((t - 11.0) % 2.1) / 2.1  # a soft warm band sweeping across
        band = np.exp(-(((xs - centre) / 0.35) ** 2)) * np.ones_like(ys)
        out += (headlights * 70.0 * band)[..., None] * np.asarray([1.0, 0.9, 0.7], np.float32)
    return np.clip(out, 0, 255).astype(np.uint8)


def demo_frame(
    t: float, size: tuple[int, int] = FILM_SIZE, seconds: float = FILM_SECONDS, *, mirrored: bool = False
) -> RGB:
    """One RGB frame of the demo film at time `t` (seconds)."""
    import cv2

    rgb, points = _portrait()
    warped = _face_warp().apply(rgb, face_offsets(points, t), closure=blink_closure(t))
    face = tuple(float(v) for v in points[:468, :2].mean(axis=0))
    frame: RGB = np.asarray(
        cv2.warpAffine(
            warped,
            _camera(t, seconds, size, (face[0], face[1])),
            size,
            flags=cv2.INTER_CUBIC,
            borderMode=cv2.BORDER_REFLECT_101,
        ),
        np.uint8,
    )
    frame = _light(frame, t)
    return np.ascontiguousarray(frame[:, ::-1]) if mirrored else frame


@lru_cache(maxsize=1)
def _face_warp() -> _FaceWarp:
    rgb, points = _portrait()
    return _FaceWarp(rgb, points)


# ---- music ---------------------------------------------------------------------------------------

_BPM = 92.0
# A minor: Am - F - C - G, one chord a bar (four beats).
_CHORDS = ((57, 60, 64), (53, 57, 60), (48, 52, 55), (55, 59, 62))


def _hz(midi: float) -> float:
    return 440.0 * 2 ** ((midi - 69) / 12)


def _pluck(freq: float, seconds: float, rng: np.random.Generator) -> Floats:
    """A plucked string (Karplus-Strong): a noise burst through a damped comb filter."""
    from scipy.signal import lfilter

    n = int(seconds * AUDIO_RATE)
    period = max(2, int(AUDIO_RATE / freq))
    excitation = np.zeros(n, np.float64)
    excitation[:period] = rng.uniform(-1, 1, period)
    denominator = np.zeros(period + 2)
    denominator[0] = 1.0
    denominator[period] = denominator[period + 1] = -0.4985
    return lfilter([1.0], denominator, excitation).astype(np.float32)


def music(seconds: float) -> Floats:
    """A short cue, stereo float32 in [-1, 1]: plucked arpeggio over a pad, bass and soft drums."""
    from scipy.signal import butter, lfilter

    n = int(seconds * AUDIO_RATE)
    t = np.arange(n, dtype=np.float32) / AUDIO_RATE
    beat = 60.0 / _BPM
    rng = np.random.default_rng(7)
    left = np.zeros(n, np.float32)
    right = np.zeros(n, np.float32)

    def add(signal: Floats, start_s: float, gain: float, pan: float = 0.0) -> None:
        start = int(start_s * AUDIO_RATE)
        if start >= n:
            return
        part = signal[: n - start] * gain
        left[start : start + len(part)] += part * (1 - pan) / 2 * 2**0.5
        right[start : start + len(part)] += part * (1 + pan) / 2 * 2**0.5

    bars = int(seconds / (4 * beat)) + 1
    for bar in range(bars):
        chord = _CHORDS[bar % len(_CHORDS)]
        bar_start = bar * 4 * beat
        # Pad: the chord's tones with a few soft harmonics, slow swell, a little detune for width.
        pad_t = np.arange(int(4 * beat * AUDIO_RATE), dtype=np.float32) / AUDIO_RATE
        swell = np.minimum(1.0, pad_t / 0.8) * np.minimum(1.0, (4 * beat - pad_t) / 0.6)
        for note in chord:
            for detune, pan in ((-0.06, -0.5), (0.06, 0.5)):
                f = _hz(note + 12 + detune)
                tone = sum(np.sin(2 * np.pi * f * k * pad_t) / k**1.6 for k in (1, 2, 3, 4))
                add((tone * swell).astype(np.float32), bar_start, 0.018, pan)
        # Arpeggio: eighth notes up and down the chord, an octave up, plucked.
        pattern = (0, 1, 2, 1, 0, 2, 1, 2)
        for step, index in enumerate(pattern):
            note = chord[index] + 24 if step % 4 != 3 else chord[index] + 12
            add(_pluck(_hz(note), 1.2, rng), bar_start + step * beat / 2, 0.16, 0.35 if step % 2 else -0.35)
        # Bass: the root on beats 1 and 3 (and an anticipation), a sine with a touch of second harmonic.
        for beat_in_bar, length in ((0, 1.6), (2, 1.2), (3.5, 0.45)):
            bass_t = np.arange(int(length * beat * AUDIO_RATE), dtype=np.float32) / AUDIO_RATE
            f = _hz(chord[0] - 12)
            env = np.minimum(1.0, bass_t / 0.01) * np.exp(-bass_t * 2.2)
            bass = (np.sin(2 * np.pi * f * bass_t) + 0.25 * np.sin(4 * np.pi * f * bass_t)) * env
            add(bass.astype(np.float32), bar_start + beat_in_bar * beat, 0.22)
    # Drums, from the second bar: a soft kick on 1 and 3, a closed hi-hat on the off-beats.
    kick_t = np.arange(int(0.35 * AUDIO_RATE), dtype=np.float32) / AUDIO_RATE
    kick = np.sin(2 * np.pi * (45 * kick_t + 60 * (1 - np.exp(-kick_t * 30)) / 30)) * np.exp(-kick_t * 9)
    b, a = butter(2, 7000 / (AUDIO_RATE / 2), btype="highpass")
    hat = lfilter(b, a, rng.uniform(-1, 1, int(0.06 * AUDIO_RATE))).astype(np.float32)
    hat *= np.exp(-np.arange(len(hat), dtype=np.float32) / (0.012 * AUDIO_RATE))
    for index in range(int(seconds / beat) + 1):
        at = index * beat
        if at < 4 * beat or at > seconds - 0.5:
            continue
        if index % 2 == 0:
            add(kick.astype(np.float32), at, 0.5)
        add(hat, at + beat / 2, 0.07, 0.3)
    # A touch of room: one feedback-free echo at a dotted eighth, quieter and darker.
    delay = int(0.75 * beat * AUDIO_RATE)
    b, a = butter(1, 2500 / (AUDIO_RATE / 2))
    for channel, other in ((left, right), (right, left)):
        echo = np.zeros_like(channel)
        echo[delay:] = lfilter(b, a, other[:-delay]).astype(np.float32)
        channel += 0.25 * echo
    fade = np.minimum(1.0, np.minimum(t / 0.8, (seconds - t) / 1.5)).astype(np.float32)
    mix = np.stack([left, right]) * fade
    return np.tanh(mix * 1.4).astype(np.float32) * 0.8


# ---- encoding ------------------------------------------------------------------------------------


def build_demo_film(
    path: Path, *, mirrored: bool = False, seconds: int = FILM_SECONDS, size: tuple[int, int] = FILM_SIZE
) -> Path:
    """Encode the demo clip: H.264 Main yuv420p + AAC-LC, faststart, so phones play it inline.

    Tests ask for a shorter, smaller clip of the same material (its motion and light run on the same
    clock). `mirrored` flips the frames (load tests use it to tell two variants apart).
    """
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w", options={"movflags": "+faststart"}) as container:
        video = container.add_stream("libx264", rate=FILM_FPS)
        video.width, video.height = size
        video.pix_fmt = "yuv420p"
        video.options = {"crf": "20", "preset": "veryfast", "profile": "main"}
        audio = container.add_stream("aac", rate=AUDIO_RATE, layout="stereo")
        for index in range(seconds * FILM_FPS):
            rgb = demo_frame(index / FILM_FPS, size, seconds, mirrored=mirrored)
            for packet in video.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
        samples = music(seconds)
        chunk = 1024
        for start in range(0, samples.shape[1], chunk):
            block = np.ascontiguousarray(samples[:, start : start + chunk])
            audio_frame = av.AudioFrame.from_ndarray(block, format="fltp", layout="stereo")
            audio_frame.sample_rate = AUDIO_RATE
            audio_frame.pts = start
            audio_frame.time_base = Fraction(1, AUDIO_RATE)
            for packet in audio.encode(audio_frame):
                container.mux(packet)
        for packet in audio.encode():
            container.mux(packet)
    return path


# ---- posters -------------------------------------------------------------------------------------

POSTER_SIZE = (720, 1080)
# Five looks: (portrait pixels the poster's height shows, face x/y as a share of the poster, tilt in
# degrees, moment of the film's light to grade with, extra grade)
POSTER_LOOKS = (
    (360.0, 0.52, 0.34, 0.0, 1.0, "warm"),
    (500.0, 0.46, 0.27, -2.0, 7.5, "dusk"),
    (420.0, 0.5, 0.3, 1.5, 12.0, "night"),
    (300.0, 0.56, 0.36, 0.0, 3.0, "teal"),
    (460.0, 0.5, 0.28, 0.0, 2.0, "noir"),
)
TAGLINES = (
    ("这一次，主角是你", "THIS TIME, IT'S YOU"),
    ("黄昏之后，故事开始", "THE STORY STARTS AT DUSK"),
    ("今夜，群星为你让路", "TONIGHT THE STARS MAKE WAY"),
    ("一张照片，一部电影", "ONE PHOTO. ONE FILM."),
    ("你的名字在片头", "YOUR NAME IN THE TITLES"),
)


def _grade(rgb: RGB, look: str) -> RGB:
    out = rgb.astype(np.float32)
    if look == "teal":  # teal shadows, warm highlights
        luma = out.mean(axis=2, keepdims=True) / 255.0
        out = out * (0.75 + 0.25 * luma) + (1 - luma) * np.asarray([-18, 6, 14], np.float32)
        out += luma * np.asarray([14, 4, -10], np.float32)
    elif look == "noir":  # gold-toned monochrome with deep blacks
        grey = out @ np.asarray([0.3, 0.59, 0.11], np.float32)
        toned = np.clip((grey - 20) * 1.25, 0, 255)[..., None] * np.asarray([1.08, 0.98, 0.8], np.float32)
        out = toned.astype(np.float32)
    return np.clip(out, 0, 255).astype(np.uint8)


def build_demo_poster(index: int, *, mirrored: bool = False) -> bytes:
    """Poster template `index` (0-4) as JPEG bytes: a crop of the portrait inside the photo (no smeared
    borders), graded like a moment of the film, with a dark scrim where the title sits."""
    import cv2

    window_h, fx, fy, tilt, moment, look = POSTER_LOOKS[index]
    width, height = POSTER_SIZE
    rgb, points = _portrait()
    face_x, face_y = (float(v) for v in points[:468, :2].mean(axis=0))
    scale = height / window_h
    window_w = width / scale
    slack = 0.5 * (window_w + window_h) * abs(math.sin(math.radians(tilt))) + 2
    # Where the face should land, moved as little as needed to keep the window inside the photo.
    left = min(max(face_x - fx * window_w, slack), 512 - window_w - slack)
    top = min(max(face_y - fy * window_h, slack), 512 - window_h - slack)
    cx, cy = left + window_w / 2, top + window_h / 2
    matrix = cv2.getRotationMatrix2D((cx, cy), tilt, scale)
    matrix[0, 2] += width / 2 - cx
    matrix[1, 2] += height / 2 - cy
    still: RGB = np.asarray(
        cv2.warpAffine(
            rgb, matrix, (width, height), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT_101
        ),
        np.uint8,
    )
    still = _grade(_light(still, moment), look)
    if mirrored:
        still = np.ascontiguousarray(still[:, ::-1])
    image = Image.fromarray(still)
    # Darken the lower part where the title and credits sit.
    shade = Image.linear_gradient("L").resize((width, height)).point(lambda v: max(0, v - 120) * 1.9)
    image = Image.composite(
        Image.new("RGB", image.size, (6, 6, 10)), image, shade.filter(ImageFilter.GaussianBlur(10))
    )
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=92)
    return out.getvalue()


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for candidate in _CJK_FONTS:
        if Path(candidate).exists():
            return ImageFont.truetype(candidate, size)
    return ImageFont.load_default(size=size)


def _spaced(text: str, spacing: int = 1) -> str:
    return (" " * spacing).join(text) if text.isascii() else text


def build_demo_overlay(index: int) -> bytes:
    """The RGBA overlay drawn on top of the rendered poster: title, tagline, credits block and frame.

    Nothing is drawn in the bottom ~20 % corners, where the QR code (one bottom corner) and the AI
    label (the other) go."""
    width, height = POSTER_SIZE
    overlay = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    has_cjk = any(Path(c).exists() for c in _CJK_FONTS)
    gold, white, soft = (236, 190, 92, 255), (255, 255, 255, 255), (225, 225, 230, 215)
    title_zh, title_en = FILM_TITLE
    tagline_zh, tagline_en = TAGLINES[index]
    inset = 26
    draw.rectangle((inset, inset, width - inset, height - inset), outline=(236, 190, 92, 150), width=2)
    draw.text(
        (width / 2, 70), _spaced("PROTAGONIST PICTURES PRESENTS"), font=_font(17), fill=soft, anchor="mm"
    )
    base = height - 352
    if has_cjk:
        draw.text((width / 2, base), title_zh, font=_font(112), fill=white, anchor="mm")
        draw.text((width / 2, base + 82), _spaced(title_en, 2), font=_font(30), fill=gold, anchor="mm")
        draw.text((width / 2, base - 92), tagline_zh, font=_font(30), fill=soft, anchor="mm")
    else:
        draw.text((width / 2, base), _spaced(title_en), font=_font(84), fill=white, anchor="mm")
    draw.text((width / 2, base + 124), _spaced(tagline_en), font=_font(19), fill=soft, anchor="mm")
    credits = "STARRING YOU    DIRECTED BY PROTAGONIST    MUSIC BY THE MACHINE"
    draw.text((width / 2, base + 164), credits, font=_font(15), fill=(205, 205, 212, 200), anchor="mm")
    draw.line((width / 2 - 90, base + 188, width / 2 + 90, base + 188), fill=(236, 190, 92, 160), width=1)
    draw.text((width / 2, base + 206), "即将上映  COMING SOON" if has_cjk else "COMING SOON", font=_font(18),
              fill=gold, anchor="mm")  # fmt: skip
    out = io.BytesIO()
    overlay.save(out, format="PNG")
    return out.getvalue()


# ---- a visitor's photo ---------------------------------------------------------------------------


def sample_photo_jpeg() -> bytes:
    """A visitor's photo for trying the demo: the astronaut's portrait (public domain) as a JPEG."""
    out = io.BytesIO()
    Image.fromarray(astronaut()).save(out, format="JPEG", quality=92)
    return out.getvalue()


def write_sample_photo() -> None:
    """Write the sample photo's JPEG bytes to stdout (the smoke run posts it as a visitor would)."""
    sys.stdout.buffer.write(sample_photo_jpeg())
    sys.stdout.buffer.flush()
