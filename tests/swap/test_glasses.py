"""Glasses in the visitor's photo are found (a warning; removal on request); bare faces are untouched."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from swap.asset import build_face_asset
from swap.glasses import glasses_mask, glasses_zone
from swap.target import unwrap

from .render_fixtures import analysis_of, framed_astronaut

SIZE = 512
WITH_GLASSES = (
    "older_man_glasses_low_light.jpg",
    "older_man_black_glasses.jpg",
    "east_asian_older_man_glasses.png",
    "man_curly_hair_glasses.jpg",
    "east_asian_man_glasses_dim.jpg",
)
WITHOUT = (
    "obama_official_portrait.jpg",
    "business_woman.png",
    "older_man_smiling_teeth.jpg",
    "woman_neutral_frown.png",
    "einstein_bw_historic.jpg",
    "teen_girl_black_fairface.jpg",
)


def test_a_bare_face_has_nothing_removed() -> None:
    a, _ = framed_astronaut()
    mask, share = glasses_mask(*unwrap(a.rgb, a.landmarks.points, SIZE))
    assert share < 0.2 and mask.max() == 0.0


def test_a_frame_on_the_face_is_found_where_it_lies_and_nowhere_else() -> None:
    bare, framed = framed_astronaut()
    pts = bare.landmarks.points
    before, _ = unwrap(bare.rgb, pts, SIZE)
    texture, weight = unwrap(framed.rgb, pts, SIZE)
    zone, _ = glasses_zone(SIZE)
    drawn = (np.abs(texture - before).sum(axis=-1) > 0.3) & zone
    mask, share = glasses_mask(texture, weight)
    assert share > 0.5 and drawn.sum() > 500
    assert mask[drawn].mean() > 0.8  # the frame is removed ...
    assert mask[~zone].max() == 0.0  # ... and nothing outside its zone (eyes, brows, mouth, cheeks)
    # by default the asset keeps the frame and says so; on request it shows skin where the frame lay
    # (the painted frame is ~6 % of the skin's brightness)
    clean = build_face_asset(bare)
    kept = build_face_asset(framed)
    cleaned = build_face_asset(framed, remove_glasses=True).albedo.mean(axis=-1)
    assert "glasses" in kept.warnings and "glasses" not in clean.warnings
    assert np.median(kept.albedo.mean(axis=-1)[drawn]) < 0.5 * np.median(clean.albedo.mean(axis=-1)[drawn])
    assert np.median(cleaned[drawn]) > 0.7 * np.median(clean.albedo.mean(axis=-1)[drawn])


@pytest.mark.parametrize("name", WITH_GLASSES)
def test_glasses_in_shared_photos_are_found(shared_media: Path, name: str) -> None:
    a = analysis_of(name)
    mask, share = glasses_mask(*unwrap(a.rgb, a.landmarks.points, SIZE))
    assert share >= 0.5 and mask.mean() > 0.01


@pytest.mark.parametrize("name", WITHOUT)
def test_bare_faces_in_shared_photos_keep_their_skin(shared_media: Path, name: str) -> None:
    a = analysis_of(name)
    mask, share = glasses_mask(*unwrap(a.rgb, a.landmarks.points, SIZE))
    assert share < 0.35 and mask.max() == 0.0
