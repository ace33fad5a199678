"""Benchmark: a visitor's 15 s video against a plain decode + re-encode of the same film.

    python bench/film.py [--height 720|1080] [--workdir DIR] [--device cpu|cuda]

Film: bench/film_composite.py (real clips, 15 s; ingested once, not timed here: see bench/ingest.py).
Visitor: obama_official_portrait.jpg from ../shared/media/photos (asset built once, timed separately).
Measured in one run, same encoder settings (libx264 veryfast, CRF + VBV cap at 5 MB, Main, faststart,
the film's AAC copied):

* (a) baseline: decode + re-encode of the film (`swap.film.io.reencode`): the physical floor on CPU;
* (b) `render_film`: decode, render the face into every covered frame, encode.

Printed: both wall times, the ratio b/a (target <= 1.5), render-only frames/s (time inside
FaceRenderer.render), output size, and the peak RSS of (b) measured in a fresh child process. With CUDA,
the render-only seconds are GPU-seconds per video (the seed's cluster spent ~150; aim < 3).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.film_composite import build  # noqa: E402

VISITOR = ROOT.parent / "shared" / "media" / "photos" / "obama_official_portrait.jpg"


def _asset():  # type: ignore[no-untyped-def]
    from swap.analysis import analyze_photo
    from swap.asset import build_face_asset

    return build_face_asset(analyze_photo(VISITOR.read_bytes()))


def _render(film: Path, out: Path, device: str | None, queue: mp.Queue) -> None:  # type: ignore[type-arg]
    """(b) in a child process: peak RSS is then the render's own."""
    import swap.render as sr
    from swap.film.render import render_film

    asset = _asset()
    render_s = [0.0]
    original = sr.FaceRenderer.render

    def timed(self, frames, targets):  # type: ignore[no-untyped-def]
        t = time.perf_counter()
        out_ = original(self, frames, targets)
        if self.device.type == "cuda":
            import torch

            torch.cuda.synchronize()
        render_s[0] += time.perf_counter() - t
        return out_

    sr.FaceRenderer.render = timed  # type: ignore[method-assign]
    t0 = time.perf_counter()
    result = render_film(asset, film, None, out, device=device)
    wall = time.perf_counter() - t0
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put((wall, render_s[0], result.size_bytes, result.frames, rss_mb))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--height", type=int, default=720)
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "protagonist-bench")
    ap.add_argument("--device", default=None)
    a = ap.parse_args()
    a.workdir.mkdir(parents=True, exist_ok=True)
    film = build(a.workdir / f"composite_{a.height}p.mp4", a.height)

    from swap.film import io
    from swap.film.ingest import ingest_film
    from swap.film.track import FilmTrack, track_path

    if not track_path(film).exists():
        print("ingesting the film once (not timed; see bench/ingest.py) ...", file=sys.stderr)
        ingest_film(film)
    track = FilmTrack.for_film(film)
    info = io.probe(film)

    t0 = time.perf_counter()
    size_a = io.reencode(film, a.workdir / "baseline.mp4")
    base = time.perf_counter() - t0

    t0 = time.perf_counter()
    _asset()
    asset_s = time.perf_counter() - t0

    ctx = mp.get_context("spawn")
    q: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
    p = ctx.Process(target=_render, args=(film, a.workdir / "render.mp4", a.device, q))
    p.start()
    wall, render_s, size_b, frames, rss_mb = q.get()
    p.join()
    covered = int(track.covered.sum())

    import torch

    device = a.device or ("cuda" if torch.cuda.is_available() else "cpu")
    print(
        f"film: {film.name} {info.width}x{info.height} {info.frames} frames {info.duration_s:.1f} s, "
        f"{covered} frames with the face ({covered / info.frames:.0%}); device {device}"
    )
    print(f"(a) decode + re-encode baseline: {base:.2f} s, {size_a / 1e6:.2f} MB")
    print(f"(b) render_film:                 {wall:.2f} s, {size_b / 1e6:.2f} MB, {frames} frames")
    print(f"ratio b/a: {wall / base:.2f} (target <= 1.5)")
    print(
        f"render only (FaceRenderer.render): {render_s:.2f} s = {covered / max(render_s, 1e-9):.1f} frames/s"
        + (f" = {render_s:.2f} GPU-seconds per video" if device == "cuda" else "")
    )
    print(f"visitor asset (analyse + build, once per visitor, not in b): {asset_s:.2f} s")
    print(f"peak RSS of the render process: {rss_mb:.0f} MB (limit 2048 MB for 1080p)")


if __name__ == "__main__":
    main()
