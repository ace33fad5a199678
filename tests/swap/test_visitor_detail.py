"""The visitor's detail texture carries a share of the visitor's own large-scale modelling.

`swap.shading.visitor_detail` divides the texture by its own low-pass and multiplies back that
low-pass's brightness over its mean to the power `LOW_SHARE` (the judge's choice, docs/identity.md,
eighth round). These tests pin the rule on synthetic textures, with no photo needed.
"""

from __future__ import annotations

import numpy as np
import pytest

from swap import shading
from swap.asset import LOW_SIZE
from swap.uv import eye_holes, lip_region, lowpass_weight

SIZE = 128


def _skin_texels() -> np.ndarray:
    """Texels that are plain skin: fully in the low-passes' weight, away from eyes and lips."""
    return (lowpass_weight(SIZE) > 0.99) & (eye_holes(SIZE) < 0.01) & (lip_region(SIZE) < 0.01)


def _flat_photo(low: np.ndarray) -> np.ndarray:
    """An albedo that is exactly its low-pass (no fine detail), at the texture's size."""
    import cv2

    return np.asarray(cv2.resize(low, (SIZE, SIZE), interpolation=cv2.INTER_LINEAR), np.float32)


def test_a_uniformly_lit_face_has_neutral_detail() -> None:
    low = np.full((LOW_SIZE, LOW_SIZE, 3), 0.6, np.float32)
    detail = shading.visitor_detail(_flat_photo(low), low)
    assert np.allclose(detail[_skin_texels()], 1.0, atol=1e-4)


def test_a_brighter_half_of_the_face_stays_brighter_by_the_share_of_its_ratio() -> None:
    low = np.full((LOW_SIZE, LOW_SIZE, 3), 0.4, np.float32)
    low[:, LOW_SIZE // 2 :] = 0.8  # the face's left half twice as bright at the light map's scale
    detail = shading.visitor_detail(_flat_photo(low), low)
    skin = _skin_texels()
    cols = np.arange(SIZE)[None, :].repeat(SIZE, 0)
    dark = skin & (cols < SIZE // 2 - 8)
    bright = skin & (cols > SIZE // 2 + 8)
    ratio = float(np.median(detail[bright][:, 1]) / np.median(detail[dark][:, 1]))
    assert ratio == pytest.approx(2.0**shading.LOW_SHARE, rel=0.03)
    # brightness only: a grey low-pass gives grey detail, the skin's colour stays the target's
    assert np.allclose(detail[skin][:, 0], detail[skin][:, 2], atol=1e-4)


def test_without_a_share_the_low_pass_is_divided_out_in_full(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shading, "LOW_SHARE", 0.0)
    low = np.full((LOW_SIZE, LOW_SIZE, 3), 0.4, np.float32)
    low[:, LOW_SIZE // 2 :] = 0.8
    detail = shading.visitor_detail(_flat_photo(low), low)
    assert np.allclose(detail[_skin_texels()], 1.0, atol=1e-4)
