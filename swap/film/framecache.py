"""One file of per-frame records beside a film, written once by a render and read by every later one.

The film-only caches (`swap.film.fields`: the swap fields; `swap.film.warpcache`: the shape warp's
rasters) share this container, so its guarantees are written once:

* Layout: ``magic (4) | version u32 | key (20 bytes) | header length u32 | header | records ... |
  index (frames x cols int64) | index offset u64 | frame count u32 | magic``. An index row is the
  record's offset (0: no record for that frame) and `cols - 1` integers of the cache's own (a box,
  a size).
* A reader opens only a complete file of its magic, version, key and frame count; anything else
  (missing, truncated, foreign, stale) reads as no cache, and the render rebuilds it.
* A writer writes to a temporary file in the same directory and renames it over the path on
  `commit()`, so concurrent renders of a film never read half a file; a directory that cannot be
  written means no cache; temporary files of killed renders are removed after `ABANDONED_S`.
"""

from __future__ import annotations

import os
import struct
import tempfile
import time
from pathlib import Path
from typing import IO

import numpy as np
import numpy.typing as npt

ABANDONED_S = 3600.0  # a temporary cache file this old belongs to a render that was killed
_HEAD = struct.Struct("<4sI20sI")
_TAIL = struct.Struct("<QI4s")


class FrameFileReader:
    """Random access to a complete frame file: `header`, `row(i)` (the cache's integers of frame `i`,
    None without a record) and `record(i, nbytes)`."""

    def __init__(self, path: Path, fh: IO[bytes], header: bytes, index: npt.NDArray[np.int64]) -> None:
        self.path = path
        self.header = header
        self._fh = fh
        self._index = index

    @classmethod
    def open(
        cls, path: Path, *, magic: bytes, version: int, key: bytes, frames: int, cols: int
    ) -> FrameFileReader | None:
        """The reader, or None when the file is missing, damaged, of another kind or version, or stale."""
        try:
            fh = open(path, "rb")  # noqa: SIM115 (kept open for the render; closed by close())
        except OSError:
            return None
        try:
            file_magic, file_version, file_key, header_len = _HEAD.unpack(fh.read(_HEAD.size))
            header = fh.read(header_len)
            fh.seek(-_TAIL.size, os.SEEK_END)
            at, n, end = _TAIL.unpack(fh.read(_TAIL.size))
            if (file_magic, end, file_version, file_key, n) != (magic, magic, version, key, frames):
                fh.close()
                return None
            fh.seek(at)
            index = np.frombuffer(fh.read(n * cols * 8), np.int64).reshape(n, cols)
        except (OSError, struct.error, ValueError):
            fh.close()
            return None
        return cls(path, fh, header, index)

    def row(self, i: int) -> tuple[int, ...] | None:
        if i >= len(self._index) or int(self._index[i, 0]) == 0:
            return None
        return tuple(int(v) for v in self._index[i, 1:])

    def record(self, i: int, nbytes: int) -> bytes:
        self._fh.seek(int(self._index[i, 0]))
        return self._fh.read(nbytes)

    def close(self) -> None:
        self._fh.close()


def _remove_abandoned(path: Path) -> None:
    """Delete temporary files of renders that died while writing (SIGKILL leaves no chance to clean up)."""
    try:
        for part in path.parent.glob(path.name + ".*.part"):
            if time.time() - part.stat().st_mtime > ABANDONED_S:
                part.unlink(missing_ok=True)
    except OSError:
        pass


class FrameFileWriter:
    """Writes a frame file record by record (during a film's first render); `commit()` publishes it."""

    def __init__(self, path: Path, fh: IO[bytes], tmp: Path, magic: bytes, frames: int, cols: int) -> None:
        self.path = path
        self._fh = fh
        self._tmp = tmp
        self._magic = magic
        self._index = np.zeros((frames, cols), np.int64)

    @classmethod
    def open(
        cls,
        path: Path,
        *,
        magic: bytes,
        version: int,
        key: bytes,
        frames: int,
        cols: int,
        header: bytes = b"",
    ) -> FrameFileWriter | None:
        """A writer, or None where the directory cannot be written."""
        _remove_abandoned(path)
        try:
            fd, name = tempfile.mkstemp(prefix=path.name + ".", suffix=".part", dir=path.parent)
        except OSError:
            return None
        fh = os.fdopen(fd, "wb")
        fh.write(_HEAD.pack(magic, version, key, len(header)))
        fh.write(header)
        return cls(path, fh, Path(name), magic, frames, cols)

    def put(self, i: int, row: tuple[int, ...], data: bytes) -> None:
        """Frame `i`'s record and its integers (cols - 1 of them); frames past the end are ignored."""
        if i >= len(self._index):
            return
        self._index[i] = (self._fh.tell(), *row)
        self._fh.write(data)

    def commit(self) -> None:
        at = self._fh.tell()
        self._fh.write(self._index.tobytes())
        self._fh.write(_TAIL.pack(at, len(self._index), self._magic))
        self._fh.close()
        os.chmod(self._tmp, 0o644)  # mkstemp makes it 0600; the film's other files are readable
        os.replace(self._tmp, self.path)

    def abort(self) -> None:
        self._fh.close()
        self._tmp.unlink(missing_ok=True)
