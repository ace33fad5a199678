"""Posters: a still image with one face, precomputed once, into which any visitor's face is rendered.

A `PosterTemplate` holds the poster image (JPEG, at most 1080x1920), its `TargetFace` (landmarks and
light map, computed once by `prepare_poster_template`) and an optional RGBA overlay (title, frame
graphics). `render_poster` swaps the face in, composites the overlay, draws a visible AI label and
returns JPEG and WebP bytes at the template's resolution, both carrying the machine-readable IPTC
label ``DigitalSourceType = trainedAlgorithmicMedia`` in XMP (what C2PA/IPTC-aware viewers read).

Everything per template is precomputed so a visitor's five posters cost little more than decoding
and encoding five images (`bench/posters.py` measures the ratio).
"""

from __future__ import annotations

import io
import json
import struct
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageOps, UnidentifiedImageError

from swap.asset import FaceAsset
from swap.errors import TemplateError
from swap.fonts import DEFAULT_LABEL, label_font
from swap.fonts import LabelFontError as LabelFontError  # re-exported: what draw_label raises
from swap.landmarks import ImageArray, find_faces
from swap.render import FaceRenderer, TargetFace, prepare_target

MAX_LONG_SIDE = 1920
MAX_SHORT_SIDE = 1080
MIN_FACE_WIDTH = 60  # px: below this the swapped face is a smudge (and Face Mesh is unreliable)
SECOND_FACE_RATIO = 0.5  # a second face at least half as wide as the main one makes the template ambiguous
JPEG_QUALITY = 90
WEBP_QUALITY = 82
WEBP_METHOD = 2  # libwebp effort: 2 is ~3x faster than the default 4 for ~3 % more bytes at 1080x1920
TEMPLATE_MAGIC = b"PTGPOST\x00"
TEMPLATE_VERSION = 1
DIGITAL_SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"

XMP_PACKET = (
    '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
    '<x:xmpmeta xmlns:x="adobe:ns:meta/">'
    '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    '<rdf:Description rdf:about="" '
    'xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
    'xmlns:dc="http://purl.org/dc/elements/1.1/" '
    f'Iptc4xmpExt:DigitalSourceType="{DIGITAL_SOURCE_TYPE}">'
    '<dc:description><rdf:Alt><rdf:li xml:lang="x-default">AI-generated face swap (Protagonist)</rdf:li>'
    "</rdf:Alt></dc:description>"
    "</rdf:Description></rdf:RDF></x:xmpmeta>"
    '<?xpacket end="r"?>'
).encode()


@dataclass(frozen=True)
class RenderedPoster:
    jpeg: bytes
    webp: bytes
    width: int
    height: int


@dataclass(frozen=True)
class PosterTemplate:
    """A poster image (JPEG bytes), its precomputed target face and an optional RGBA overlay (PNG bytes)."""

    image: bytes
    target: TargetFace
    width: int
    height: int
    overlay_png: bytes | None = None

    def to_bytes(self) -> bytes:
        """Versioned container: header JSON, image JPEG, overlay PNG, then landmarks and light map (npz)."""
        arrays = io.BytesIO()
        np.savez_compressed(
            arrays, landmarks=self.target.landmarks, light_map=self.target.light_map.astype(np.float16)
        )
        blobs = [self.image, self.overlay_png or b"", arrays.getvalue()]
        header = json.dumps(
            {
                "version": TEMPLATE_VERSION,
                "width": self.width,
                "height": self.height,
                "strength": self.target.strength,
                "lengths": [len(b) for b in blobs],
                "overlay": self.overlay_png is not None,
            }
        ).encode()
        return b"".join([TEMPLATE_MAGIC, struct.pack("<I", len(header)), header, *blobs])

    @classmethod
    def from_bytes(cls, data: bytes) -> PosterTemplate:
        if not data.startswith(TEMPLATE_MAGIC):
            raise TemplateError("corrupt_template", "Not a poster template file (wrong magic bytes).")
        try:
            pos = len(TEMPLATE_MAGIC)
            (hlen,) = struct.unpack_from("<I", data, pos)
            pos += 4
            header = json.loads(data[pos : pos + hlen])
            pos += hlen
            if header["version"] != TEMPLATE_VERSION:
                raise TemplateError(
                    "corrupt_template", f"Poster template version {header['version']} is not supported."
                )
            blobs = []
            for n in header["lengths"]:
                blobs.append(data[pos : pos + n])
                pos += n
            with np.load(io.BytesIO(blobs[2])) as arrs:
                target = TargetFace(
                    landmarks=arrs["landmarks"].astype(np.float32),
                    light_map=arrs["light_map"].astype(np.float32),
                    strength=float(header["strength"]),
                )
        except (struct.error, ValueError, KeyError, OSError) as exc:
            raise TemplateError("corrupt_template", f"Damaged poster template: {exc}") from exc
        return cls(
            image=blobs[0],
            target=target,
            width=int(header["width"]),
            height=int(header["height"]),
            overlay_png=blobs[1] if header["overlay"] else None,
        )


