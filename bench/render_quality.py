"""Quality and speed of the renderer's options, measured on swaps between different people.

    python bench/render_quality.py [--pairs N]

Compares, on the same pairs (visitor -> target, photos from ../shared/media/photos plus the astronaut):

* mesh: sparse Face Mesh with the UV field rasterised at <= 320 px face width (default), sparse at
  full resolution, and the dense PN-subdivided mesh (level 9, 34,900 vertices) at full resolution;
* blend: feathered alpha (default) vs Laplacian pyramid.

Prints per option the mean pose error (inter-ocular units), identity margin (UV detail correlation
with the visitor minus with the target), worst seam ratio, mean colour step, and render ms per image.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.media import media_root  # noqa: E402

PHOTOS = media_root() / "photos"
PAIRS = [
    ("obama_official_portrait.jpg", "woman_neutral_frown.png"),
    ("woman_neutral_frown.png", "obama_official_portrait.jpg"),
    ("business_woman.png", "man_curly_hair_glasses.jpg"),
    ("teen_girl_black_fairface.jpg", "astronaut"),
    ("man_curly_hair_glasses.jpg", "business_woman.png"),
    ("older_man_glasses_low_light.jpg", "teen_girl_black_fairface.jpg"),
    ("einstein_bw_historic.jpg", "woman_neutral_frown.png"),
    ("woman_neutral_frown.png", "older_man_glasses_low_light.jpg"),
]


def _photo(name: str) -> bytes:
    if name == "astronaut":
        from skimage import data

        buf = io.BytesIO()
        Image.fromarray(data.astronaut()).save(buf, "PNG")
        return buf.getvalue()
    return (PHOTOS / name).read_bytes()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", type=int, default=len(PAIRS))
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    from swap import blend, render
    from swap.analysis import analyze_photo
    from swap.asset import build_face_asset
    from swap.mesh import DENSE_LEVEL
    from swap.quality import identity_transfer, pose_error, seam_visibility

    pairs = PAIRS[: args.pairs]
    names = sorted({n for p in pairs for n in p})
    analyses = {n: analyze_photo(_photo(n)) for n in names}
    options = [
        ("sparse, UV field at <=320 px, alpha", 0, 320, "alpha"),
        ("sparse, full resolution, alpha", 0, 10**9, "alpha"),
        (f"dense L{DENSE_LEVEL}, full resolution, alpha", DENSE_LEVEL, 10**9, "alpha"),
        ("sparse, UV field at <=320 px, pyramid", 0, 320, "pyramid"),
    ]
    for label, level, face_px, mode in options:
        render.MESH_LEVEL = level
        render.RASTER_FACE_PX = face_px
        blend.BLEND_MODE = mode  # type: ignore[assignment]
        assets = {n: build_face_asset(analyses[n]) for n in names}
        poses, margins, seams, steps, times = [], [], [], [], []
        for v, t in pairs:
            ta = analyses[t]
            target = render.prepare_target(ta.rgb, ta.landmarks)
            r = render.FaceRenderer(assets[v])
            r.render(ta.rgb[None], [target])
            t0 = time.perf_counter()
            out = r.render(ta.rgb[None], [target])[0]
            times.append(time.perf_counter() - t0)
            poses.append(pose_error(out, ta.landmarks))
            ident = identity_transfer(out, ta.rgb, ta.landmarks, assets[v].albedo)
            margins.append(ident.margin)
            s = seam_visibility(out, ta.rgb, ta.landmarks)
            seams.append(s.ratio)
            steps.append(s.step)
        print(
            f"{label:42s} pose {np.mean(poses):.4f} (max {np.max(poses):.4f})  identity margin {np.mean(margins):.3f} "
            f"(min {np.min(margins):.3f})  seam {np.mean(seams):.2f} (max {np.max(seams):.2f})  step {np.mean(steps):.1f}  "
            f"render {1000 * np.mean(times):.0f} ms",
            flush=True,
        )


if __name__ == "__main__":
    main()
