"""The film actor's glasses: found once at ingest, and kept in front of the swap when the editor says so.

Glasses sit still on the face, so the colour-based occlusion (`swap.film.ingest.stretch_maps`, which
flags what differs from the stretch's median) never sees them, and its 64-texel map is far too coarse
for a frame 2-4 px wide. Here each covered frame is unwrapped at `DETECT_SIZE` and its thin dark (or
bright metal) lines are found around the eye openings (brows, nose and cheeks left out:
`film_zone`). Whether a stretch has glasses at all is decided by what stays put over the whole
stretch (the bridge, close to the face, is always there; wrinkles come and go); where it has, each
frame's mask is the median response over a few frames around it (`stretch_masks`).

What the mask is for is the editor's choice per film (`GLASSES_MODES`): ``removed`` (the default) draws
the visitor's face over the actor's glasses, as every swap did before this; ``kept`` leaves the film's
own pixels under the mask, so the actor's frame stays crisp on the visitor's face (the glasses belong
to the character). Measured with the identity judge in docs/identity.md ("Glasses in the film").
"""

from __future__ import annotations

from functools import lru_cache
from typing import Final, Literal

import cv2
import numpy as np
import numpy.typing as npt

from swap.glasses import glasses_zone, line_response

FloatArray = npt.NDArray[np.float32]
GlassesMode = Literal["removed", "kept"]

GLASSES_MODES: Final[tuple[GlassesMode, ...]] = ("removed", "kept")
DEFAULT_GLASSES: Final[GlassesMode] = "removed"
DETECT_SIZE = 256  # UV texels the lines are found at (a 2-4 px frame on a 250 px face is 2-4 texels)
STORE_SIZE = 128  # the stored mask (fields are drawn with the face at most 128 px wide)
LINE_KERNELS = (5, 7)  # black-hat/top-hat sizes at DETECT_SIZE: a frame, not an eye bag's broad shadow
LINE_RAMP = (0.03, 0.07)  # line depth (share of the skin median) over WINDOW frames: no line .. a line
LINE_QUANTUM = 0.0005  # stored responses are uint8 in these steps (0..0.1275: every ramp ends below)
WINDOW = 5  # frames whose median response is a frame's (noise out; a turn's parallax still followed)
STATIC_RAMP = (0.025, 0.06)  # ... and over the whole stretch (where the frame sits close: the bridge)
# share of the zone the stretch's static lines cover from which it has glasses: the first 90 frames of
# the 12 shared films measure 0.002-0.026 on bare faces (the highest: obama_address_256px, low
# resolution and deep face lines) and 0.12-0.19 on the three glasses films
PRESENT = 0.06
STATIC_SAMPLES = 60  # the stretch's median is taken over at most this many of its frames
MIN_AREA = 20  # texels at DETECT_SIZE: smaller specks of line (a pore, a lash) are not a frame
MIN_VALID = 0.3  # texels the frame saw at a grazing angle (facing trust below this) are not searched
GROW = 1  # texels at DETECT_SIZE the mask grows by (the frame's edge and landmark jitter)
# the photo detector's zone reaches down the nose and the cheeks, where a film's static creases (the
# nose's sides, a nasolabial fold) sit: a lens ends ~0.08 of the UV height below the lower lids
# (v 0.34), and the nose below the bridge carries at most the pads
LENS_BOTTOM_V = 0.42
NOSE = (0.07, 0.35)  # half-width around u = 0.5, and v below which the nose column is not glasses


def check_glasses_mode(mode: str) -> GlassesMode:
    """`mode` if it is one of `GLASSES_MODES`; a ValueError that names them otherwise (a typo must not
    silently render the default)."""
    for known in GLASSES_MODES:
        if mode == known:
            return known
    raise ValueError(f"unknown glasses choice {mode!r}: use one of {', '.join(GLASSES_MODES)}")


