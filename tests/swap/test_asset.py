"""The visitor's face asset: compact bytes that round-trip, fills from the mirror twin, rim trimming."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from swap.asset import AssetFormatError, FaceAsset, build_face_asset
from swap.target import unwrap
from swap.uv import mirror_fill, push_pull_fill, skin_region, uv_raster

from .render_fixtures import analysis_of, asset_of


def test_asset_round_trips_through_bytes_and_stays_small():
    asset = asset_of("astronaut")
    data = asset.to_bytes()
    assert len(data) < 80_000
    back = FaceAsset.from_bytes(data)
    assert back.albedo.shape == asset.albedo.shape == (512, 512, 3)
    # JPEG at quality 92: mean error well under 1 % of the range
    assert float(np.abs(back.albedo - asset.albedo).mean()) < 0.01
    np.testing.assert_allclose(back.low, asset.low, atol=2e-3)
    np.testing.assert_allclose(back.shape, asset.shape, atol=2e-3)
    assert back.pose == asset.pose and back.warnings == asset.warnings


def test_bytes_that_are_not_an_asset_are_refused_with_a_reason():
    with pytest.raises(AssetFormatError, match="magic"):
        FaceAsset.from_bytes(b"\xff\xd8\xff\xe0 a jpeg, not an asset")
    data = bytearray(asset_of("astronaut").to_bytes())
    data[8] = 99  # version field
    with pytest.raises(AssetFormatError, match="version 99"):
        FaceAsset.from_bytes(bytes(data))
    with pytest.raises(AssetFormatError, match="corrupt"):
        FaceAsset.from_bytes(bytes(asset_of("astronaut").to_bytes()[:200]))


def test_hidden_texels_are_filled_from_their_mirror_twin():
    tex = np.zeros((8, 8, 3), np.float32)
    tex[:, 4:] = 0.8  # the seen half
    weight = np.zeros((8, 8), np.float32)
    weight[:, 4:] = 1.0
    filled, w = mirror_fill(tex, weight)
    np.testing.assert_allclose(filled[:, :4], 0.8)
    assert (w == 1).all()


def test_texels_seen_as_well_as_their_twin_are_kept_as_they_are():
    rng = np.random.default_rng(0)
    tex = rng.random((8, 8, 3)).astype(np.float32)
    filled, _ = mirror_fill(tex, np.full((8, 8), 0.6, np.float32))
    np.testing.assert_array_equal(filled, tex)


def test_push_pull_fills_holes_smoothly_and_keeps_trusted_texels():
    tex = np.full((32, 32, 3), 0.3, np.float32)
    weight = np.ones((32, 32), np.float32)
    tex[10:20, 10:20] = 0.0
    weight[10:20, 10:20] = 0.0
    out = push_pull_fill(tex, weight)
    np.testing.assert_allclose(out, 0.3, atol=1e-5)


def test_unwrap_marks_texels_outside_the_mesh_and_outside_the_image_as_untrusted():
    a = analysis_of("astronaut")
    tex, valid = unwrap(a.rgb, a.landmarks, 128)
    covered = uv_raster(128).covered
    assert tex.shape == (128, 128, 3) and valid.shape == (128, 128)
    assert (valid[~covered] == 0).all()
    assert valid[covered].mean() > 0.8  # a frontal face: most of it is seen
    cut = a.rgb[:, : int(a.landmarks.points[1, 0])].copy()  # keep only the left half of the image
    _, valid_cut = unwrap(cut, a.landmarks, 128)
    assert valid_cut[covered].mean() < 0.65 * valid[covered].mean()


def test_a_turned_head_gets_its_hidden_cheek_from_the_seen_one(shared_media):
    a = analysis_of("asian_woman_hand_on_chin.png")  # ~22 degrees of yaw
    asset = build_face_asset(a)
    _, valid = unwrap(a.rgb, a.landmarks, 512)
    covered = uv_raster(512).covered
    hidden = covered & (valid < 0.05)
    assert hidden.sum() > 500  # the far cheek is really hidden
    # filled texels look like skin of this face, not black or wall
    skin = np.median(asset.albedo[covered & (valid > 0.9)], axis=0)
    assert np.abs(np.median(asset.albedo[hidden], axis=0) - skin).max() < 0.2


def test_a_hand_on_the_cheek_is_filled_from_the_mirrored_side_not_painted_on(shared_media):
    """Known answer: the asset of the photo with a hand pasted on one cheek must match, under the
    hand, the asset of the same photo without it far better than an asset that keeps the hand."""
    import dataclasses

    from swap.analysis import analyze_rgb
    from swap.asset import occluder_texels
    from swap.imageio import decode_image

    from .hand_composite import hand_cutout, paste_hand

    photo = decode_image((shared_media / "photos" / "woman_neutral_frown.png").read_bytes())
    clean = analyze_rgb(photo)
    fw = clean.landmarks.face_width
    x, y = clean.landmarks.points[187, :2]  # her right cheek, fingers up, clear of the eye, nose and mouth
    img, _ = paste_hand(photo, hand_cutout(shared_media), (x, y + 0.1 * fw), 0.35 * fw, 180.0)
    with_hand = analyze_rgb(img)
    assert with_hand.occluders is not None
    under = occluder_texels(with_hand.occluders, with_hand.landmarks.points, 512) > 0.9
    under &= skin_region(512)  # away from the rim, where the clean photo has hair, not a known answer
    assert under.sum() > 2000

    def detail(analysis) -> np.ndarray:  # type: ignore[no-untyped-def]
        # the fine structure (finger edges, knuckles; pores and wrinkles of skin), free of the
        # brightness difference between the two cheeks that a mirror fill legitimately brings
        lum = build_face_asset(analysis).albedo.mean(axis=-1)
        return lum - cv2.GaussianBlur(lum, (0, 0), 6.0)

    reference = detail(clean)
    filled = float(np.abs(detail(with_hand) - reference)[under].mean())
    painted = float(np.abs(detail(dataclasses.replace(with_hand, occluders=None)) - reference)[under].mean())
    assert filled < 0.6 * painted, (filled, painted)
