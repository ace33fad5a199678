"""`python -m swap photo target -o out`: a swap anyone can run, and refusals with their reason."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "swap", *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def test_cli_swaps_and_writes_debug_images(shared_media, tmp_path):
    out = tmp_path / "out.jpg"
    dbg = tmp_path / "debug"
    photos = shared_media / "photos"
    r = _run(
        str(photos / "business_woman.png"),
        str(photos / "obama_official_portrait.jpg"),
        "-o",
        str(out),
        "--debug",
        str(dbg),
    )
    assert r.returncode == 0, r.stderr
    result = np.asarray(Image.open(out))
    original = np.asarray(Image.open(photos / "obama_official_portrait.jpg").convert("RGB"))
    assert result.shape == original.shape
    assert np.abs(result.astype(int) - original).mean() > 0.5  # the face changed
    for name in ("mask.png", "mesh_overlay.png", "uv_texture.png", "light_map.png"):
        assert (dbg / name).stat().st_size > 1000


def test_cli_refuses_a_photo_with_two_faces_with_exit_2_and_the_reason(shared_media, tmp_path):
    r = _run(
        str(shared_media / "badinputs" / "two_faces_couple.jpg"),
        str(shared_media / "photos" / "obama_official_portrait.jpg"),
        "-o",
        str(tmp_path / "x.jpg"),
    )
    assert r.returncode == 2
    assert "multiple_faces" in r.stderr and "face" in r.stderr.lower()
    assert not (tmp_path / "x.jpg").exists()


def test_cli_reports_a_missing_file(tmp_path):
    r = _run(str(tmp_path / "nope.jpg"), str(tmp_path / "nope2.jpg"), "-o", str(tmp_path / "x.jpg"))
    assert r.returncode == 1
    assert "does not exist" in r.stderr
