"""Fixtures for the film tests: small synthetic clips (always available) and cached ingests of real films."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest


def make_clip(
    path: Path,
    *,
    width: int = 320,
    height: int = 240,
    frames: int = 30,
    fps: int = 30,
    grain: float = 0.0,
    audio: str | None = "aac",
    seed: int = 0,
) -> Path:
    """Write an H.264 clip of a moving gradient (plus optional film grain) with a sine tone as audio."""
    rng = np.random.default_rng(seed)
    out = av.open(str(path), "w", format="mp4")
    vs = out.add_stream("libx264", rate=fps, options={"crf": "8", "preset": "ultrafast"})
    vs.width, vs.height, vs.pix_fmt = width, height, "yuv420p"
    aus = None
    if audio:
        aus = out.add_stream(audio, rate=44100)
        aus.layout = "mono"
    yy, xx = np.mgrid[0:height, 0:width]
    for i in range(frames):
        base = (xx * 255 / width + i * 4) % 256
        img = np.stack([base, yy * 255 / height + 0 * base, 255 - base], axis=2)
        if grain:
            img = img + rng.normal(0, grain, img.shape)
        f = av.VideoFrame.from_ndarray(np.clip(img, 0, 255).astype(np.uint8), "rgb24")
        f.pts = i
        f.time_base = Fraction(1, fps)
        for p in vs.encode(f):
            out.mux(p)
    for p in vs.encode(None):
        out.mux(p)
    if aus is not None:
        n = int(44100 * frames / fps)
        t = np.arange(n) / 44100
        samples = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        fmt = aus.codec_context.format.name if aus.codec_context.format else "fltp"
        chunk = aus.codec_context.frame_size or 1024
        for k in range(0, n, chunk):
            part = samples[None, k : k + chunk]
            if fmt.startswith("s16"):
                part = (part * 32767).astype(np.int16)
            elif fmt.startswith("s32"):
                part = (part * 2**31 * 0.99).astype(np.int32)
            af = av.AudioFrame.from_ndarray(np.ascontiguousarray(part), format=fmt, layout="mono")
            af.sample_rate = 44100
            af.pts = k
            af.time_base = Fraction(1, 44100)
            for p in aus.encode(af):
                out.mux(p)
        for p in aus.encode(None):
            out.mux(p)
    out.close()
    return path


@pytest.fixture(scope="session")
def films_dir(shared_media: Path) -> Path:
    d = shared_media / "films"
    if not d.is_dir():
        pytest.skip("no shared films")
    return d


@pytest.fixture(scope="session")
def film_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A session directory for trimmed clips, their tracks and renders (ingest once per session)."""
    return tmp_path_factory.mktemp("films")


def _clip(films_dir: Path, cache: Path, name: str, frames: int, start: int = 0) -> Path:
    from swap.film import io

    out = cache / f"{name}_{start}_{frames}.mp4"
    if not out.exists():
        io.trim(films_dir / f"{name}.mp4", out, frames, start=start)
    return out


@pytest.fixture(scope="session")
def speech_clip(films_dir: Path, film_cache: Path) -> Path:
    """man_suit_speech, first 90 frames: talking with blinks, audio starts 33 ms before the video."""
    return _clip(films_dir, film_cache, "man_suit_speech", 90)


@pytest.fixture
def speech_film(speech_clip: Path, tmp_path: Path) -> Path:
    """A private copy of the speech clip in the test's own directory: the caches a render writes beside
    the film (fields, warp rasters) start empty and stay the test's."""
    import shutil

    film = tmp_path / speech_clip.name
    shutil.copy(speech_clip, film)
    return film


@pytest.fixture(scope="session")
def speech_track(speech_clip: Path):
    from swap.film.ingest import ingest_film

    return ingest_film(speech_clip)


@pytest.fixture(scope="session")
def stage_clip(films_dir: Path, film_cache: Path) -> Path:
    """hamilton, frames 150-274: the performer (one shot) then a cut to an audience full of faces."""
    return _clip(films_dir, film_cache, "hamilton_stage_clip_360p_hard", 125, start=150)


@pytest.fixture(scope="session")
def visitor_asset(shared_media: Path):
    from swap.analysis import analyze_photo
    from swap.asset import build_face_asset

    return build_face_asset(
        analyze_photo((shared_media / "photos" / "obama_official_portrait.jpg").read_bytes())
    )


@pytest.fixture(scope="session")
def speech_render(visitor_asset, speech_clip: Path, speech_track, film_cache: Path):
    from swap.film.render import render_film

    calls: list[tuple[int, int]] = []
    result = render_film(
        visitor_asset,
        speech_clip,
        speech_track,
        film_cache / "speech_out.mp4",
        lambda d, t: calls.append((d, t)),
        target_size_bytes=400_000,
    )
    return result, calls
