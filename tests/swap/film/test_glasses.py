"""The film actor's glasses (swap.film.glasses): found at ingest, kept in front or drawn over by choice."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from swap.film import FilmTrack, io
from swap.film.fields import compute_fields, fields_key
from swap.film.glasses import DETECT_SIZE, PRESENT, STORE_SIZE, film_zone, pack_lines, stretch_masks
from swap.topology import face_topology

from .conftest import _clip


def _ring_lines(frames: int, seed: int = 0) -> np.ndarray:
    """`frame_lines`-like (packed) responses of a lens rim around each eye (plus noise) for `frames` frames."""
    rng = np.random.default_rng(seed)
    uv = face_topology().uv
    out = []
    for _ in range(frames):
        canvas = np.zeros((DETECT_SIZE, DETECT_SIZE), np.float32)
        for eye in ((33, 133), (362, 263)):
            cx, cy = uv[list(eye)].mean(axis=0) * DETECT_SIZE
            axes = (round(0.13 * DETECT_SIZE), round(0.075 * DETECT_SIZE))
            cv2.ellipse(canvas, (round(cx), round(cy + 0.01 * DETECT_SIZE)), axes, 0, 0, 360, (0.12,), 2)
        cv2.line(canvas, (round(0.43 * DETECT_SIZE), round(0.29 * DETECT_SIZE)), (round(0.57 * DETECT_SIZE), round(0.29 * DETECT_SIZE)), (0.12,), 2)  # fmt: skip
        out.append(pack_lines(np.maximum(canvas + rng.normal(0, 0.01, canvas.shape), 0)))
    return np.stack(out)


def test_a_frame_that_stays_on_the_face_is_masked_and_passing_noise_is_not() -> None:
    masks, share = stretch_masks(_ring_lines(12))
    assert masks.shape == (12, STORE_SIZE, STORE_SIZE) and share > PRESENT
    assert all((m > 127).mean() > 0.02 for m in masks)
    rng = np.random.default_rng(1)
    noise = np.stack([pack_lines(np.abs(rng.normal(0, 0.03, (DETECT_SIZE,) * 2))) for _ in range(12)])
    empty, noise_share = stretch_masks(noise)
    assert not empty.any() and noise_share < PRESENT


def test_an_unknown_glasses_choice_is_refused_by_name() -> None:
    from swap.film.glasses import check_glasses_mode

    assert check_glasses_mode("kept") == "kept"
    with pytest.raises(ValueError, match="removed, kept"):
        check_glasses_mode("keep")


def test_a_stretch_too_short_for_a_median_gets_no_mask() -> None:
    masks, _ = stretch_masks(_ring_lines(3))
    assert masks.shape == (3, STORE_SIZE, STORE_SIZE) and not masks.any()


def test_the_track_keeps_the_glasses_and_reads_tracks_from_before_them(speech_track: FilmTrack) -> None:
    import dataclasses

    rings = np.zeros((speech_track.frames, STORE_SIZE, STORE_SIZE), np.uint8)
    rings[:, 40:44, 20:100] = 255
    worn = dataclasses.replace(speech_track, glasses_q=rings)
    back = FilmTrack.from_bytes(worn.to_bytes())
    assert np.array_equal(back.glasses_q, rings)
    assert back.glasses_at(0) is not None and float(back.glasses_at(0).max()) == 1.0  # type: ignore[union-attr]
    bare = dataclasses.replace(speech_track, glasses_q=np.zeros((0, STORE_SIZE, STORE_SIZE), np.uint8))
    assert FilmTrack.from_bytes(bare.to_bytes()).glasses_at(0) is None


@pytest.fixture(scope="module")
def glasses_track(films_dir: Path, film_cache: Path) -> tuple[Path, FilmTrack]:
    """man_glasses_smiling_grey_bg, first 40 frames: thin metal frames, a smile."""
    from swap.film.ingest import ingest_film

    clip = _clip(films_dir, film_cache, "man_glasses_smiling_grey_bg", 40)
    return clip, ingest_film(clip, glasses="kept")


def test_the_actors_glasses_are_found_and_a_bare_face_has_none(
    glasses_track: tuple[Path, FilmTrack], speech_track: FilmTrack
) -> None:
    _, track = glasses_track
    assert track.report["glasses_frames"] >= 35 and track.report["glasses_share"] > 0.05
    zone = film_zone(STORE_SIZE)
    near = cv2.dilate(zone.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)  # + the frame's edge
    for i in (5, 20, 35):
        mask = track.glasses_at(i)
        assert mask is not None
        assert 0.04 < float((mask[zone] > 0.5).mean()) < 0.5  # the frame's lines, not the whole zone
        assert float(mask[~near].max()) == 0.0  # nothing on the cheeks, the nose, the brows
    assert speech_track.report["glasses_frames"] == 0 and len(speech_track.glasses_q) == 0


def test_kept_glasses_leave_the_films_frame_in_front_and_removed_draws_over_it(
    glasses_track: tuple[Path, FilmTrack],
) -> None:
    _, track = glasses_track
    kept = compute_fields(track, [20], "cpu", "kept")[0]
    removed = compute_fields(track, [20], "cpu", "removed")[0]
    assert kept is not None and removed is not None
    assert np.all(kept.alpha <= removed.alpha + 1e-6)
    opened = (removed.alpha > 0.9) & (kept.alpha < 0.3)  # pixels given back to the film's frame
    assert 0.005 < float(opened.mean()) < 0.08
    assert np.array_equal(kept.uv, removed.uv) and np.array_equal(kept.light, removed.light)
    assert fields_key(track, "kept") != fields_key(track, "removed") == fields_key(track)
    assert (removed.alpha[opened] > 0.9).all()  # removed: drawn over at full strength


def test_the_editors_preview_frame_is_the_films_own_render(
    visitor_asset, speech_clip: Path, speech_track: FilmTrack, speech_render
) -> None:  # type: ignore[no-untyped-def]
    from swap.film.render import render_film_frame

    result, _ = speech_render
    rendered = next(f.data for f in io.iter_frames(result.path, "rgb24") if f.index == 45)
    preview = render_film_frame(visitor_asset, speech_clip, speech_track, 45)
    original = next(f.data for f in io.iter_frames(speech_clip, "rgb24") if f.index == 45)
    assert preview is not None and preview.shape == rendered.shape
    (x0, y0), (x1, y1) = (
        speech_track.landmarks(45)[:468, :2].min(axis=0),
        speech_track.landmarks(45)[:468, :2].max(axis=0),
    )
    face = np.s_[int(y0) : int(y1), int(x0) : int(x1)]
    diff = np.abs(preview[face].astype(np.int16) - rendered[face]).mean()
    assert diff < 3.0, diff  # the same frame, up to the video's compression
    assert np.abs(original[face].astype(np.int16) - rendered[face]).mean() > 3 * diff  # not the untouched one
    assert render_film_frame(visitor_asset, speech_clip, speech_track, 10_000) is None


def test_removed_glasses_leave_what_is_in_front_of_them_in_front(
    glasses_track: tuple[Path, FilmTrack],
) -> None:
    """Something in front of the glasses (the film's colour occlusion: a hand, a microphone) stays."""
    import dataclasses

    _, track = glasses_track
    covered = dataclasses.replace(track, occlusion_q=np.full_like(track.occlusion_q, 255))
    worn = track.glasses_at(20)
    assert worn is not None
    alpha = compute_fields(covered, [20], "cpu", "removed")[0]
    assert alpha is not None and float(alpha.alpha.max()) < 0.05


def test_the_films_detail_and_occlusion_are_neutral_around_the_frame_but_an_occluder_in_front_stays() -> None:
    """The actor's frame slides in UV against its stretch's median: the detail printed it as a faint
    second frame, and the occlusion test flagged its moved rims, which showed the film's frame through
    the alpha (seen on the shared bedroom film). Something larger in front of the glasses stays."""
    from swap.film.glasses import maps_without_frame

    frame = np.zeros((STORE_SIZE, STORE_SIZE), np.float32)
    cv2.ellipse(frame, (40, 45), (18, 11), 0, 0, 360, (1.0,), 2)
    detail = np.ones((64, 64), np.float32)
    cv2.ellipse(detail, (21, 23), (9, 6), 0, 0, 360, (0.7,), 1)  # the frame, one texel off the mask
    detail[50:54, 40:50] = 1.3  # a smile fold on the cheek, far from the frame
    rims = np.zeros((64, 64), np.float32)
    cv2.ellipse(rims, (21, 23), (9, 6), 0, 0, 360, (1.0,), 1)
    hand = np.zeros((64, 64), np.float32)
    hand[10:40, 5:40] = 1.0  # wider than the frame's zone: in front of it

    d, o = maps_without_frame(detail, rims, frame)
    assert d is not None and o is not None
    assert float(np.abs(d[rims > 0] - 1).max()) < 0.08  # a fifth of the line's depth at most
    assert float(o.max()) < 0.05
    assert np.allclose(d[50:54, 40:50], 1.3)  # the film's own expression elsewhere stays
    _, o_hand = maps_without_frame(None, hand, frame)
    assert o_hand is not None and float(o_hand[rims > 0].min()) > 0.9
    assert maps_without_frame(None, None, frame) == (None, None)
