"""Consent and age gate at the API and on the page (campaign.consent)."""

from __future__ import annotations

import io
from typing import Any

import pytest
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