@lru_cache(maxsize=2)
def film_zone(size: int) -> npt.NDArray[np.bool_]:
    """Where a film actor's frame can be: the photo detector's zone without the nose and the cheeks."""
    zone, _ = glasses_zone(size)
    v, u = (np.mgrid[0:size, 0:size] + 0.5) / size
    nose = (np.abs(u - 0.5) < NOSE[0]) & (v > NOSE[1])
    return zone & (v < LENS_BOTTOM_V) & ~nose


def thin_line_response(texture: FloatArray, valid: FloatArray) -> FloatArray:
    """The photo detector's line response (`swap.glasses.line_response`) with thinner kernels
    (`LINE_KERNELS`): a film frame is seen in many frames, so a thin kernel's noise averages out, and a
    wide one takes the lids' and eye bags' shadows for glasses."""
    return line_response(texture, valid, texture.shape[0], LINE_KERNELS)


def pack_lines(response: FloatArray) -> npt.NDArray[np.uint8]:
    """A (DETECT_SIZE, DETECT_SIZE) line response as the uint8 vector of its film-zone texels: 10 KB
    per frame instead of 128 KB, so a long film's ingest holds them all."""
    zone = film_zone(response.shape[0])
    return np.clip(np.round(response[zone] / LINE_QUANTUM), 0, 255).astype(np.uint8)


def _unpack(values: FloatArray) -> FloatArray:
    canvas = np.zeros((DETECT_SIZE, DETECT_SIZE), np.float32)
    canvas[film_zone(DETECT_SIZE)] = values
    return canvas


def frame_lines(texture: FloatArray, valid: FloatArray) -> npt.NDArray[np.uint8]:
    """One frame's `thin_line_response` in the film zone (0 where the frame did not see the texel
    well), packed (`pack_lines`); `texture` is a DETECT_SIZE unwrap."""
    return pack_lines(thin_line_response(texture, valid) * (valid > MIN_VALID))


def _ramp(x: FloatArray, ramp: tuple[float, float]) -> FloatArray:
    return np.clip((x - ramp[0]) / (ramp[1] - ramp[0]), 0.0, 1.0).astype(np.float32)


def _median(lines: npt.NDArray[np.uint8]) -> FloatArray:
    return (np.median(lines, axis=0) * LINE_QUANTUM).astype(np.float32)


