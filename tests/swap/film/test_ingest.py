"""Film ingest on real footage: coverage, smoothing, protagonist choice, refusals, the saved track."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from swap.errors import TemplateError
from swap.film import io
from swap.film.ingest import ingest_film
from swap.film.track import ABSENT, FORMAT_VERSION, SHOT_START, FilmTrack, track_path
from tests.swap.film.conftest import make_clip


def test_talking_head_is_covered_in_every_frame(speech_track: FilmTrack) -> None:
    r = speech_track.report
    assert (r["frames"], r["width"], r["height"]) == (90, 700, 700)
    assert r["coverage"] == 1.0
    assert r["shot_cuts"] == 0 and r["protagonist_switches"] == 0
    assert speech_track.covered.all()
    assert np.all(speech_track.strength == 1.0)  # no fade: the face never leaves


def test_smoothing_reduces_landmark_jitter(speech_track: FilmTrack) -> None:
    r = speech_track.report
    assert r["jitter_after"] < 0.5 * r["jitter_before"]


def test_track_is_saved_beside_the_film_and_found_by_render(
    speech_clip: Path, speech_track: FilmTrack
) -> None:
    path = track_path(speech_clip)
    assert path.name == speech_clip.stem + ".track.npz"
    loaded = FilmTrack.for_film(speech_clip)
    assert loaded.frames == speech_track.frames and loaded.report["coverage"] == 1.0
    assert np.array_equal(loaded.landmarks_q, speech_track.landmarks_q)
    # compact: 90 frames of 700x700 stay far under a megabyte (15 s ~ 2-3 MB)
    assert path.stat().st_size < 600_000


def test_track_landmarks_are_within_a_tenth_of_a_pixel(speech_track: FilmTrack) -> None:
    t = speech_track.target(10)
    assert t is not None
    assert t.landmarks.shape == (478, 3) and t.landmarks.dtype == np.float32
    assert t.light_map.shape[2] == 3 and t.light_map.min() >= 0 and t.light_map.max() <= 1
    assert t.detail is not None and t.detail.min() >= 0.7 and t.detail.max() <= 1.42
    assert t.occlusion is not None and t.occlusion.max() <= 1


def test_unknown_track_version_is_refused(speech_track: FilmTrack) -> None:
    data = dataclasses.replace(speech_track, version=FORMAT_VERSION + 1).to_bytes()
    with pytest.raises(ValueError, match="re-ingest"):
        FilmTrack.from_bytes(data)


def test_protagonist_is_kept_and_audience_faces_are_never_swapped(stage_clip: Path) -> None:
    track = ingest_film(stage_clip, save=False)
    r = track.report
    cut = int(np.where(track.flags & SHOT_START)[0][1])  # the cut to the audience
    assert r["shot_cuts"] == 1 and 50 <= cut <= 70
    assert track.covered[:cut].mean() > 0.9  # the performer, in his shot
    assert not track.covered[cut:].any()  # no bystander in the audience shot
    assert np.all(track.flags[cut:] & ABSENT)
    assert r["bystander_faces_passed_over"] > 0


def test_film_without_a_face_is_refused(shared_media: Path, tmp_path: Path) -> None:
    clip = io.trim(shared_media / "badinputs" / "video_noface_hand.mp4", tmp_path / "hand.mp4", 45)
    with pytest.raises(TemplateError) as err:
        ingest_film(clip, save=False)
    assert err.value.code == "no_face"


def test_too_short_film_is_refused(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "short.mp4", frames=12)
    with pytest.raises(TemplateError) as err:
        ingest_film(clip, save=False)
    assert err.value.code == "too_short"


def test_corrupt_film_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all" * 50)
    with pytest.raises(TemplateError) as err:
        ingest_film(bad, save=False)
    assert err.value.code == "corrupt_video"


def test_false_background_face_of_the_same_size_is_never_followed(films_dir: Path, film_cache: Path) -> None:
    # from frame 221 on, Face Mesh also reports a "face" in the blurred plants right of the woman, as wide as hers
    clip = film_cache / "indoor_190.mp4"
    if not clip.exists():
        io.trim(films_dir / "woman_indoor_720p.mp4", clip, 92, start=190)
    track = ingest_film(clip, save=False)
    assert track.report["bystander_faces_passed_over"] >= 40
    assert track.covered.all() and track.report["protagonist_switches"] == 0
    noses = np.array([track.landmarks(i)[1, 0] for i in range(track.frames)])
    assert noses.min() > 600 and noses.max() < 820  # the woman's nose, never the plant at x ~ 1000


def test_swap_fades_in_and_out_inside_a_shot_but_not_at_cuts() -> None:
    from swap.film.ingest import FADE, fade_strength
    from swap.film.track import TOO_BRIEF, TOO_TURNED

    n = 80
    shot = np.zeros(n, np.int32)
    shot[50:] = 1  # a cut before frame 50
    flags = np.zeros(n, np.uint8)
    flags[20:30] |= TOO_TURNED  # the head turns away mid-shot
    s = fade_strength(flags, shot)
    assert s[0] == 1.0  # the film's start: no fade
    assert (
        s[19] == pytest.approx(1 / (FADE + 1)) and s[19 - FADE] == 1.0 > s[20 - FADE]
    )  # fades out before the turn
    assert np.all(s[20:30] == 0)
    assert s[30] == pytest.approx(1 / (FADE + 1)) and s[30 + FADE] == 1.0 > s[29 + FADE]  # fades back in
    assert s[49] == 1.0 and s[50] == 1.0  # a cut: full strength on both sides
    brief = np.where(flags & TOO_BRIEF)[0]
    assert brief.tolist() == []  # every run here is long enough
    flags2 = np.zeros(n, np.uint8)
    flags2[: n - 3] |= ABSENT  # only 3 frames at the end: too brief to swap without a flash
    s2 = fade_strength(flags2, np.zeros(n, np.int32))
    assert np.all(flags2[n - 3 :] & TOO_BRIEF) and np.all(s2 == 0)
