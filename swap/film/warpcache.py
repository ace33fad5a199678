"""The film-only half of the shape warp, cached beside the film (`<film>.warp`).

A frame's shape warp (`swap.shape.FilmWarp`) rasterises the film's fixed triangulation of landmarks
and rings onto a grid over the frame's box; the visitor only enters through the per-vertex offsets,
in which the field is linear. So the raster (`WarpRaster`: per grid node the triangle and two
barycentric weights, plus the box) is the same for every visitor of a film: the first render computes
it and writes it here, later renders only read it and gather the visitor's offsets (~1 ms of CPU per
frame less at 720p; measured in bench/film.py, see swap/README.md).

Per warped frame a record is `FILM_FIELD_PX`^2 x 6 bytes (24 KB): triangle int16, weights uint16 x 2.
File layout: `swap.film.framecache`'s container, as the fields cache (one file, written once,
replaced atomically; a stale or foreign file is rebuilt), magic ``PGFW``, the film's triangles
(T x 3 int16) as its header, an index row per frame: the record's offset and the frame's box.
The key hashes the track's content, the film's mean shape (`FilmShape.mean`, which fixes the
triangulation) and the warp's constants; the triangulation is stored so that a later render needs no
Delaunay (nor scipy.spatial's import, ~55 ms) and always uses the triangles its rasters index. Kept
apart from the fields file so that either can change its format without rebuilding the other.

The ingest writes it (`build_warp`, beside the fields), so in production no visitor's render pays
for the rasters; a render that finds it missing or stale builds it as before.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from swap.film.framecache import FrameFileReader, FrameFileWriter
from swap.film.track import FilmTrack
from swap.shape import (
    FILM_FIELD_PX,
    RING_REACH,
    RING_WEIGHTS,
    FilmShape,
    FilmWarp,
    WarpRaster,
    even_warp_box,
)

FORMAT_VERSION = 2  # 2: the framecache container; bump when `FilmWarp.rasters` changes what it stores: old caches are then rebuilt
SUFFIX = ".warp"
MAGIC = b"PGFW"
_INDEX_COLS = 6  # offset, x0, y0, x1, y1, reserved
_NODES = FILM_FIELD_PX * FILM_FIELD_PX
_RECORD_BYTES = 6 * _NODES


def warp_path(film_path: Path | str) -> Path:
    """`film.mp4` -> `film.warp` beside it."""
    p = Path(film_path)
    return p.with_name(p.stem + SUFFIX)


def warp_key(track: FilmTrack, reference: npt.NDArray[np.float32]) -> bytes:
    """sha1 of the track's content, the film's mean shape `reference` and the warp's constants."""
    h = hashlib.sha1()
    consts = (
        FORMAT_VERSION,
        FILM_FIELD_PX,
        RING_REACH,
        RING_WEIGHTS,
        track.width,
        track.height,
        track.frames,
    )
    h.update(repr(consts).encode())
    for arr in (track.flags, track.landmarks_q, track.strength, np.asarray(reference, np.float32)):
        a = np.ascontiguousarray(arr)
        h.update(f"{a.dtype}{a.shape}".encode())
        h.update(a.tobytes())
    return h.digest()


def _encode(raster: WarpRaster) -> bytes:
    return raster.triangle.astype("<i2").tobytes() + raster.bary.astype("<u2").tobytes()


def _decode(box: tuple[int, int, int, int], data: bytes) -> WarpRaster:
    g = FILM_FIELD_PX
    triangle = np.frombuffer(data, "<i2", _NODES, 0).reshape(g, g).astype(np.int16)
    bary = np.frombuffer(data, "<u2", 2 * _NODES, 2 * _NODES).reshape(g, g, 2).astype(np.uint16)
    return WarpRaster(box, triangle, bary)


