"""A demo film and five poster templates generated from scikit-image's astronaut photo.

So that the one-command run shows a working campaign on a fresh machine (no ../shared/media): a 15 s
portrait clip in which the astronaut's portrait pans, zooms, tilts and changes light, with a generated
music track, and five posters cut and graded differently. The male variant uses the mirrored, cooler
graded cut of the same material: a demo of the mechanics, not casting.
"""

from __future__ import annotations

import io
import math
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

FILM_SECONDS = 15
FILM_FPS = 25
FILM_SIZE = (540, 960)  # portrait, width x height
AUDIO_RATE = 44_100
# Where the astronaut's face sits in skimage.data.astronaut() (512x512), in pixels.
FACE_CENTER = (224.0, 122.0)

_CJK_FONTS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Bold.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
)


def astronaut() -> np.ndarray:
    from skimage import data

    return data.astronaut()


def _grade(rgb: np.ndarray, *, gain: float, tint: tuple[float, float, float]) -> np.ndarray:
    out = rgb.astype(np.float32) * gain * np.asarray(tint, dtype=np.float32)
    return np.clip(out, 0, 255).astype(np.uint8)


def _frame(
    source: np.ndarray,
    t: float,
    mirrored: bool,
    size: tuple[int, int] = FILM_SIZE,
    seconds: float = FILM_SECONDS,
) -> np.ndarray:
    """One frame: slow push-in and pan around the face, a small tilt, light that breathes."""
    import cv2

    width, height = size
    phase = t / seconds
    scale = (2.0 + 0.35 * phase + 0.08 * math.sin(2 * math.pi * t / 5.0)) * width / FILM_SIZE[0]
    angle = 4.0 * math.sin(2 * math.pi * t / 6.0)
    cx, cy = FACE_CENTER
    target = (
        width / 2 + 30 * math.sin(2 * math.pi * t / 7.5),
        height * 0.38 + 0.026 * height * math.cos(2 * math.pi * t / 9.0),
    )
    matrix = cv2.getRotationMatrix2D((cx, cy), angle, scale)
    matrix[0, 2] += target[0] - cx
    matrix[1, 2] += target[1] - cy
    frame = cv2.warpAffine(
        source, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    # A soft light sweeping across the frame, warm to cool.
    xs = np.linspace(-1.0, 1.0, width, dtype=np.float32)[None, :, None]
    sweep = 0.9 + 0.15 * np.sin(2 * math.pi * t / 8.0) + 0.08 * xs * math.cos(2 * math.pi * t / 8.0)
    warm = np.asarray([1.04, 1.0, 0.94] if not mirrored else [0.95, 1.0, 1.06], dtype=np.float32)
    frame = np.clip(frame.astype(np.float32) * sweep * warm, 0, 255).astype(np.uint8)
    return frame[:, ::-1].copy() if mirrored else frame


def _music(seconds: float) -> np.ndarray:
    """A calm four-chord loop (stereo float32 in [-1, 1]): a real audio track for the encoder to carry."""
    t = np.arange(int(seconds * AUDIO_RATE), dtype=np.float32) / AUDIO_RATE
    chords = [
        (220.0, 277.18, 329.63),
        (196.0, 246.94, 293.66),
        (174.61, 220.0, 261.63),
        (196.0, 246.94, 311.13),
    ]
    signal = np.zeros_like(t)
    beat = 1.875
    for index, start in enumerate(np.arange(0.0, seconds, beat)):
        chord = chords[index % len(chords)]
        mask = (t >= start) & (t < start + beat)
        local = t[mask] - start
        envelope = np.minimum(1.0, local * 8) * np.exp(-local * 0.9)
        for freq in chord:
            signal[mask] += 0.12 * envelope * np.sin(2 * np.pi * freq * local)
    fade = np.minimum(1.0, np.minimum(t, seconds - t) / 0.5)
    signal *= fade
    return np.stack([signal, signal * 0.96]).astype(np.float32)


def build_demo_film(
    path: Path, *, mirrored: bool = False, seconds: int = FILM_SECONDS, size: tuple[int, int] = FILM_SIZE
) -> Path:
    """Encode the demo clip: H.264 Main yuv420p + AAC-LC, faststart, so phones play it inline.

    Tests ask for a shorter, smaller clip of the same material.
    """
    import av

    source = astronaut()
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w", options={"movflags": "+faststart"}) as container:
        video = container.add_stream("libx264", rate=FILM_FPS)
        video.width, video.height = size
        video.pix_fmt = "yuv420p"
        video.options = {"crf": "21", "preset": "veryfast", "profile": "main"}
        audio = container.add_stream("aac", rate=AUDIO_RATE, layout="stereo")
        for index in range(seconds * FILM_FPS):
            rgb = _frame(source, index / FILM_FPS, mirrored, size, seconds)
            image = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            for packet in video.encode(image):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
        samples = _music(seconds)
        chunk = 1024
        for start in range(0, samples.shape[1], chunk):
            block = np.ascontiguousarray(samples[:, start : start + chunk])
            audio_frame = av.AudioFrame.from_ndarray(block, format="fltp", layout="stereo")
            audio_frame.sample_rate = AUDIO_RATE
            audio_frame.pts = start
            audio_frame.time_base = Fraction(1, AUDIO_RATE)
            for packet in audio.encode(audio_frame):
                container.mux(packet)
        for packet in audio.encode():
            container.mux(packet)
    return path


# Five poster looks: (zoom, face position x/y as share of the poster, tilt deg, gain, tint)
POSTER_LOOKS = (
    (2.2, 0.5, 0.36, 0.0, 1.05, (1.06, 1.0, 0.9)),
    (1.6, 0.38, 0.42, -3.0, 0.95, (0.9, 0.98, 1.1)),
    (2.6, 0.55, 0.45, 2.0, 1.0, (1.0, 0.95, 0.95)),
    (1.9, 0.62, 0.33, 0.0, 0.85, (1.1, 0.92, 1.05)),
    (1.4, 0.5, 0.3, 4.0, 1.1, (0.95, 1.05, 0.95)),
)
POSTER_SIZE = (720, 1080)


def build_demo_poster(index: int, *, mirrored: bool = False) -> bytes:
    """Poster template `index` (0-4) as JPEG bytes: a graded, framed still with the face clearly visible."""
    import cv2

    zoom, fx, fy, tilt, gain, tint = POSTER_LOOKS[index]
    width, height = POSTER_SIZE
    source = astronaut()
    if mirrored:
        source = source[:, ::-1].copy()
    cx, cy = FACE_CENTER
    if mirrored:
        cx = source.shape[1] - cx
    matrix = cv2.getRotationMatrix2D((cx, cy), tilt, zoom)
    matrix[0, 2] += width * fx - cx
    matrix[1, 2] += height * fy - cy
    still = cv2.warpAffine(
        source, matrix, (width, height), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE
    )
    still = _grade(still, gain=gain, tint=tint if not mirrored else (tint[2], tint[1], tint[0]))
    image = Image.fromarray(still)
    # Darken the lower third where the overlay's title sits.
    shade = Image.linear_gradient("L").resize((width, height)).point(lambda v: max(0, v - 140) * 1.6)
    image = Image.composite(
        Image.new("RGB", image.size, (8, 8, 12)), image, shade.filter(ImageFilter.GaussianBlur(8))
    )
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=92)
    return out.getvalue()


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for candidate in _CJK_FONTS:
        if Path(candidate).exists():
            return ImageFont.truetype(candidate, size)
    return ImageFont.load_default(size=size)


