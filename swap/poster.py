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
from dataclasses import dataclass, field, replace
from functools import cached_property, lru_cache

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFont, ImageOps, UnidentifiedImageError

from swap.asset import FaceAsset
from swap.errors import TemplateError
from swap.fonts import DEFAULT_LABEL, label_font
from swap.fonts import LabelFontError as LabelFontError  # re-exported: what draw_label raises
from swap.landmarks import find_faces
from swap.render import FaceRenderer, face_box
from swap.target import TargetFace, prepare_target
from swap.threads import single_blas_thread

MAX_LONG_SIDE = 1920
MAX_SHORT_SIDE = 1080
MIN_FACE_WIDTH = 60  # px: below this the swapped face is a smudge (and Face Mesh is unreliable)
SECOND_FACE_RATIO = 0.5  # a second face at least half as wide as the main one makes the template ambiguous
JPEG_QUALITY = 90
WEBP_QUALITY = 82
WEBP_METHOD = 0  # libwebp effort: see swap/README.md (0 is ~2x faster than 2, same PSNR, ~15 % more bytes)
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
    """A finished poster: `jpeg` bytes, `webp` bytes (encoded on first access), size in pixels."""

    jpeg: bytes
    width: int
    height: int
    image: Image.Image | None = field(default=None, repr=False, compare=False)

    @cached_property
    def webp(self) -> bytes:
        """The same poster as WebP (q82), encoded when first read: the platform stores only the JPEG."""
        if self.image is None:
            raise ValueError("this RenderedPoster was made without its image: no WebP can be encoded")
        return _encode(self.image, "WEBP")


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
    _draw_label(img, label, position, img.size, (0, 0))


def _label_box(label: str, position: str, size: tuple[int, int]) -> tuple[int, int, int, int]:
    """The label's box (x0, y0, x1, y1) on an image of `size`, as `draw_label` draws it."""
    return _label_layout(label, position, size)[1]


def _label_layout(
    label: str, position: str, size: tuple[int, int]
) -> tuple[ImageFont.FreeTypeFont, tuple[int, int, int, int], tuple[int, int], int]:
    if position not in LABEL_POSITIONS:
        raise ValueError(f"label position must be one of {LABEL_POSITIONS}, not {position!r}")
    w, h = size
    px = max(12, round(0.026 * min(w, h)))
    font = label_font(label, px)
    x0, y0, x1, y1 = (int(v) for v in font.getbbox(label))
    pad = round(px * 0.45)
    margin = round(0.025 * min(w, h))
    bw, bh = x1 - x0 + 2 * pad, y1 - y0 + 2 * pad
    bx = margin if position.endswith("left") else w - margin - bw
    by = margin if position.startswith("top") else h - margin - bh
    return font, (bx, by, bx + bw, by + bh), (bx + pad - x0, by + pad - y0), pad


def _draw_label(
    img: Image.Image, label: str, position: str, full_size: tuple[int, int], origin: tuple[int, int]
) -> None:
    """Draw the label of a `full_size` image onto `img`, a crop of it whose top-left is at `origin`.

    Every coordinate is an integer shifted by `origin`, so a crop gets exactly the pixels that drawing
    on the whole image would give it (render_poster redraws only the face region per visitor).
    """
    font, (bx0, by0, bx1, by1), (tx, ty), pad = _label_layout(label, position, full_size)
    ox, oy = origin
    draw = ImageDraw.Draw(img, "RGBA")
    draw.rounded_rectangle((bx0 - ox, by0 - oy, bx1 - ox, by1 - oy), radius=pad, fill=(0, 0, 0, 150))
    draw.text((tx - ox, ty - oy), label, font=font, fill=(255, 255, 255, 235))


@dataclass(frozen=True)
class _Canvas:
    """What stays the same for every visitor on one template (and label), decoded once per process.

    `base`: the finished poster without a swap (template + overlay + label). `box`: the region the
    renderer may change (its face crop); `face`: the template's pixels there; `landmarks`: the
    target's landmarks relative to the box; `overlay`: the overlay's pixels there (None when it is
    transparent there); `label_hits`: the label overlaps the box. Per visitor only the box is
    rendered, decorated and pasted into a copy of `base`.
    """

    base: Image.Image
    box: tuple[int, int, int, int]
    face: npt.NDArray[np.uint8]
    landmarks: npt.NDArray[np.float32]
    overlay: Image.Image | None
    label_hits: bool


@lru_cache(maxsize=10)
def _canvas(
    image: bytes, overlay_png: bytes | None, landmarks: bytes, label: str | None, mesh_level: int
) -> _Canvas:
    """Decode and compose a template once (6-15 MB per entry; a campaign has 5 templates per variant)."""
    img = _decode_template_image(image)
    w, h = img.size
    pts = np.frombuffer(landmarks, np.float32).reshape(-1, 3)
    box = face_box(pts, w, h, mesh_level=mesh_level) or (0, 0, w, h)
    x0, y0, x1, y1 = box
    face = np.asarray(img.crop(box), dtype=np.uint8)
    overlay = None
    base = img.copy()
    if overlay_png is not None:
        ov = _decoded_overlay(overlay_png, img.size)
        base.paste(ov, (0, 0), ov)  # alpha-blends onto the opaque poster in one pass
        ov_crop = ov.crop(box)
        if ov_crop.getchannel("A").getbbox() is not None:  # anything visible over the face
            overlay = ov_crop
    label_hits = False
    if label:
        draw_label(base, label)
        lx0, ly0, lx1, ly1 = _label_box(label, "bottom-right", (w, h))
        label_hits = lx0 <= x1 and lx1 >= x0 and ly0 <= y1 and ly1 >= y0
    local = pts - np.array([x0, y0, 0], np.float32)
    return _Canvas(base, box, face, local, overlay, label_hits)


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
    Only the face region is rendered and decorated; the rest comes from the template composed once
    per process (`_canvas`), so the pixels equal a full-frame swap + overlay + label exactly.
    The WebP is encoded when first read (`RenderedPoster.webp`): the platform stores only the JPEG.
    """
    single_blas_thread()
    r = renderer or FaceRenderer(asset)
    landmarks = np.ascontiguousarray(template.target.landmarks, np.float32).tobytes()
    canvas = _canvas(template.image, template.overlay_png, landmarks, label or None, r.mesh.level)
    x0, y0 = canvas.box[:2]
    target = replace(template.target, landmarks=canvas.landmarks)
    face = r.render(canvas.face[None], [target])[0]
    region = Image.fromarray(face, "RGB")
    if canvas.overlay is not None:
        region.paste(canvas.overlay, (0, 0), canvas.overlay)
    if label and canvas.label_hits:
        _draw_label(region, label, "bottom-right", canvas.base.size, (x0, y0))
    poster = canvas.base.copy()
    poster.paste(region, (x0, y0))
    return RenderedPoster(
        jpeg=_encode(poster, "JPEG"), width=poster.size[0], height=poster.size[1], image=poster
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
