"""Quality metrics respond to what they claim to measure."""

from __future__ import annotations

import numpy as np

from swap.quality import identity_transfer, pose_error, seam_visibility
from swap.render import FaceRenderer, render_uv_map
from swap.target import prepare_target
from swap.uv import uv_alpha

from .render_fixtures import analysis_of, asset_of


def test_pose_error_is_zero_for_the_unchanged_image_and_grows_when_the_face_moves():
    a = analysis_of("astronaut")
    assert pose_error(a.rgb, a.landmarks) < 0.005
    shifted = np.roll(a.rgb, 6, axis=1)  # the face moved 6 px: ~0.1 of the inter-ocular distance
    assert pose_error(shifted, a.landmarks) > 0.08


def test_pose_error_is_infinite_when_no_face_is_left():
    a = analysis_of("astronaut")
    assert pose_error(np.zeros_like(a.rgb), a.landmarks) == float("inf")


def test_identity_of_an_unchanged_image_is_the_target_not_another_visitor(shared_media):
    t = analysis_of("woman_neutral_frown.png")
    score = identity_transfer(t.rgb, t.rgb, t.landmarks, asset_of("obama_official_portrait.jpg").albedo)
    assert score.target > 0.99
    assert score.visitor < 0.5
    assert score.margin < -0.5


def test_seam_score_flags_a_hard_paste_but_not_the_renderer(shared_media):
    t = analysis_of("woman_neutral_frown.png")
    target = prepare_target(t.rgb, t.landmarks)
    asset = asset_of("obama_official_portrait.jpg")
    blended = FaceRenderer(asset).render(t.rgb[None], [target])[0]
    # a hard paste: the rendered face where the mask is > 0.3, the target elsewhere, brightened
    h, w = t.rgb.shape[:2]
    mask = render_uv_map(t.landmarks, (w, h), uv_alpha(256)) > 0.3
    pasted = t.rgb.copy()
    pasted[mask] = np.clip(blended[mask].astype(int) + 40, 0, 255)
    hard = seam_visibility(pasted, t.rgb, t.landmarks)
    soft = seam_visibility(blended, t.rgb, t.landmarks)
    assert hard.ratio > 1.5 * soft.ratio
    assert hard.step > 25 > soft.step