def build_demo_overlay(index: int) -> bytes:
    """The RGBA title overlay drawn on top of the rendered poster (title, tagline, frame)."""
    width, height = POSTER_SIZE
    overlay = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    has_cjk = any(Path(c).exists() for c in _CJK_FONTS)
    title = "主角" if has_cjk else "PROTAGONIST"
    taglines = ("PROTAGONIST", "STARRING YOU", "COMING SOON", "A FILM ABOUT YOU", "ONE PHOTO. ONE FILM.")
    draw.rectangle((18, 18, width - 18, height - 18), outline=(245, 183, 0, 220), width=4)
    draw.text((width / 2, height - 210), title, font=_font(96), fill=(255, 255, 255, 255), anchor="mm")
    draw.text(
        (width / 2, height - 120), taglines[index], font=_font(34), fill=(245, 183, 0, 255), anchor="mm"
    )
    out = io.BytesIO()
    overlay.save(out, format="PNG")
    return out.getvalue()


def sample_photo_jpeg() -> bytes:
    """A visitor's photo for trying the demo: the astronaut's portrait (public domain) as a JPEG."""
    out = io.BytesIO()
    Image.fromarray(astronaut()).save(out, format="JPEG", quality=92)
    return out.getvalue()


def write_sample_photo() -> None:
    """Write the sample photo's JPEG bytes to stdout (the smoke run posts it as a visitor would)."""
    sys.stdout.buffer.write(sample_photo_jpeg())
    sys.stdout.buffer.flush()
