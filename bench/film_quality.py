"""Swap quality on real films: pose fidelity, flicker vs the film's own, blink/speech correlation.

    python bench/film_quality.py [--frames 150] [--workdir DIR]

The visitor/film pairs of ../shared/docs/engine-notes.md, first `--frames` frames of each film
(ingested once, cached in the workdir). Metrics: see swap/film/quality.py. Targets: flicker <= 1.2,
eye and mouth correlation >= 0.95 (where the film's own series moves at all: `*_range`).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.media import media_root  # noqa: E402

MEDIA = media_root()
PAIRS = [
    ("obama_official_portrait.jpg", "man_suit_speech.mp4"),
    ("woman_neutral_frown.png", "woman_outdoor_dusk_720p.mp4"),
    ("business_woman.png", "woman_head_turns.mp4"),
    ("einstein_bw_historic.jpg", "man_glasses_vertical_selfie.mp4"),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--frames", type=int, default=150)
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "protagonist-bench")
    a = ap.parse_args()
    a.workdir.mkdir(parents=True, exist_ok=True)

    from swap.analysis import analyze_photo
    from swap.asset import build_face_asset
    from swap.film import io
    from swap.film.ingest import ingest_film
    from swap.film.quality import film_quality
    from swap.film.render import render_film
    from swap.film.track import FilmTrack, track_path

    keys = [
        "pose_error_mean",
        "pose_error_film",
        "flicker_ratio",
        "eye_corr",
        "eye_range",
        "mouth_corr",
        "mouth_range",
        "eye_slope",
        "track_eye_corr",
    ]
    print("visitor -> film | coverage | jitter before/after | " + " | ".join(keys))
    for photo, film in PAIRS:
        clip = a.workdir / f"{Path(film).stem}_{a.frames}.mp4"
        if not clip.exists():
            io.trim(MEDIA / "films" / film, clip, a.frames)
        track = FilmTrack.load(track_path(clip)) if track_path(clip).exists() else ingest_film(clip)
        asset = build_face_asset(analyze_photo((MEDIA / "photos" / photo).read_bytes()))
        out = a.workdir / f"{Path(photo).stem}_in_{Path(film).stem}.mp4"
        render_film(asset, clip, track, out)
        q = film_quality(clip, out, track)
        r = track.report
        print(
            f"{Path(photo).stem} -> {Path(film).stem} | {r['coverage']:.2f} | "
            f"{r['jitter_before']:.4f}/{r['jitter_after']:.4f} | " + " | ".join(f"{q[k]:.3f}" for k in keys),
            flush=True,
        )


if __name__ == "__main__":
    main()
