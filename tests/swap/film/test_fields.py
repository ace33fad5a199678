"""The film-only fields cached beside a film: same swap as FaceRenderer, built once, rebuilt when stale."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from swap.film import fields, io
from swap.film.render import render_film
from swap.film.track import FilmTrack


def test_fields_swap_matches_the_face_renderer(
    visitor_asset, speech_clip: Path, speech_track: FilmTrack
) -> None:
    from swap.render import FaceRenderer
    from swap.shading import visitor_detail

    frames = [f.data for f in io.iter_frames(speech_clip, "yuv420p") if f.index in (10, 50)]
    rgb = np.stack([io.yuv_to_rgb(f) for f in frames])
    # the fields composite the texture swap; the shape warp follows it in render_film
    expected = FaceRenderer(visitor_asset, shape_transfer=False).render(
        rgb, [speech_track.target(10), speech_track.target(50)]
    )
    texture = visitor_detail(visitor_asset.albedo, visitor_asset.low)
    for k, ff in enumerate(fields.compute_fields(speech_track, [10, 50])):
        assert ff is not None
        yuv = frames[k].copy()
        fields.composite_fields(yuv, ff, texture)
        got = io.yuv_to_rgb(yuv).astype(int)
        swapped = np.abs(expected[k].astype(int) - rgb[k]).sum(axis=2) > 30
        assert swapped.sum() > 10_000  # the face was swapped by the reference renderer
        diff = np.abs(got - expected[k].astype(int)).mean(axis=2)
        # same swap up to field resolution (silhouette pixels) and one more chroma round trip
        # (measured 0.9 / 6.3 levels on these frames)
        assert diff[swapped].mean() < 1.5 and np.percentile(diff[swapped], 99) < 12
        x0, y0, x1, y1 = ff.box
        outside = np.ones(rgb[k].shape[:2], bool)
        outside[y0:y1, x0:x1] = False
        assert np.array_equal(yuv[:700][outside], frames[k][:700][outside])  # luma bytes untouched


def test_a_fast_moving_face_is_blurred_along_its_motion_like_the_frame(
    visitor_asset, speech_clip: Path, speech_track: FilmTrack
) -> None:
    from swap.shading import visitor_detail

    frame = next(f.data for f in io.iter_frames(speech_clip, "yuv420p") if f.index == 50)
    ff = fields.compute_fields(speech_track, [50])[0]
    assert ff is not None
    texture = visitor_detail(visitor_asset.albedo, visitor_asset.low)
    sharp, across, down, slow = (frame.copy() for _ in range(4))
    fields.composite_fields(sharp, ff, texture)
    fields.composite_fields(across, ff, texture, motion=(16.0, 0.0))  # 16 px per frame to the right
    fields.composite_fields(down, ff, texture, motion=(0.0, 16.0))  # ... and downwards
    fields.composite_fields(slow, ff, texture, motion=(1.0, 0.5))  # under the blur threshold
    x0, y0, x1, y1 = ff.box
    energy = lambda y, axis: float(np.abs(np.diff(y[y0:y1, x0:x1].astype(float), axis=axis)).mean())  # noqa: E731
    assert energy(across, 1) < 0.8 * energy(sharp, 1)  # blurred (measured 0.71)
    # each direction of motion smooths its own direction most
    assert energy(across, 1) < 0.95 * energy(down, 1) and energy(down, 0) < 0.95 * energy(across, 0)
    assert np.array_equal(slow, sharp)
    assert fields.motion_kernel(None) is None and fields.motion_kernel((2.0, 0.0)) is None


@pytest.mark.parametrize("mode", ["pyramid", "alpha"])
@pytest.mark.parametrize("shape", [(272, 320), (450, 400), (37, 53)])
def test_crop_blend_equals_the_engines_blend(mode: str, shape: tuple[int, int]) -> None:
    import cv2

    from swap.blend import blend_crops

    rng = np.random.default_rng(1)
    a = rng.random((*shape, 3), dtype=np.float32)
    b = rng.random((*shape, 3), dtype=np.float32)
    m = cv2.GaussianBlur((rng.random(shape) > 0.5).astype(np.float32), (0, 0), 5)

    def t(x: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1))).unsqueeze(0)

    ref = blend_crops(t(a), t(b), t(m[..., None]), mode)[0].permute(1, 2, 0).numpy()  # type: ignore[arg-type]
    got = np.clip(a + fields.blend_delta(b - a, m, mode), 0, 1)
    assert np.abs(ref - got).max() < 1e-5


def test_render_without_a_writable_film_directory_works_without_the_cache(
    visitor_asset, speech_film: Path, speech_track: FilmTrack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    film = speech_film

    def read_only(*args: object, **kwargs: object) -> None:
        raise PermissionError("read-only film directory")

    from swap.film import framecache

    monkeypatch.setattr(framecache.tempfile, "mkstemp", read_only)
    result = render_film(visitor_asset, film, speech_track, tmp_path / "out.mp4")
    assert result.frames == 90 and not fields.fields_path(film).exists()


def test_failed_render_leaves_no_half_written_fields(
    visitor_asset, speech_film: Path, speech_track: FilmTrack, tmp_path: Path
) -> None:
    from swap.film.render import RenderTimeout

    film = speech_film
    with pytest.raises(RenderTimeout):
        render_film(visitor_asset, film, speech_track, tmp_path / "out.mp4", time_budget_s=1e-3)
    assert sorted(p.name for p in tmp_path.iterdir()) == [film.name]


def test_temporary_files_of_killed_renders_are_removed_after_an_hour(tmp_path: Path) -> None:
    import os
    import time

    from swap.film.framecache import ABANDONED_S

    cache = tmp_path / "film.fields"
    old, fresh = tmp_path / "film.fields.abc.part", tmp_path / "film.fields.def.part"
    old.write_bytes(b"x")
    fresh.write_bytes(b"x")
    os.utime(old, (time.time() - 2 * ABANDONED_S,) * 2)
    writer = fields.FieldsWriter.open(cache, b"k" * 20, 3)
    assert writer is not None
    writer.abort()
    assert not old.exists() and fresh.exists()


def test_ingest_leaves_fields_that_renders_of_the_saved_track_read(
    speech_clip: Path, speech_track: FilmTrack
) -> None:
    saved = FilmTrack.for_film(speech_clip)
    reader = fields.FieldsReader.open(fields.fields_path(speech_clip), fields.fields_key(saved), saved.frames)
    assert (
        reader is not None
        and speech_track.report["fields_bytes"] == fields.fields_path(speech_clip).stat().st_size
    )
    assert all(reader.get(i) is not None for i in range(saved.frames) if saved.covered[i])
    reader.close()
