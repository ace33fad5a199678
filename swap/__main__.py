"""Command line: swap the face of one photo into a target image.

    python -m swap photo.jpg target.jpg -o out.jpg [--debug DIR] [--device cpu|cuda]

The photo goes through the same checks as on the platform (`analyze_photo`); a refused photo exits
with status 2 and its reason on stderr. A target without a usable face exits with status 3.
`--debug DIR` writes the UV texture (de-lit albedo), the target's light map, the swap mask in the
target image and a mesh overlay, as PNGs, so the intermediate steps can be looked at.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt


def _save_png(path: Path, rgb: npt.NDArray[Any]) -> None:
    from PIL import Image

    arr = np.asarray(rgb)
    if arr.dtype != np.uint8:
        arr = (np.clip(arr, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    Image.fromarray(arr).save(path)


def _mesh_overlay(rgb: npt.NDArray[np.uint8], points: npt.NDArray[np.float32]) -> npt.NDArray[np.uint8]:
    import cv2

    from swap.topology import face_topology

    img = rgb.copy()
    tris = face_topology().triangles
    xy = np.round(points[:, :2] * 16).astype(np.int32)
    polys = [xy[t] for t in tris]
    cv2.polylines(img, polys, True, (0, 255, 0), 1, cv2.LINE_AA, shift=4)
    return img


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m swap", description=__doc__.split("\n\n")[0])
    ap.add_argument("photo", type=Path, help="the visitor's photo (JPEG, PNG, HEIC, ...)")
    ap.add_argument("target", type=Path, help="the image to put the face into")
    ap.add_argument("-o", "--output", type=Path, required=True, help="output image (.jpg, .png or .webp)")
    ap.add_argument("--debug", type=Path, default=None, help="directory for intermediate images")
    ap.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    args = ap.parse_args(argv)

    for p in (args.photo, args.target):
        if not p.is_file():
            print(f"error: {p} does not exist or is not a file", file=sys.stderr)
            return 1

    from PIL import Image

    from swap.analysis import analyze_photo
    from swap.asset import build_face_asset
    from swap.errors import PhotoRejected, SwapError
    from swap.imageio import decode_image
    from swap.landmarks import find_faces
    from swap.render import FaceRenderer, render_uv_map
    from swap.target import prepare_target
    from swap.uv import uv_alpha

    try:
        analysis = analyze_photo(args.photo.read_bytes())
    except PhotoRejected as exc:
        print(f"photo refused ({exc.code}): {exc.message}", file=sys.stderr)
        return 2
    for warning in analysis.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    try:
        target_rgb = decode_image(args.target.read_bytes(), max_side=4096)
    except SwapError as exc:
        print(f"target unreadable: {exc}", file=sys.stderr)
        return 3
    faces = find_faces(target_rgb)
    if not faces:
        print(f"target refused (no_face): no face found in {args.target}", file=sys.stderr)
        return 3
    asset = build_face_asset(analysis)
    for warning in asset.warnings:  # what the texture showed (glasses, an evened side light)
        if warning not in analysis.warnings:
            print(f"warning: {warning}", file=sys.stderr)
    target = prepare_target(target_rgb, faces[0])
    out = FaceRenderer(asset, device=args.device).render(target_rgb[None], [target])[0]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    img = Image.fromarray(out)
    suffix = args.output.suffix.lower()
    if suffix in (".jpg", ".jpeg"):
        img.save(args.output, "JPEG", quality=92)
    elif suffix == ".webp":
        img.save(args.output, "WEBP", quality=88)
    else:
        img.save(args.output)
    if args.debug is not None:
        d = args.debug
        d.mkdir(parents=True, exist_ok=True)
        _save_png(d / "uv_texture.png", asset.albedo / max(1.0, float(asset.albedo.max())))
        _save_png(d / "light_map.png", target.light_map)
        h, w = target_rgb.shape[:2]
        mask = render_uv_map(target.landmarks, (w, h), uv_alpha(asset.albedo.shape[0]))
        _save_png(d / "mask.png", mask)
        _save_png(d / "mesh_overlay.png", _mesh_overlay(target_rgb, target.landmarks))
        _save_png(d / "photo_mesh_overlay.png", _mesh_overlay(analysis.rgb, analysis.landmarks.points))
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
