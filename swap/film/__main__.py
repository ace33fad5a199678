"""Command line: `python -m swap.film ingest film.mp4` and `python -m swap.film render photo.jpg film.mp4 -o out.mp4`."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from swap.errors import PhotoRejected, SwapError


class ProgressBar:
    """A one-line progress bar on stderr (no dependency)."""

    def __init__(self, label: str, width: int = 30) -> None:
        self.label, self.width, self.started = label, width, time.perf_counter()

    def __call__(self, done: int, total: int) -> None:
        frac = done / total if total else 1.0
        bar = "#" * int(frac * self.width)
        elapsed = time.perf_counter() - self.started
        sys.stderr.write(f"\r{self.label} [{bar:<{self.width}}] {done}/{total} frames {elapsed:5.1f}s")
        sys.stderr.flush()
        if done >= total:
            sys.stderr.write("\n")


def _ingest(args: argparse.Namespace) -> int:
    from swap.film.ingest import ingest_film
    from swap.film.track import track_path

    track = ingest_film(
        args.film, progress=None if args.quiet else ProgressBar("ingest"), glasses=args.glasses
    )
    print(json.dumps(track.report, indent=2))
    print(f"track written to {track_path(args.film)}", file=sys.stderr)
    return 0


def _render(args: argparse.Namespace) -> int:
    from swap.asset import build_face_asset
    from swap.film.render import render_film
    from swap.film.track import FilmTrack

    photo = Path(args.photo).read_bytes()
    try:
        from swap.analysis import analyze_photo

        analysis = analyze_photo(photo)
    except PhotoRejected as exc:
        print(f"photo refused ({exc.code}): {exc.message}", file=sys.stderr)
        return 2
    asset = build_face_asset(analysis)
    track = FilmTrack.load(args.track) if args.track else None
    result = render_film(
        asset,
        args.film,
        track,
        args.output,
        None if args.quiet else ProgressBar("render"),
        target_size_bytes=int(args.size_mb * 1_000_000),
        time_budget_s=args.time_budget,
        device=args.device,
        glasses=args.glasses,
    )
    if args.cover:
        Path(args.cover).write_bytes(result.cover_jpeg)
    print(
        f"{result.path}: {result.frames} frames, {result.duration_s:.2f} s, {result.size_bytes / 1e6:.2f} MB",
        file=sys.stderr,
    )
    return 0


def _glasses_option(parser: argparse.ArgumentParser) -> None:
    from swap.film.glasses import DEFAULT_GLASSES, GLASSES_MODES

    parser.add_argument(
        "--glasses",
        choices=GLASSES_MODES,
        default=DEFAULT_GLASSES,
        help="the actor's glasses: removed (the visitor's face over them, default) or kept in front",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m swap.film", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    ing = sub.add_parser("ingest", help="track the protagonist of a film template; writes <film>.track.npz")
    ing.add_argument("film")
    ing.add_argument("-q", "--quiet", action="store_true")
    _glasses_option(ing)
    ren = sub.add_parser("render", help="render a visitor's photo into an ingested film")
    ren.add_argument("photo")
    ren.add_argument("film")
    ren.add_argument("-o", "--output", required=True)
    ren.add_argument("--track", help="track file (default: <film>.track.npz beside the film)")
    ren.add_argument("--cover", help="also write the cover JPEG here")
    ren.add_argument("--size-mb", type=float, default=5.0, help="output size cap in MB (default 5)")
    ren.add_argument("--time-budget", type=float, default=None, help="give up after this many seconds")
    ren.add_argument("--device", default=None, help="torch device (default: cuda when available, else cpu)")
    ren.add_argument("-q", "--quiet", action="store_true")
    _glasses_option(ren)
    args = parser.parse_args(argv)
    try:
        return _ingest(args) if args.command == "ingest" else _render(args)
    except SwapError as exc:
        code = getattr(exc, "code", type(exc).__name__)
        print(f"error ({code}): {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
