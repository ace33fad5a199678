"""Benchmark: five 1080x1920 posters from one visitor photo, against merely decoding and re-encoding them.

    python bench/posters.py [--threads N] [--repeat R] [--photo PATH]

Templates: scikit-image's astronaut plus four photos from ../shared/media/photos (when present),
cropped to 9:16 around the face and scaled to 1080x1920, each with an RGBA title overlay. Template
preparation (once per campaign) is not timed. Timed, best of `--repeat` runs, in one process:

* baseline: decode the five template JPEGs and encode each as JPEG + WebP with the poster settings;
* render: `render_poster` x 5 for one visitor (swap, overlay, label, JPEG + WebP); templates are
  decoded and composed once per process (in the warm-up), as in a worker;
* job: analyse the photo + build the face asset + the five renders (what a visitor waits for).

Printed: each time and the ratios render/baseline and job/baseline, and the job without the WebP
(the worker stores and serves only the JPEG). Target: that job < 1 s on one core.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.media import media_root  # noqa: E402

MEDIA = media_root() / "photos"
TEMPLATE_PHOTOS = [
    "woman_neutral_frown.png",
    "business_woman.png",
    "man_curly_hair_glasses.jpg",
    "teen_girl_black_fairface.jpg",
]
VISITOR_PHOTO = MEDIA / "obama_official_portrait.jpg"


def portrait_1080x1920(rgb: np.ndarray) -> bytes:
    """Crop to 9:16 around the face (centre of the image's face) and scale to 1080x1920, as a JPEG."""
    from swap.landmarks import find_faces

    h, w = rgb.shape[:2]
    face = find_faces(rgb)[0]
    x0, y0, x1, y1 = face.bbox
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    ch = min(h, w * 16 / 9)
    cw = ch * 9 / 16
    left = int(np.clip(cx - cw / 2, 0, w - cw))
    top = int(np.clip(cy - ch * 0.4, 0, h - ch))
    img = (
        Image.fromarray(rgb)
        .crop((left, top, left + int(cw), top + int(ch)))
        .resize((1080, 1920), Image.Resampling.LANCZOS)
    )
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=92)
    return buf.getvalue()


def title_overlay(text: str) -> bytes:
    ov = Image.new("RGBA", (1080, 1920), (0, 0, 0, 0))
    d = ImageDraw.Draw(ov)
    d.rectangle((0, 1500, 1080, 1920), fill=(10, 10, 30, 170))
    d.rectangle((30, 30, 1050, 1890), outline=(240, 200, 80, 255), width=8)
    d.text((80, 1560), text, fill=(255, 255, 255, 255), font_size=90)
    buf = io.BytesIO()
    ov.save(buf, "PNG")
    return buf.getvalue()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1, help="torch/OpenCV threads (default 1: one core)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--photo", type=Path, default=VISITOR_PHOTO)
    args = ap.parse_args()

    import cv2
    import torch
    from skimage import data

    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    from swap.analysis import analyze_photo
    from swap.asset import build_face_asset
    from swap.poster import _encode, prepare_poster_template, render_poster
    from swap.render import FaceRenderer

    sources = [data.astronaut()]
    sources += [
        np.asarray(Image.open(MEDIA / n).convert("RGB")) for n in TEMPLATE_PHOTOS if (MEDIA / n).exists()
    ]
    while len(sources) < 5:  # without the shared media: mirrored astronauts
        sources.append(np.ascontiguousarray(sources[len(sources) % 1][:, ::-1]))
    templates = [
        prepare_poster_template(portrait_1080x1920(rgb), title_overlay(f"THE HERO #{k + 1}"))
        for k, rgb in enumerate(sources[:5])
    ]
    photo = args.photo.read_bytes() if args.photo.exists() else _astronaut_jpeg()

    def baseline() -> None:
        for t in templates:
            img = Image.open(io.BytesIO(t.image)).convert("RGB")
            _encode(img, "JPEG")
            _encode(img, "WEBP")

    def renders(asset, webp: bool = True) -> list:  # type: ignore[no-untyped-def]
        r = FaceRenderer(asset)
        posters = [render_poster(asset, t, renderer=r) for t in templates]
        for p in posters:
            # the WebP is encoded on first access: time both formats (the worker stores only the JPEG)
            assert p.jpeg and (not webp or p.webp)
        return posters

    def job(webp: bool = True) -> None:
        analysis = analyze_photo(photo)
        renders(build_face_asset(analysis), webp)

    asset = build_face_asset(analyze_photo(photo))
    renders(asset)  # warm-up: graphs, caches, fonts
    analysis = analyze_photo(photo)
    best = {"baseline": 1e9, "render": 1e9, "job": 1e9, "job_jpeg": 1e9, "analyse": 1e9, "asset": 1e9}
    for _ in range(args.repeat):
        for name, fn in (
            ("baseline", baseline),
            ("render", lambda: renders(asset)),
            ("job", job),
            ("job_jpeg", lambda: job(webp=False)),
            ("analyse", lambda: analyze_photo(photo)),
            ("asset", lambda: build_face_asset(analysis)),
        ):
            t0 = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - t0)
    print(f"threads={args.threads}  templates=5 x {templates[0].width}x{templates[0].height}")
    print(f"baseline (decode + JPEG + WebP encode) x5: {best['baseline']:.3f} s")
    print(
        f"render_poster x5 (swap+overlay+label+JPEG+WebP): {best['render']:.3f} s  ratio {best['render'] / best['baseline']:.2f}"
    )
    print(
        f"job (analyse + asset + 5 posters):           {best['job']:.3f} s  ratio {best['job'] / best['baseline']:.2f}"
    )
    print(f"job, JPEG only (what the worker stores):   {best['job_jpeg']:.3f} s  target < 1 s on one core")
    print(f"  of which analyze_photo {best['analyse']:.3f} s, build_face_asset {best['asset']:.3f} s")
    posters = renders(asset)
    print(
        f"poster files: JPEG {np.mean([len(p.jpeg) for p in posters]) / 1024:.0f} KB, "
        f"WebP {np.mean([len(p.webp) for p in posters]) / 1024:.0f} KB (mean of 5)"
    )


def _astronaut_jpeg() -> bytes:
    from skimage import data

    buf = io.BytesIO()
    Image.fromarray(data.astronaut()).save(buf, "JPEG", quality=95)
    return buf.getvalue()


if __name__ == "__main__":
    main()
