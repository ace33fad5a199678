"""What campaign.sharing draws into posters: a readable QR code in the template's corner, the label."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image


@pytest.mark.parametrize("position", ["bottom-right", "bottom-left", "top-right", "top-left"])
def test_poster_overlay_has_a_readable_qr_code_and_the_label_in_the_chosen_corner(position: str) -> None:
    import cv2

    from campaign.sharing import compose_overlay

    url = "https://example.com/campaign/"
    overlay = Image.open(io.BytesIO(compose_overlay(
        size=(720, 1080), base_overlay_png=None, qr_url=url, label="AI生成 · AI-generated", label_position=position
    )))  # fmt: skip
    # a photo-like background: smooth gradients (pure noise makes false finder patterns for any detector)
    yy, xx = np.mgrid[0:1080, 0:720]
    gradient = np.stack([xx * 255 // 720, yy * 255 // 1080, (xx + yy) * 255 // 1800], axis=-1)
    background = Image.fromarray(gradient.astype(np.uint8)).convert("RGBA")
    poster = Image.alpha_composite(background, overlay).convert("RGB")
    jpeg = io.BytesIO()
    poster.save(jpeg, "JPEG", quality=85)
    pixels = cv2.imdecode(np.frombuffer(jpeg.getvalue(), np.uint8), cv2.IMREAD_COLOR)
    assert cv2.QRCodeDetector().detectAndDecode(pixels)[0] == url
    # the label box (alpha 150) lies in the chosen corner, away from the QR code
    box = np.argwhere(np.asarray(overlay)[..., 3] == 150)
    centre_y, centre_x = box.mean(axis=0)
    assert (centre_y < 540) == position.startswith("top")
    assert (centre_x < 360) == position.endswith("left")


@pytest.mark.parametrize(
    ("template_corner", "label_position", "drawn_at"),
    [
        ("auto", "bottom-right", "bottom-left"),
        ("auto", "bottom-left", "bottom-right"),
        ("top-right", "bottom-right", "top-right"),
        ("bottom-right", "bottom-right", "bottom-left"),  # never under the label: the auto rule
    ],
)
def test_qr_code_is_drawn_in_the_templates_corner_exactly_where_the_safe_zone_is(
    template_corner: str, label_position: str, drawn_at: str
) -> None:
    from campaign.sharing import compose_overlay, qr_box, qr_corner_for

    url = "https://example.com/campaign/"
    corner = qr_corner_for(template_corner=template_corner, label_position=label_position)
    assert corner == drawn_at
    overlay = np.asarray(Image.open(io.BytesIO(compose_overlay(
        size=(720, 1080), base_overlay_png=None, qr_url=url, label="", label_position=label_position,
        qr_corner=template_corner,
    ))))  # fmt: skip
    opaque = np.argwhere(overlay[..., 3] == 255)
    (y0, x0), (y1, x1) = opaque.min(axis=0), opaque.max(axis=0) + 1
    assert (int(x0), int(y0), int(x1), int(y1)) == qr_box(size=(720, 1080), corner=drawn_at, url=url)