def _decode_template_image(data: bytes) -> Image.Image:
    try:
        opened = Image.open(io.BytesIO(data))
        return ImageOps.exif_transpose(opened).convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise TemplateError(
            "not_an_image", "The poster image could not be read: upload a JPEG or PNG image."
        ) from exc


def _fit(img: Image.Image) -> Image.Image:
    w, h = img.size
    scale = min(1.0, MAX_LONG_SIDE / max(w, h), MAX_SHORT_SIDE / min(w, h))
    if scale < 1.0:
        img = img.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.LANCZOS)
    return img


def prepare_poster_template(image: bytes, overlay_png: bytes | None = None) -> PosterTemplate:
    """Check the poster image has exactly one usable face and precompute its target face.

    Images larger than 1080x1920 (or 1920x1080) are scaled down to fit. TemplateError codes:
    ``not_an_image``, ``no_face``, ``multiple_faces`` (a second face at least half the size of the
    main one: which one should become the visitor?), ``face_too_small``, ``bad_overlay``.
    """
    img = _fit(_decode_template_image(image))
    rgb = np.asarray(img, dtype=np.uint8)
    faces = find_faces(rgb)
    if not faces:
        raise TemplateError(
            "no_face", "No face was found in the poster image: use an image with one clearly visible face."
        )
    main = faces[0]
    if len(faces) > 1 and faces[1].face_width >= SECOND_FACE_RATIO * main.face_width:
        raise TemplateError(
            "multiple_faces",
            f"The poster image shows {len(faces)} faces: use an image where one face is clearly the main one.",
        )
    if main.face_width < MIN_FACE_WIDTH:
        raise TemplateError(
            "face_too_small",
            f"The face in the poster is only {main.face_width:.0f} px wide: it must be at least "
            f"{MIN_FACE_WIDTH} px.",
        )
    overlay = None
    if overlay_png is not None:
        overlay = _normalise_overlay(overlay_png, img.size)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=95, subsampling=0)
    return PosterTemplate(
        image=buf.getvalue(),
        target=prepare_target(rgb, main),
        width=img.size[0],
        height=img.size[1],
        overlay_png=overlay,
    )


