"""The shape warp's film-only rasters cached beside a film: built by the first render, read by later ones."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest

from swap.film import io, warpcache
from swap.film.render import render_film
from swap.film.track import FilmTrack
from swap.shape import FILM_FIELD_PX, FilmShape, FilmWarp, WarpRaster


def _copy(clip: Path, tmp_path: Path) -> Path:
    film = tmp_path / clip.name
    shutil.copy(clip, film)
    return film


def _mean_shape(visitor_asset, track: FilmTrack) -> np.ndarray:
    frames = [track.landmarks(int(i)) for i in np.flatnonzero(track.covered)]
    return FilmShape(visitor_asset.shape, frames).mean


def test_a_raster_reads_back_as_written_and_unwritten_frames_read_none(tmp_path: Path) -> None:
    g = FILM_FIELD_PX
    rng = np.random.default_rng(0)
    raster = WarpRaster(
        (10, 20, 110, 140),
        rng.integers(-1, 1000, (g, g)).astype(np.int16),
        rng.integers(0, 65536, (g, g, 2)).astype(np.uint16),
    )
    path = tmp_path / "film.warp"
    triangles = np.array([[0, 1, 2], [2, 1, 3]])
    writer = warpcache.WarpWriter.open(path, b"k" * 20, 5, triangles)
    assert writer is not None
    writer.put(3, raster)
    writer.commit()
    assert (path.stat().st_mode & 0o777) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["film.warp"]
    reader = warpcache.WarpReader.open(path, b"k" * 20, 5)
    assert reader is not None and np.array_equal(reader.triangles, triangles)
    got = reader.get(3)
    assert got is not None and got.box == raster.box
    assert np.array_equal(got.triangle, raster.triangle) and np.array_equal(got.bary, raster.bary)
    assert reader.get(2) is None and reader.get(7) is None
    reader.close()
    assert warpcache.WarpReader.open(path, b"x" * 20, 5) is None  # another key
    assert warpcache.WarpReader.open(path, b"k" * 20, 6) is None  # another frame count


def test_first_render_writes_the_rasters_and_later_renders_only_read_them(
    visitor_asset, speech_clip: Path, speech_track: FilmTrack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    film = _copy(speech_clip, tmp_path)
    first = render_film(visitor_asset, film, speech_track, tmp_path / "a.mp4")
    cache = warpcache.warp_path(film)
    mean = _mean_shape(visitor_asset, speech_track)
    reader = warpcache.WarpReader.open(cache, warpcache.warp_key(speech_track, mean), speech_track.frames)
    assert reader is not None and np.array_equal(reader.triangles, FilmWarp(mean).triangles)
    assert all(reader.get(i) is not None for i in range(speech_track.frames) if speech_track.strength[i] > 0)
    reader.close()

    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("rasters or the triangulation recomputed although cached")

    monkeypatch.setattr(FilmWarp, "rasters", fail)
    monkeypatch.setattr("scipy.spatial.Delaunay", fail)
    second = render_film(visitor_asset, film, speech_track, tmp_path / "b.mp4")
    a = next(f.data for f in io.iter_frames(first.path, "rgb24") if f.index == 30).astype(int)
    b = next(f.data for f in io.iter_frames(second.path, "rgb24") if f.index == 30).astype(int)
    # same pixels into the encoder; x264's threads make the output differ slightly (see test_fields)
    assert np.abs(a - b).mean() < 1.0


def test_rasters_of_another_track_or_a_damaged_file_are_rebuilt(
    visitor_asset, speech_clip: Path, speech_track: FilmTrack, tmp_path: Path
) -> None:
    film = _copy(speech_clip, tmp_path)
    render_film(visitor_asset, film, speech_track, tmp_path / "a.mp4")
    cache = warpcache.warp_path(film)
    key = warpcache.warp_key(speech_track, _mean_shape(visitor_asset, speech_track))
    assert warpcache.WarpReader.open(cache, key, speech_track.frames) is not None
    moved = dataclasses.replace(speech_track, landmarks_q=speech_track.landmarks_q + 16)
    moved_key = warpcache.warp_key(moved, _mean_shape(visitor_asset, moved))
    assert moved_key != key
    assert warpcache.WarpReader.open(cache, moved_key, moved.frames) is None
    render_film(visitor_asset, film, moved, tmp_path / "b.mp4")
    assert warpcache.WarpReader.open(cache, moved_key, moved.frames) is not None
    cache.write_bytes(cache.read_bytes()[:-3])  # truncated
    assert warpcache.WarpReader.open(cache, moved_key, moved.frames) is None
    render_film(visitor_asset, film, moved, tmp_path / "c.mp4")
    assert warpcache.WarpReader.open(cache, moved_key, moved.frames) is not None


def test_a_render_without_the_shape_transfer_writes_no_rasters(
    visitor_asset, speech_clip: Path, speech_track: FilmTrack, tmp_path: Path
) -> None:
    film = _copy(speech_clip, tmp_path)
    render_film(visitor_asset, film, speech_track, tmp_path / "a.mp4", shape_transfer=False)
    assert not warpcache.warp_path(film).exists()
