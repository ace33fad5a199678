"""A ~15 s composite film of real clips for the film benchmarks (the shared films are shorter).

    python bench/film_composite.py OUT.mp4 [--height 720|1080] [--seconds 15]

Clips from ../shared/media/films (real footage with real audio), each scaled and centre-cropped to
16:9 at the requested height, concatenated with their audio (re-encoded to AAC so the joins are clean),
encoded near-lossless so the benchmark measures our encoder, not a pre-compressed input.
"""

from __future__ import annotations

import argparse
import sys
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.media import media_root  # noqa: E402

FILMS = media_root() / "films"
CLIPS = ["woman_indoor_720p.mp4", "woman_outdoor_dusk_720p.mp4", "woman_head_turns.mp4"]
FPS = 30
RATE = 44100


def _fit(rgb: np.ndarray, w: int, h: int) -> np.ndarray:
    sh, sw = rgb.shape[:2]
    s = max(w / sw, h / sh)
    img = cv2.resize(
        rgb, (round(sw * s), round(sh * s)), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC
    )
    y0, x0 = (img.shape[0] - h) // 2, (img.shape[1] - w) // 2
    return np.ascontiguousarray(img[y0 : y0 + h, x0 : x0 + w])


def build(out: Path, height: int = 720, seconds: float = 15.0) -> Path:
    """Write the composite (skips work if it already exists) and return its path."""
    if out.exists():
        return out
    if not FILMS.is_dir():
        raise SystemExit(f"shared films not found at {FILMS}")
    width = height * 16 // 9
    total = int(seconds * FPS)
    tmp = out.with_name(out.name + ".part.mp4")
    dst = av.open(str(tmp), "w")
    vs = dst.add_stream("libx264", rate=FPS, options={"crf": "12", "preset": "veryfast"})
    vs.width, vs.height, vs.pix_fmt = width, height, "yuv420p"
    aus = dst.add_stream("aac", rate=RATE)
    aus.layout = "stereo"
    aus.bit_rate = 128_000
    resampler = av.AudioResampler(format="fltp", layout="stereo", rate=RATE)
    n = 0
    samples = 0
    for name in CLIPS:
        if n >= total:
            break
        with av.open(str(FILMS / name)) as src:
            start_n = n
            for frame in src.decode(src.streams.video[0]):
                if n >= total:
                    break
                vf = av.VideoFrame.from_ndarray(
                    _fit(frame.to_ndarray(format="rgb24"), width, height), "rgb24"
                )
                vf.pts, vf.time_base = n, Fraction(1, FPS)
                for p in vs.encode(vf):
                    dst.mux(p)
                n += 1
            want = int((n - start_n) / FPS * RATE)  # this clip's share of audio, exactly as long as its video
            got = 0
            src.seek(0)
            for af in src.decode(src.streams.audio[0]) if src.streams.audio else []:
                for rf in resampler.resample(af):
                    arr = rf.to_ndarray()[:, : max(0, want - got)]
                    if arr.shape[1] == 0:
                        continue
                    of = av.AudioFrame.from_ndarray(np.ascontiguousarray(arr), format="fltp", layout="stereo")
                    of.sample_rate, of.pts, of.time_base = RATE, samples, Fraction(1, RATE)
                    samples += arr.shape[1]
                    got += arr.shape[1]
                    for p in aus.encode(of):
                        dst.mux(p)
            if got < want:  # a clip without audio: silence
                pad = av.AudioFrame.from_ndarray(
                    np.zeros((2, want - got), np.float32), format="fltp", layout="stereo"
                )
                pad.sample_rate, pad.pts, pad.time_base = RATE, samples, Fraction(1, RATE)
                samples += want - got
                for p in aus.encode(pad):
                    dst.mux(p)
    for p in vs.encode(None):
        dst.mux(p)
    for p in aus.encode(None):
        dst.mux(p)
    dst.close()
    tmp.replace(out)
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("--height", type=int, default=720)
    ap.add_argument("--seconds", type=float, default=15.0)
    a = ap.parse_args()
    print(build(a.out, a.height, a.seconds))
