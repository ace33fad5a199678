"""What a visitor takes away: the campaign's public link, the QR code and AI label drawn into posters.

The engine (swap.poster) knows nothing about campaigns: it composites a template's RGBA overlay onto
the rendered poster. The QR code back to the campaign and the campaign's visible AI label are the
same for every visitor, so they are drawn once per poster template into that overlay
(`poster_overlay_for`, cached per process) and cost nothing per job. The engine still writes the
machine-readable XMP label (IPTC DigitalSourceType trainedAlgorithmicMedia) when it encodes.
"""

from __future__ import annotations

import io
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
import segno
from django.conf import settings
from django.http import HttpRequest
from PIL import Image

from campaign.models import Campaign, LabelPosition, QrCorner

if TYPE_CHECKING:
    from swap.poster import PosterTemplate as EnginePosterTemplate

QR_SHARE = 0.2  # QR side as a share of the poster's short side: ~145 px on 720 px, scans from a screen
QR_MARGIN = 0.025  # like the label's margin


def campaign_share_url(*, campaign: Campaign, request: HttpRequest | None = None) -> str:
    """The campaign's public page: its own share_url, else PUBLIC_BASE_URL, else this request's site.

    Workers have no request: set `share_url` or PUBLIC_BASE_URL in production so that posters point to
    the public domain, not to an internal host.
    """
    if campaign.share_url:
        return campaign.share_url
    if settings.PUBLIC_BASE_URL:
        return settings.PUBLIC_BASE_URL.rstrip("/") + "/"
    if request is not None:
        return str(request.build_absolute_uri("/"))
    return "http://localhost:8000/"


def campaign_share_image_key(*, campaign: Campaign) -> str:
    """Storage key of the campaign's own artwork for share cards: the first ready poster template image."""
    from campaign.models import IngestStatus, PosterTemplate

    poster = (
        PosterTemplate.objects.filter(
            variant__film__campaign=campaign, variant__film__is_active=True, prepare_status=IngestStatus.READY
        )
        .exclude(image="")
        .order_by("variant__film__sort_order", "position", "id")
        .first()
    )
    return (poster.image.name or "") if poster is not None else ""


def qr_image(url: str, side: int) -> Image.Image:
    """A black-on-white QR code (with its 4-module quiet zone) scaled to about `side` px, crisp edges."""
    code = segno.make(url, error="m", micro=False)
    modules = np.array(list(code.matrix_iter(scale=1, border=4)), dtype=np.uint8)
    scale = max(2, side // modules.shape[0])  # whole pixels per module: no blurred module edges
    pixels = np.where(modules == 1, 0, 255).astype(np.uint8)
    pixels = np.repeat(np.repeat(pixels, scale, axis=0), scale, axis=1)
    return Image.fromarray(pixels, "L").convert("RGBA")


def qr_corner_for(*, template_corner: str, label_position: str) -> str:
    """The corner the QR code is drawn in: the template's choice, unless it is `auto` or the corner the
    campaign's AI label takes (both must stay readable); then a bottom corner the label does not use."""
    if template_corner not in ("", QrCorner.AUTO, label_position):
        return template_corner
    return "bottom-right" if label_position == LabelPosition.BOTTOM_LEFT else "bottom-left"


def qr_box(*, size: tuple[int, int], corner: str, url: str) -> tuple[int, int, int, int]:
    """The QR code's box (x0, y0, x1, y1) on a poster of `size`, exactly as `compose_overlay` draws it:
    the safe zone editors keep clear of faces and lettering (outlined in the admin preview)."""
    width, height = size
    modules = int(segno.make(url, error="m", micro=False).symbol_size(border=4)[0])
    side = max(2, round(QR_SHARE * min(width, height)) // modules) * modules
    margin = round(QR_MARGIN * min(width, height))
    x = margin if corner.endswith("left") else width - margin - side
    y = margin if corner.startswith("top") else height - margin - side
    return x, y, x + side, y + side


def compose_overlay(
    *,
    size: tuple[int, int],
    base_overlay_png: bytes | None,
    qr_url: str | None,
    label: str,
    label_position: str,
    qr_corner: str = QrCorner.AUTO,
) -> bytes:
    """The template's overlay (or a transparent one) with the QR code and the visible AI label, as PNG."""
    from swap.poster import draw_label

    if base_overlay_png:
        overlay = Image.open(io.BytesIO(base_overlay_png)).convert("RGBA")
        if overlay.size != size:
            overlay = overlay.resize(size, Image.Resampling.LANCZOS)
    else:
        overlay = Image.new("RGBA", size, (0, 0, 0, 0))
    width, height = size
    if qr_url:
        qr = qr_image(qr_url, round(QR_SHARE * min(width, height)))
        corner = qr_corner_for(template_corner=qr_corner, label_position=label_position)
        x, y, _, _ = qr_box(size=size, corner=corner, url=qr_url)
        overlay.alpha_composite(qr, (x, y))
    if label:
        draw_label(overlay, label, label_position)
    out = io.BytesIO()
    overlay.save(out, "PNG", compress_level=3)
    return out.getvalue()


@lru_cache(maxsize=64)
def _overlay_cached(
    size: tuple[int, int],
    base_overlay_png: bytes | None,
    qr_url: str,
    label: str,
    label_position: str,
    qr_corner: str,
) -> bytes:
    return compose_overlay(
        size=size,
        base_overlay_png=base_overlay_png,
        qr_url=qr_url,
        label=label,
        label_position=label_position,
        qr_corner=qr_corner,
    )


def poster_template_for_campaign(
    template: EnginePosterTemplate, *, campaign: Campaign, qr_corner: str = QrCorner.AUTO
) -> EnginePosterTemplate:
    """The engine's PosterTemplate with the campaign's QR code (in the template's `qr_corner`) and AI
    label added to its overlay.

    Render it with `render_poster(..., label=None)`: the label is already in the overlay, at the
    campaign's position.
    """
    from dataclasses import replace

    overlay = _overlay_cached(
        (template.width, template.height),
        template.overlay_png,
        campaign_share_url(campaign=campaign),
        campaign.ai_label_text,
        campaign.ai_label_position,
        qr_corner,
    )
    return replace(template, overlay_png=overlay)