class WarpReader:
    """Random access to a warp cache whose key matches (`swap.film.framecache`): the film's
    `triangles`, and `get(i)` reads one frame's raster."""

    def __init__(self, frames: FrameFileReader, triangles: npt.NDArray[np.int64]) -> None:
        self.path = frames.path
        self.triangles = triangles
        self._frames = frames

    @classmethod
    def open(cls, path: Path, key: bytes, frames: int) -> WarpReader | None:
        """The reader, or None when the file is missing, damaged, of another version or stale."""
        opened = FrameFileReader.open(
            path, magic=MAGIC, version=FORMAT_VERSION, key=key, frames=frames, cols=_INDEX_COLS
        )
        if opened is None:
            return None
        if len(opened.header) % 6:
            opened.close()
            return None
        triangles = np.frombuffer(opened.header, "<i2").reshape(-1, 3).astype(np.int64)
        return cls(opened, triangles)

    def get(self, i: int) -> WarpRaster | None:
        """Frame `i`'s raster; None where the first render did not warp that frame."""
        row = self._frames.row(i)
        if row is None:
            return None
        x0, y0, x1, y1, _ = row
        return _decode((x0, y0, x1, y1), self._frames.record(i, _RECORD_BYTES))

    def close(self) -> None:
        self._frames.close()


class WarpWriter:
    """Writes a film's rasters frame by frame (during its first render); `commit()` publishes the file
    atomically (`swap.film.framecache`, as the fields cache); an unwritable directory means no cache."""

    def __init__(self, frames: FrameFileWriter) -> None:
        self.path = frames.path
        self._frames = frames

    @classmethod
    def open(
        cls, path: Path, key: bytes, frames: int, triangles: npt.NDArray[np.integer[Any]]
    ) -> WarpWriter | None:
        """A writer for the rasters of a film triangulated into `triangles` (T, 3); None where the
        directory cannot be written."""
        opened = FrameFileWriter.open(
            path,
            magic=MAGIC,
            version=FORMAT_VERSION,
            key=key,
            frames=frames,
            cols=_INDEX_COLS,
            header=np.asarray(triangles).astype("<i2").tobytes(),
        )
        return None if opened is None else cls(opened)

    def put(self, i: int, raster: WarpRaster) -> None:
        self._frames.put(i, (*raster.box, 0), _encode(raster))

    def commit(self) -> None:
        self._frames.commit()

    def abort(self) -> None:
        self._frames.abort()


def warped_frames(
    track: FilmTrack, indices: list[int]
) -> list[tuple[int, npt.NDArray[np.float32], tuple[int, int, int, int]]]:
    """(index, landmarks, box) of the frames among `indices` that the shape warp moves: not faded out,
    with a face box of at least 8 px (the rest are left alone and get no raster); the same choice a
    first render makes (`swap.film.render._WarpSource.batch`)."""
    out = []
    for i in indices:
        if float(track.strength[i]) <= 0.0:
            continue
        points = track.landmarks(i)
        box = even_warp_box(points, track.width, track.height)
        if box[2] - box[0] >= 8 and box[3] - box[1] >= 8:
            out.append((i, points, box))
    return out


def film_mean_shape(track: FilmTrack) -> npt.NDArray[np.float32] | None:
    """The actor's mean shape over the covered frames, as a render's `FilmShape.mean` keys the cache
    (None: no face).

    The mean depends on the film's frames only; `FilmShape` wants a visitor's shape too, so the
    first frame stands in for one (only its identity offsets, unused here, depend on it)."""
    frames = [track.landmarks(int(i)) for i in np.flatnonzero(track.covered)]
    return FilmShape(frames[0], frames).mean if frames else None


def build_warp(film_path: Path | str, track: FilmTrack, batch: int = 16) -> Path | None:
    """Compute and cache the rasters of every warped frame beside the film (ingest calls this, so even
    the first visitor's render only reads them). Returns the file, or None when the film has no face
    or the directory is not writable (renders then rasterise themselves)."""
    import torch

    mean = film_mean_shape(track)
    if mean is None:
        return None
    warp = FilmWarp(mean)
    writer = WarpWriter.open(warp_path(film_path), warp_key(track, mean), track.frames, warp.triangles)
    if writer is None:
        return None
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # small rasters: one thread is faster than two that wait for each other
    try:
        todo = warped_frames(track, [int(i) for i in np.flatnonzero(track.covered)])
        for start in range(0, len(todo), batch):
            chunk = todo[start : start + batch]
            rasters = warp.rasters([t[1] for t in chunk], [t[2] for t in chunk])
            for (i, _, _), raster in zip(chunk, rasters, strict=True):
                writer.put(i, raster)
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    finally:
        torch.set_num_threads(before)
    return writer.path
