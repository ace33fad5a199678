"""Benchmark: a visitor's 15 s video against a plain decode + re-encode of the same film.

    python bench/film.py [--height 720|1080] [--workdir DIR] [--device cpu|cuda]

Film: bench/film_composite.py (real clips, 15 s; ingested once, not timed here: see bench/ingest.py).
Visitor: obama_official_portrait.jpg from ../shared/media/photos (asset built once, timed separately).
Measured in one run, same encoder settings (libx264 veryfast, CRF + VBV cap at 5 MB, Main, faststart,
the film's AAC copied):

* (a) baseline: decode + re-encode of the film (`swap.film.io.reencode`): the physical floor on CPU;
* (a2) the same with the encoder on its own thread, as `render_film` runs it (decode overlaps encode, so
  this floor is lower than (a); b/a2 is the ratio with the threading advantage taken out);
* (b0) `render_film` with no caches beside the film (both removed first; the ingest writes them, so in
  production this is a film ingested before they existed, or after a cache format change): decode,
  compute the film-only swap fields (swap.film.fields) and the shape warp's rasters
  (swap.film.warpcache) and write them beside the film, composite the face into every covered frame,
  warp it, encode;
* (b) `render_film` for every later visitor: the same with the fields and rasters read from the caches.

(a) and (b) run twice, interleaved (a, b0, b, a, b), and the faster run of each is compared: the machine
is shared, and one run of either can be slowed by other work. Printed: wall times, the ratio b/a (target <= 1.2; b0/a <= 1.5; and (b-), the same later render without the shape transfer), the per-visitor compositing time and
frames/s (time inside `fields.composite_fields`), the time spent computing or reading the fields, output
size, the caches' sizes, the peak RSS of each render (measured in a fresh child process) and the machine's
load average. With CUDA the fields are computed on the GPU; compositing stays on the CPU.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.film_composite import build  # noqa: E402
from bench.media import media_root  # noqa: E402

VISITOR = media_root() / "photos" / "obama_official_portrait.jpg"


def _asset():  # type: ignore[no-untyped-def]
    from swap.analysis import analyze_photo
    from swap.asset import build_face_asset

    return build_face_asset(analyze_photo(VISITOR.read_bytes()))


def _render(film: Path, out: Path, device: str | None, shape: bool, queue: mp.Queue) -> None:  # type: ignore[type-arg]
    """(b) in a child process: peak RSS is then the render's own."""
    from swap.film import fields
    from swap.film.render import render_film

    asset = _asset()
    spent = {"composite": 0.0, "fields": 0.0}

    def timed(name, fn):  # type: ignore[no-untyped-def]
        def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[name] += time.perf_counter() - t

        return wrapper

    fields.composite_fields = timed("composite", fields.composite_fields)  # type: ignore[assignment]
    fields.compute_fields = timed("fields", fields.compute_fields)  # type: ignore[assignment]
    fields.FieldsReader.get = timed("fields", fields.FieldsReader.get)  # type: ignore[method-assign]
    t0 = time.perf_counter()
    c0 = time.process_time()
    result = render_film(asset, film, None, out, device=device, shape_transfer=shape)
    wall = time.perf_counter() - t0
    cpu = time.process_time() - c0
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put((wall, spent["composite"], spent["fields"], result.size_bytes, result.frames, rss_mb, cpu))


