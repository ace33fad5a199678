"""Consent and age gate at the API (campaign.consent) and what campaign.sharing draws into posters."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
from PIL import Image
from rest_framework.test import APIClient

from campaign.models import Job


def _post(client: APIClient, photo: bytes, **fields: str) -> Any:
    upload = io.BytesIO(photo)
    upload.name = "me.jpg"
    return client.post("/api/jobs", {"photo": upload, "gender": "female", **fields}, format="multipart")


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"consent": "false", "age_confirmation": "self"}, "consent_required"),
        ({"consent": "true"}, "age_confirmation_required"),
        ({"consent": "true", "age_confirmation": "yes"}, "age_confirmation_required"),
        ({"consent": "true", "age_confirmation": "self", "consent_version": "1999"}, "consent_outdated"),
    ],
)
def test_intake_without_consent_or_age_confirmation_is_refused(
    ready_campaign: Any, astronaut_jpeg: bytes, fields: dict[str, str], code: str
) -> None:
    response = _post(APIClient(), astronaut_jpeg, **fields)
    assert (response.status_code, response.json()["code"]) == (400, code)
    assert Job.objects.count() == 0


def test_guardian_consent_is_refused_where_the_campaign_is_for_the_minimum_age_only(
    ready_campaign: Any, astronaut_jpeg: bytes
) -> None:
    client = APIClient()
    accepted = _post(client, astronaut_jpeg, consent="true", age_confirmation="guardian")
    assert accepted.status_code == 202
    ready_campaign.age_policy = "min_age_only"
    ready_campaign.save()
    refused = _post(client, astronaut_jpeg, consent="true", age_confirmation="guardian")
    assert (refused.status_code, refused.json()["code"]) == (400, "age_restricted")
    assert "14" in refused.json()["detail"]


def test_the_consent_given_is_recorded_on_the_job(ready_campaign: Any, astronaut_jpeg: bytes) -> None:
    response = _post(
        APIClient(), astronaut_jpeg, consent="true", age_confirmation="self", consent_version="2025-11"
    )
    assert response.status_code == 202
    job = Job.objects.get(pk=response.json()["id"])
    assert (job.consent_version, job.age_confirmation) == ("2025-11", "self")


def test_campaign_api_and_page_tell_the_age_policy_and_consent_version(
    client: Any, ready_campaign: Any
) -> None:
    data = APIClient().get("/api/campaign").json()
    assert (data["age_policy"], data["consent_version"], data["min_age"]) == (
        "min_age_or_guardian",
        "2025-11",
        14,
    )
    html = client.get("/").content.decode()
    assert 'id="age-guardian"' in html and 'data-consent-version="2025-11"' in html
    ready_campaign.age_policy = "min_age_only"
    ready_campaign.save()
    assert 'id="age-guardian"' not in client.get("/").content.decode()


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
