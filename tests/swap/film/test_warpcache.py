"""The shape warp's film-only rasters cached beside a film: built by the first render, read by later ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from swap.film import fields, warpcache
from swap.film.render import render_film
from swap.film.track import FilmTrack
from swap.shape import FILM_FIELD_PX, FilmShape, FilmWarp, WarpRaster


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


def test_a_render_without_the_shape_transfer_writes_no_rasters(
    visitor_asset, speech_film: Path, speech_track: FilmTrack, tmp_path: Path
) -> None:
    film = speech_film
    render_film(visitor_asset, film, speech_track, tmp_path / "a.mp4", shape_transfer=False)
    assert not warpcache.warp_path(film).exists()


def test_ingest_caches_rasters_so_even_the_first_visitors_render_computes_no_film_work(
    visitor_asset, speech_film: Path, speech_track: FilmTrack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert speech_track.report["warp_bytes"] > 100_000  # the ingest wrote its rasters
    # what the ingest leaves beside a film, on a private copy (other tests render the shared clip
    # with edited tracks, which rebuilds its caches under other keys)
    assert fields.build_fields(speech_film, speech_track) is not None
    path = warpcache.build_warp(speech_film, speech_track)
    assert (
        path == warpcache.warp_path(speech_film) and path.stat().st_size == speech_track.report["warp_bytes"]
    )
    frames = [speech_track.landmarks(int(i)) for i in np.flatnonzero(speech_track.covered)]
    mean = FilmShape(visitor_asset.shape, frames).mean  # a visitor's render keys the cache by this
    reader = warpcache.WarpReader.open(path, warpcache.warp_key(speech_track, mean), speech_track.frames)
    assert reader is not None
    assert all(reader.get(i) is not None for i in range(speech_track.frames) if speech_track.strength[i] > 0)
    reader.close()

    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("film-only work recomputed although the ingest cached it")

    monkeypatch.setattr(fields, "compute_fields", fail)
    monkeypatch.setattr(FilmWarp, "rasters", fail)
    result = render_film(visitor_asset, speech_film, speech_track, tmp_path / "first.mp4")
    assert result.frames == speech_track.frames
