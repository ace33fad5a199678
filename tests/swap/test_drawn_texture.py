"""The film's visitor texture is band-limited for the size it is drawn at, so a moving face does not shimmer."""

from __future__ import annotations

import itertools

import cv2
import numpy as np

from swap.shading import ANTIALIAS_STEP, DrawnTexture, antialias_sigma, texels_per_pixel


def _stripes(size: int = 256) -> np.ndarray:
    """One-texel stripes: the finest detail a texture holds, the worst case for aliasing."""
    col = (np.arange(size) % 2).astype(np.float32) * 0.8 + 0.6
    return np.repeat(np.repeat(col[None, :, None], size, axis=0), 3, axis=2)


def _drawn(texture: np.ndarray, texels_per_px: float, shift: float) -> np.ndarray:
    """The texture looked up bilinearly as a face drawn `texels_per_px` smaller, moved by `shift` px."""
    n = int(texture.shape[0] / texels_per_px)
    xs = (np.arange(n, dtype=np.float32) + shift) * texels_per_px
    map_x = np.repeat(xs[None, :], n, axis=0)
    map_y = np.repeat((np.arange(n, dtype=np.float32) * texels_per_px)[:, None], n, axis=1)
    return cv2.remap(texture, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def test_a_minified_texture_no_longer_shimmers_as_the_face_moves_by_sub_pixels():
    texture = _stripes()
    drawn = DrawnTexture(texture)
    r = 2.1
    shimmer = {}
    for name, tex in (("raw", texture), ("prefiltered", drawn.at(r))):
        frames = [_drawn(tex, r, s) for s in np.linspace(0.0, 1.0, 6, endpoint=False)]
        shimmer[name] = float(np.mean([np.abs(a - b).mean() for a, b in itertools.pairwise(frames)]))
    assert shimmer["prefiltered"] < 0.25 * shimmer["raw"]
    # the average colour is kept: band-limiting, not darkening
    assert abs(float(drawn.at(r).mean()) - float(texture.mean())) < 1e-3


def test_a_texture_drawn_at_or_above_its_size_is_left_sharp_and_levels_are_reused():
    texture = _stripes()
    drawn = DrawnTexture(texture)
    assert antialias_sigma(1.0) == 0.0 and antialias_sigma(0.5) == 0.0
    assert drawn.at(0.8) is drawn.base
    assert drawn.at(3.0) is drawn.at(3.01)  # rounded to ANTIALIAS_STEP: one level, made once
    assert antialias_sigma(3.0) % ANTIALIAS_STEP == 0.0
    assert antialias_sigma(4.0) > antialias_sigma(2.0) > 0.0


def test_texels_per_pixel_takes_the_less_minified_axis_of_a_foreshortened_face():
    uv = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], np.float32)
    frontal = np.array([[0, 0], [256, 0], [0, 256], [256, 256]], np.float32)
    turned = frontal * np.array([0.5, 1.0], np.float32)  # a head turned away: half as wide, as tall
    assert texels_per_pixel(frontal, uv, 512) == 2.0
    assert texels_per_pixel(turned, uv, 512) == 2.0
