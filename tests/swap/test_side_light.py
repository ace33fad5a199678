"""A half-face in shadow is evened out against its lit twin; a normally lit face is left alone."""

from __future__ import annotations

import numpy as np

from swap.asset import build_face_asset
from swap.side_light import even_side_light
from swap.uv import eye_holes, skin_region, uv_raster

from .render_fixtures import analysis_of

SIZE = 256


def _face(dark_share: float) -> tuple[np.ndarray, np.ndarray]:
    """A skin-coloured UV texture whose left half (u < 0.5) is `dark_share` as bright, with a smooth
    terminator down the middle, trusted everywhere the mesh covers."""
    covered = uv_raster(SIZE).covered.astype(np.float32)
    u = (np.arange(SIZE, dtype=np.float32) + 0.5) / SIZE
    light = 1.0 - (1.0 - dark_share) * np.clip((0.5 - u) / 0.04 + 0.5, 0.0, 1.0)
    skin = np.array([0.80, 0.60, 0.50], np.float32)
    texture = skin[None, None, :] * light[None, :, None] * np.ones((SIZE, 1, 1), np.float32)
    texture = texture.astype(np.float32)
    return texture, covered


def _halves(texture: np.ndarray) -> tuple[float, float]:
    skin = skin_region(SIZE)
    lum = np.log(texture.mean(axis=-1))
    half = SIZE // 2
    return float(lum[:, :half][skin[:, :half]].mean()), float(lum[:, half:][skin[:, half:]].mean())


def test_a_half_face_in_deep_shadow_is_brought_up_to_its_lit_twin():
    texture, weight = _face(dark_share=0.25)  # a window-lit photo: the shadow half 4x darker
    result = even_side_light(texture, weight)
    assert result.side_lit
    evened = result.albedo
    dark_before, lit = _halves(texture)
    dark_after, lit_after = _halves(evened)
    assert lit - dark_before > 1.3
    assert lit - dark_after < 0.35  # most of the deficit is gone
    assert 0.0 <= lit_after - lit < 0.05  # the lit side is never darkened (only the terminator lifts)


def test_the_deepest_shadow_is_handed_to_the_mirror_fill():
    texture, weight = _face(dark_share=0.25)
    trust = even_side_light(texture, weight).weight
    skin = skin_region(SIZE)
    half = SIZE // 2
    assert float(trust[:, :half][skin[:, :half]].mean()) < 0.2  # the noise of a black shadow goes
    assert float(trust[:, half:][skin[:, half:]].min()) == 1.0


def test_a_mole_on_the_shadowed_side_keeps_its_contrast():
    texture, weight = _face(dark_share=0.25)
    y, x = 150, 80  # a small dark spot on the shadowed cheek
    texture[y - 2 : y + 3, x - 2 : x + 3] *= 0.5
    evened = even_side_light(texture, weight).albedo
    around = evened[y - 8 : y + 9, x + 6 : x + 9].mean()
    assert evened[y, x].mean() / around < 0.6  # still a spot, not smoothed away by the gain


def test_a_soft_key_light_is_left_to_the_de_lighting():
    texture, weight = _face(dark_share=0.8)  # the halves 20 % apart: modelling, not a shadow
    evened = even_side_light(texture, weight)
    assert evened.albedo is texture and evened.weight is weight and not evened.side_lit


def test_a_side_light_short_of_evening_is_still_reported():
    texture, weight = _face(dark_share=0.6)  # the shadow half 1.7x darker: under the evening's limit
    evened = even_side_light(texture, weight)
    assert evened.albedo is texture and evened.side_lit


def test_the_shared_window_lit_photo_loses_its_dark_half_face(shared_media):
    asset = build_face_asset(analysis_of("man_side_lit_textured_wall.jpeg"))
    size = asset.albedo.shape[0]
    skin = skin_region(size)
    lum = np.log(asset.albedo.mean(axis=-1) + 1e-3)
    half = size // 2
    left, right = float(lum[:, :half][skin[:, :half]].mean()), float(lum[:, half:][skin[:, half:]].mean())
    assert abs(left - right) < 0.3  # was 1.29 (3.6x) before the shadow was evened


def test_a_catchlight_in_the_shadowed_eye_does_not_glow_brighter_than_the_lit_eye():
    texture, weight = _face(dark_share=0.25)
    holes = eye_holes(SIZE) > 0.5
    left_eye = holes.copy()
    left_eye[:, SIZE // 2 :] = False
    ys, xs = np.nonzero(left_eye)
    y, x = int(ys.mean()), int(xs.mean())
    texture[y - 1 : y + 2, x - 1 : x + 2] = 0.9  # the window's reflection: not shaded by the shadow
    evened = even_side_light(texture, weight).albedo
    assert float(texture[holes & ~left_eye].max()) < 0.9  # the lit eye holds nothing as bright
    # no brighter than it was (x4 the shadow's gain would have made it ~3.6), the shadow around it lifted
    assert float(evened[y, x].max()) <= 0.9 + 1e-6
    assert float(evened[y + 6, x].mean()) > 2.5 * float(texture[y + 6, x].mean())


def test_an_evened_side_light_is_reported_and_an_even_light_is_not(shared_media):
    assert "side_lit" in build_face_asset(analysis_of("man_side_lit_textured_wall.jpeg")).warnings
    assert "side_lit" not in build_face_asset(analysis_of("obama_official_portrait.jpg")).warnings