def _run_child(
    film: Path, out: Path, device: str | None, shape: bool = True
) -> tuple[float, float, float, int, int, float, float]:
    ctx = mp.get_context("spawn")
    q: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
    p = ctx.Process(target=_render, args=(film, out, device, shape, q))
    p.start()
    res = q.get()
    p.join()
    return res  # type: ignore[no-any-return]


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

    cpu_base: list[float] = []

    def baseline() -> tuple[float, int]:
        t0 = time.perf_counter()
        c0 = time.process_time()
        size = io.reencode(film, a.workdir / "baseline.mp4")
        cpu_base.append(time.process_time() - c0)
        return time.perf_counter() - t0, size

    def threaded_baseline() -> float:
        """(a2) the same with the encoder on its own thread, as render_film runs it: decode overlaps encode."""
        from swap.film.render import _EncoderThread

        t0 = time.perf_counter()
        writer = io.writer_for(info, a.workdir / "baseline2.mp4")
        enc = _EncoderThread(writer)
        batch: list = []  # type: ignore[type-arg]
        for f in io.iter_frames(film, "yuv420p"):
            batch.append(f.data)
            if len(batch) == 16:
                enc.put(batch)
                batch = []
        if batch:
            enc.put(batch)
        enc.finish()
        writer.close()
        return time.perf_counter() - t0

    base_1, size_a = baseline()
    threaded_1 = threaded_baseline()

    t0 = time.perf_counter()
    _asset()
    asset_s = time.perf_counter() - t0

    from swap.film.fields import fields_path
    from swap.film.warpcache import warp_path

    cache, warp_cache = fields_path(film), warp_path(film)
    cache.unlink(missing_ok=True)
    warp_cache.unlink(missing_ok=True)
    first = _run_child(film, a.workdir / "render.mp4", a.device)
    cache_mb = cache.stat().st_size / 1e6 if cache.exists() else 0.0
    warp_mb = warp_cache.stat().st_size / 1e6 if warp_cache.exists() else 0.0
    later_1 = _run_child(film, a.workdir / "render.mp4", a.device)
    # the machine is shared: (a) and (b) twice, interleaved, and the faster of each is compared
    base_2, _ = baseline()
    threaded_2 = threaded_baseline()
    later_2 = _run_child(film, a.workdir / "render.mp4", a.device)
    # before the shape transfer (texture swap only), same run: what the warp costs
    flat = min(
        _run_child(film, a.workdir / "render.mp4", a.device, shape=False),
        _run_child(film, a.workdir / "render.mp4", a.device, shape=False),
    )
    base = min(base_1, base_2)
    threaded = min(threaded_1, threaded_2)
    later = min(later_1, later_2)
    covered = int(track.covered.sum())

    import torch

    device = a.device or ("cuda" if torch.cuda.is_available() else "cpu")
    print(
        f"film: {film.name} {info.width}x{info.height} {info.frames} frames {info.duration_s:.1f} s, "
        f"{covered} frames with the face ({covered / info.frames:.0%}); device {device}"
    )
    print(
        f"(a) decode + re-encode baseline: {base:.2f} s (runs: {base_1:.2f}, {base_2:.2f}), {size_a / 1e6:.2f} MB"
    )
    print(
        f"(a2) the same, encoder on its own thread like render_film: {threaded:.2f} s "
        f"(runs: {threaded_1:.2f}, {threaded_2:.2f}); later renders / a2: {later[0] / threaded:.2f}"
    )
    print(f"(b) later-visitor renders: {later_1[0]:.2f}, {later_2[0]:.2f} s (the faster is used below)")
    for name, (wall, comp_s, fields_s, size_b, frames, rss_mb, _cpu) in (
        ("(b) render_film, later visitors (film fields cached)", later),
        ("(b0) render_film, first visitor (fields computed + cached)", first),
    ):
        print(f"{name}: {wall:.2f} s, {size_b / 1e6:.2f} MB, {frames} frames, ratio b/a {wall / base:.2f}")
        print(
            f"    per-visitor compositing {comp_s:.2f} s = {covered / max(comp_s, 1e-9):.0f} frames/s; "
            f"film fields {'computed' if name.startswith('(b0)') else 'read'} in {fields_s:.2f} s"
            f"; peak RSS {rss_mb:.0f} MB (limit 2048 MB for 1080p)"
        )
    print(
        f"(b-) later visitors without the shape transfer (texture only, as before): {flat[0]:.2f} s, "
        f"ratio {flat[0] / base:.2f}; peak RSS {flat[5]:.0f} MB"
    )
    print(
        f"ratio b/a: {later[0] / base:.2f} (target <= 1.2; without shape {flat[0] / base:.2f}); "
        f"first render {first[0] / base:.2f} (target <= 1.5)"
    )
    print(
        f"film fields cache: {cache.name} {cache_mb:.0f} MB ({cache_mb * 1e3 / max(covered, 1):.0f} KB per covered frame); "
        f"shape-warp rasters: {warp_cache.name} {warp_mb:.1f} MB"
    )
    cpu_a = min(cpu_base)
    print(
        f"CPU time (all threads; steadier than wall time on a loaded machine): baseline {cpu_a:.2f} s, "
        f"later visitor {later[6]:.2f} s (ratio {later[6] / cpu_a:.2f}), without the shape transfer "
        f"{flat[6]:.2f} s ({flat[6] / cpu_a:.2f}), first visitor {first[6]:.2f} s ({first[6] / cpu_a:.2f})"
    )
    print(f"visitor asset (analyse + build, once per visitor, not in b): {asset_s:.2f} s")
    load = os.getloadavg()
    print(f"machine load average (1/5/15 min) at the end: {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}")


if __name__ == "__main__":
    main()