def _normalise_overlay(data: bytes, size: tuple[int, int]) -> bytes:
    try:
        ov = Image.open(io.BytesIO(data))
        ov.load()
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise TemplateError(
            "bad_overlay", "The overlay could not be read: upload a PNG with transparency."
        ) from exc
    if ov.size == size and ov.mode == "RGBA" and ov.format == "PNG":
        return data
    ow, oh = ov.size
    if abs(ow / oh - size[0] / size[1]) > 0.02:
        raise TemplateError(
            "bad_overlay",
            f"The overlay is {ow}x{oh} but the poster is {size[0]}x{size[1]}: use an overlay of the same shape.",
        )
    resized = ov.convert("RGBA").resize(size, Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    resized.save(buf, "PNG", compress_level=3)
    return buf.getvalue()


LABEL_POSITIONS = ("bottom-right", "bottom-left", "top-right", "top-left")


def draw_label(img: Image.Image, label: str, position: str = "bottom-right") -> None:
    """Draw the visible AI label in a corner (`LABEL_POSITIONS`): white text on a translucent dark box.

    The font is the machine's CJK font, or the subset shipped in swap/data when there is none
    (`swap.fonts.label_font`); a label no available font can fully draw raises `LabelFontError`
    rather than losing characters. Works on RGB images and on transparent RGBA overlays (the box
    keeps its translucency).
    """
    if position not in LABEL_POSITIONS:
        raise ValueError(f"label position must be one of {LABEL_POSITIONS}, not {position!r}")
    w, h = img.size
    size = max(12, round(0.026 * min(w, h)))
    font = label_font(label, size)
    draw = ImageDraw.Draw(img, "RGBA")
    x0, y0, x1, y1 = draw.textbbox((0, 0), label, font=font)
    pad = round(size * 0.45)
    margin = round(0.025 * min(w, h))
    bw, bh = x1 - x0 + 2 * pad, y1 - y0 + 2 * pad
    bx = margin if position.endswith("left") else w - margin - bw
    by = margin if position.startswith("top") else h - margin - bh
    draw.rounded_rectangle((bx, by, bx + bw, by + bh), radius=pad, fill=(0, 0, 0, 150))
    draw.text((bx + pad - x0, by + pad - y0), label, font=font, fill=(255, 255, 255, 235))


def render_poster(
    asset: FaceAsset,
    template: PosterTemplate,
    *,
    label: str | None = DEFAULT_LABEL,
    renderer: FaceRenderer | None = None,
) -> RenderedPoster:
    """Swap the visitor's face into the poster, add overlay and AI label; JPEG and WebP at template size.

    Pass a `renderer` made for `asset` when rendering several posters for one visitor (saves the
    per-visitor setup, ~10 ms). `LabelFontError` (a `TemplateError`) when no font can draw `label`.
    """
    r = renderer or FaceRenderer(asset)
    img = _decode_template_image(template.image)
    rgb: ImageArray = np.asarray(img, dtype=np.uint8)
    out = r.render(rgb[None], [template.target])[0]
    poster = Image.fromarray(out, "RGB")
    if template.overlay_png is not None:
        ov = _decoded_overlay(template.overlay_png, poster.size)
        poster.paste(ov, (0, 0), ov)  # alpha-blends onto the opaque poster in one pass
    if label:
        draw_label(poster, label)
    return RenderedPoster(
        jpeg=_encode(poster, "JPEG"),
        webp=_encode(poster, "WEBP"),
        width=poster.size[0],
        height=poster.size[1],
    )


@lru_cache(maxsize=8)
def _decoded_overlay(png: bytes, size: tuple[int, int]) -> Image.Image:
    """The overlay as RGBA pixels, decoded once per process: five templates are reused for every visitor."""
    ov = Image.open(io.BytesIO(png)).convert("RGBA")
    return ov if ov.size == size else ov.resize(size, Image.Resampling.BILINEAR)


def _encode(img: Image.Image, fmt: str) -> bytes:
    buf = io.BytesIO()
    if fmt == "JPEG":
        img.save(buf, "JPEG", quality=JPEG_QUALITY, subsampling=2, xmp=XMP_PACKET)
    else:
        img.save(buf, "WEBP", quality=WEBP_QUALITY, method=WEBP_METHOD, xmp=XMP_PACKET)
    return buf.getvalue()


def poster_rgb(poster_bytes: bytes) -> npt.NDArray[np.uint8]:
    """Decode a rendered poster (JPEG or WebP) back to pixels (tests, debugging)."""
    return np.asarray(Image.open(io.BytesIO(poster_bytes)).convert("RGB"), dtype=np.uint8)
