"""The film-only half of the shape warp, cached beside the film (`<film>.warp`).

A frame's shape warp (`swap.shape.FilmWarp`) rasterises the film's fixed triangulation of landmarks
and rings onto a grid over the frame's box; the visitor only enters through the per-vertex offsets,
in which the field is linear. So the raster (`WarpRaster`: per grid node the triangle and two
barycentric weights, plus the box) is the same for every visitor of a film: the first render computes
it and writes it here, later renders only read it and gather the visitor's offsets (~1 ms of CPU per
frame less at 720p; measured in bench/film.py, see swap/README.md).

Per warped frame a record is `FILM_FIELD_PX`^2 x 6 bytes (24 KB): triangle int16, weights uint16 x 2.
File layout as `swap.film.fields` (one file, written once, replaced atomically; a stale or foreign
file is rebuilt): ``MAGIC | version u32 | key (20 bytes sha1) | triangle count u32 | triangles
(T x 3 int16) | records ... | index (n x 6 int64) | index offset u64 | frame count u32 | MAGIC``.
The key hashes the track's content, the film's mean shape (`FilmShape.mean`, which fixes the
triangulation) and the warp's constants; the triangulation is stored so that a later render needs no
Delaunay (nor scipy.spatial's import, ~55 ms) and always uses the triangles its rasters index. Kept
apart from the fields file so that either can change its format without rebuilding the other.
"""

from __future__ import annotations

import hashlib
import os
import struct
import tempfile
from pathlib import Path
from typing import IO, Any

import numpy as np
import numpy.typing as npt

from swap.film.fields import _remove_abandoned
from swap.film.track import FilmTrack
from swap.shape import FILM_FIELD_PX, RING_REACH, RING_WEIGHTS, WarpRaster

FORMAT_VERSION = 1  # bump when `FilmWarp.rasters` changes what it stores: old caches are then rebuilt
SUFFIX = ".warp"
MAGIC = b"PGFW"
_HEAD = struct.Struct("<4sI20sI")
_TAIL = struct.Struct("<QI4s")
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
    """Random access to a warp cache whose key matches: the film's `triangles`, and `get(i)` reads one
    frame's raster."""

    def __init__(
        self, path: Path, fh: IO[bytes], triangles: npt.NDArray[np.int64], index: npt.NDArray[np.int64]
    ) -> None:
        self.path = path
        self.triangles = triangles
        self._fh = fh
        self._index = index

    @classmethod
    def open(cls, path: Path, key: bytes, frames: int) -> WarpReader | None:
        """The reader, or None when the file is missing, damaged, of another version or stale."""
        try:
            fh = open(path, "rb")  # noqa: SIM115 (kept open for the render; closed by close())
        except OSError:
            return None
        try:
            magic, version, file_key, n_tri = _HEAD.unpack(fh.read(_HEAD.size))
            triangles = np.frombuffer(fh.read(6 * n_tri), "<i2").reshape(n_tri, 3).astype(np.int64)
            fh.seek(-_TAIL.size, os.SEEK_END)
            at, n, end = _TAIL.unpack(fh.read(_TAIL.size))
            if (magic, end, version, file_key, n) != (MAGIC, MAGIC, FORMAT_VERSION, key, frames):
                fh.close()
                return None
            fh.seek(at)
            index = np.frombuffer(fh.read(n * _INDEX_COLS * 8), np.int64).reshape(n, _INDEX_COLS)
        except (OSError, struct.error, ValueError):
            fh.close()
            return None
        return cls(path, fh, triangles, index)

    def get(self, i: int) -> WarpRaster | None:
        """Frame `i`'s raster; None where the first render did not warp that frame."""
        if i >= len(self._index):
            return None
        at, x0, y0, x1, y1, _ = (int(v) for v in self._index[i])
        if at == 0:
            return None
        self._fh.seek(at)
        return _decode((x0, y0, x1, y1), self._fh.read(_RECORD_BYTES))

    def close(self) -> None:
        self._fh.close()


class WarpWriter:
    """Writes a film's rasters frame by frame (during its first render); `commit()` publishes the file.

    Written to a temporary file in the same directory and renamed over `path` (as `FieldsWriter`), so
    concurrent renders of one film never read half a file; an unwritable directory means no cache.
    """

    def __init__(self, path: Path, fh: IO[bytes], tmp: Path, frames: int) -> None:
        self.path = path
        self._fh = fh
        self._tmp = tmp
        self._index = np.zeros((frames, _INDEX_COLS), np.int64)

    @classmethod
    def open(
        cls, path: Path, key: bytes, frames: int, triangles: npt.NDArray[np.integer[Any]]
    ) -> WarpWriter | None:
        """A writer for the rasters of a film triangulated into `triangles` (T, 3); None where the
        directory cannot be written."""
        _remove_abandoned(path)
        try:
            fd, name = tempfile.mkstemp(prefix=path.name + ".", suffix=".part", dir=path.parent)
        except OSError:
            return None
        fh = os.fdopen(fd, "wb")
        fh.write(_HEAD.pack(MAGIC, FORMAT_VERSION, key, len(triangles)))
        fh.write(np.asarray(triangles).astype("<i2").tobytes())
        return cls(path, fh, Path(name), frames)

    def put(self, i: int, raster: WarpRaster) -> None:
        if i >= len(self._index):
            return
        self._index[i] = (self._fh.tell(), *raster.box, 0)
        self._fh.write(_encode(raster))

    def commit(self) -> None:
        at = self._fh.tell()
        self._fh.write(self._index.tobytes())
        self._fh.write(_TAIL.pack(at, len(self._index), MAGIC))
        self._fh.close()
        os.chmod(self._tmp, 0o644)  # mkstemp makes it 0600; the film's other files are readable
        os.replace(self._tmp, self.path)

    def abort(self) -> None:
        self._fh.close()
        self._tmp.unlink(missing_ok=True)
