"""Benchmark: ingest of a 15 s film template (once per film variant) and the size of its track.

    python bench/ingest.py [--height 720|1080] [--workdir DIR]

The film is the composite of real clips from bench/film_composite.py. Printed: ingest wall time, per
frame, as a ratio to a plain decode of the same film (measured in the same run), the track's size on
disk and the ingest report (coverage, jitter before/after smoothing, shot cuts).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.film_composite import build  # noqa: E402
from swap.film import io  # noqa: E402
from swap.film.ingest import ingest_film  # noqa: E402
from swap.film.track import track_path  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--height", type=int, default=720)
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "protagonist-bench")
    a = ap.parse_args()
    a.workdir.mkdir(parents=True, exist_ok=True)
    film = build(a.workdir / f"composite_{a.height}p.mp4", a.height)
    info = io.probe(film)
    t0 = time.perf_counter()
    for _ in io.iter_frames(film, "rgb24"):
        pass
    decode_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    track = ingest_film(film)
    ingest_s = time.perf_counter() - t0
    size = track_path(film).stat().st_size
    print(f"film: {film.name} {info.width}x{info.height} {info.frames} frames {info.duration_s:.1f} s")
    print(f"decode (RGB) baseline: {decode_s:.2f} s")
    print(
        f"ingest: {ingest_s:.2f} s ({1000 * ingest_s / info.frames:.1f} ms/frame), {ingest_s / decode_s:.1f}x decode"
    )
    print(f"track: {size / 1e6:.2f} MB ({size / info.frames / 1e3:.1f} KB/frame)")
    print("report:", json.dumps(track.report))


if __name__ == "__main__":
    main()