def static_share(lines: npt.NDArray[np.uint8]) -> float:
    """Share of the film zone whose median line response over the stretch (packed `frame_lines`, (T, Z))
    says "a line is always here"."""
    step = max(1, len(lines) // STATIC_SAMPLES)
    return float((_ramp(_median(lines[::step]), STATIC_RAMP) > 0.5).mean())


def _frame_mask(window: npt.NDArray[np.uint8]) -> FloatArray:
    mask = _unpack(_ramp(_median(window), LINE_RAMP))
    mask = np.asarray(cv2.dilate(mask, np.ones((2 * GROW + 1,) * 2, np.uint8)), np.float32)
    count, labels, stats, _ = cv2.connectedComponentsWithStats((mask > 0.5).astype(np.uint8))
    specks = [c for c in range(1, count) if stats[c, cv2.CC_STAT_AREA] < MIN_AREA]
    if specks:
        mask[np.isin(labels, specks)] = 0.0
    mask = np.asarray(cv2.GaussianBlur(mask, (0, 0), 0.8), np.float32)
    small = cv2.resize(mask, (STORE_SIZE, STORE_SIZE), interpolation=cv2.INTER_AREA)
    return np.clip(small * 1.5, 0.0, 1.0).astype(np.float32)  # a 2-texel line survives the halving


def stretch_masks(lines: npt.NDArray[np.uint8]) -> tuple[npt.NDArray[np.uint8], float]:
    """(the glasses mask (T, STORE_SIZE, STORE_SIZE) uint8 of each frame of one stretch, the stretch's
    `static_share`) from its frames' `frame_lines` (T, Z).

    A frame's mask is the median line response over `WINDOW` frames around it: one frame's thin-line
    response is spotty (noise, compression), and the median over the whole stretch misses a lens rim,
    which sits a centimetre in front of the face and so slides over it in UV as the head turns. The
    stretch's median still decides whether there are glasses at all (the bridge sits close to the face
    and is always there): below `PRESENT` every mask of the stretch is empty.
    """
    t_len = len(lines)
    masks = np.zeros((t_len, STORE_SIZE, STORE_SIZE), np.uint8)
    if t_len < WINDOW:
        return masks, 0.0
    share = static_share(lines)
    if share < PRESENT:
        return masks, share
    half = WINDOW // 2
    for k in range(t_len):
        a = min(max(0, k - half), t_len - WINDOW)
        masks[k] = np.round(_frame_mask(lines[a : a + WINDOW]) * 255).astype(np.uint8)
    return masks, share


# How far around the actor's frame the film's own per-frame maps are not trusted, share of the UV
# width: the frame's slide against the stretch's median (parallax, a frame pushed up the nose), the
# mask's offset from the frame's lines and the 64-texel maps' own blur.
FRAME_REACH = 0.04
# an occluder in front of the glasses covers at least this x this of the UV beside the frame's zone
OCCLUDER_MIN = 0.1


def frame_zone(frame: FloatArray, size: int) -> FloatArray:
    """The glasses `frame` (G, G) grown by `FRAME_REACH`, at `size` texels: 1 up to the grown edge,
    fading to 0 just outside it (no step in the maps it neutralises)."""
    mask = np.asarray(cv2.resize(frame, (size, size), interpolation=cv2.INTER_AREA) > 0.05, np.uint8)
    reach = max(1, round(FRAME_REACH * size))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1, 2 * reach + 1))
    soft = cv2.GaussianBlur(cv2.dilate(mask, kernel).astype(np.float32), (0, 0), 0.6 * reach)
    return np.asarray(np.clip(2.0 * soft, 0.0, 1.0), np.float32)


def maps_without_frame(
    detail: FloatArray | None, occlusion: FloatArray | None, frame: FloatArray
) -> tuple[FloatArray | None, FloatArray | None]:
    """The film's expression detail and occlusion with the glasses `frame` and around it neutral
    (detail 1, occlusion 0).

    Both maps compare each frame's unwrap with its stretch's median. Glasses sit in front of the face,
    so in UV they slide as the head turns and the frame rides on the nose: the detail prints a dark
    line where the frame is and a light one where the median had it, and the occlusion test flags
    the moved pieces (rims, nose pads) as something in front of the face. Through the swap's alpha
    the flagged pieces show the film, frame and all, at partial strength (and spread into the eye
    holes, the actor's eyes); multiplied onto the visitor's face the detail's lines are a faint
    second frame. The frame is the editor's (`GLASSES_MODES`), decided by its own mask. Occlusion that
    continues from outside the zone (a hand, hair, a microphone in front of the glasses) is kept.
    """
    out_detail = out_occlusion = None
    # the zone once per map size (both maps are 64 texels)
    zones = {
        size: frame_zone(frame, size) for size in {m.shape[0] for m in (detail, occlusion) if m is not None}
    }
    if detail is not None:
        off = zones[detail.shape[0]]
        out_detail = (detail * (1 - off) + off).astype(np.float32)
    if occlusion is not None:
        size = occlusion.shape[0]
        off = zones[size]
        # what covers the face beside the zone too is in front of the glasses (hair, a hand): kept.
        # An occluder is a flagged region with a large part beside the zone; the slid rims' flags lie
        # within it, joined at most to a lid's flagged blink or a speck beside it.
        n, labels = cv2.connectedComponents((occlusion > 0.3).astype(np.uint8))
        beside_area = np.bincount(labels[off < 0.02], minlength=n)
        occluder = (beside_area >= (OCCLUDER_MIN * size) ** 2)[labels] & (labels > 0)
        out_occlusion = (occlusion * (1 - off * ~occluder)).astype(np.float32)
    return out_detail, out_occlusion
