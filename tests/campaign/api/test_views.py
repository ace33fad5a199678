"""The visitor API (campaign.api.views): campaign info, intake (202 and each error), status with tokens,
deletion, the OpenAPI schema."""

from __future__ import annotations

import io
import uuid
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from rest_framework.test import APIClient

from campaign.models import Job, JobState
from campaign.services.jobs import job_advance, job_poster_add


def _post(client: APIClient, photo: bytes, **fields: Any) -> Any:
    upload = io.BytesIO(photo)
    upload.name = "me.jpg"
    data = {"photo": upload, "gender": "female", "consent": "true", "age_confirmation": "self", **fields}
    return client.post("/api/jobs", data, format="multipart")


@pytest.fixture
def client() -> APIClient:
    return APIClient()


def test_campaign_lists_films_and_only_ready_genders(client: APIClient, ready_campaign: Any) -> None:
    response = client.get("/api/campaign")
    assert response.status_code == 200
    body = response.json()
    assert body["title"] == "活动"
    assert body["genders"] == ["female"]
    cover_url = body["films"][0].pop("cover_url")
    assert cover_url.startswith("/media/posters/1.jpg?e=")  # the ready variant's first poster artwork
    trailer_url = body["films"][0].pop("trailer_url")
    assert trailer_url.startswith("/media/films/x.mp4?e=")  # the ready variant's film, not the other's
    assert body["films"] == [
        {
            "slug": "f",
            "title": "电影",
            "title_en": "",
            "seconds": None,  # no ingest report in this fixture
            "variants": [{"gender": "female", "ready": True}, {"gender": "male", "ready": False}],
        }
    ]


def test_campaign_gives_each_film_its_real_length_from_ingest(client: APIClient, ready_campaign: Any) -> None:
    from campaign.models import FilmVariant

    FilmVariant.objects.filter(gender="female").update(ingest_report={"duration_s": 12.48})
    assert client.get("/api/campaign").json()["films"][0]["seconds"] == 12.5


def test_campaign_is_404_with_a_code_when_none_runs(client: APIClient, db: Any) -> None:
    response = client.get("/api/campaign")
    assert response.status_code == 404
    assert response.json()["code"] == "campaign_closed"


def test_upload_is_accepted_with_id_token_ws_url_and_queue_position(
    client: APIClient, ready_campaign: Any, astronaut_jpeg: bytes
) -> None:
    response = _post(client, astronaut_jpeg)
    assert response.status_code == 202, response.content
    body = response.json()
    job = Job.objects.get(pk=body["id"])
    assert job.state == JobState.QUEUED
    assert body["ws_url"] == f"ws://testserver/ws/jobs/{job.id}/"
    assert body["status_url"] == f"http://testserver/api/jobs/{job.id}"
    assert body["result_url"] == f"http://testserver/#job={job.id}&token={body['token']}"
    assert body["queue_position"] == 1
    assert body["eta_seconds"] > 0


@pytest.mark.parametrize(
    ("fields", "status", "code"),
    [
        ({"consent": "false"}, 400, "consent_required"),
        ({"gender": "robot"}, 400, "gender_invalid_choice"),
        ({"gender": "male"}, 409, "variant_unavailable"),
    ],
)
def test_upload_errors_have_a_code_and_a_message(
    client: APIClient,
    ready_campaign: Any,
    astronaut_jpeg: bytes,
    fields: dict[str, str],
    status: int,
    code: str,
) -> None:
    response = _post(client, astronaut_jpeg, **fields)
    assert response.status_code == status
    body = response.json()
    assert body["code"] == code
    assert body["detail"]
    assert Job.objects.count() == 0


def test_upload_without_photo_is_refused(client: APIClient, ready_campaign: Any) -> None:
    response = client.post(
        "/api/jobs", {"gender": "female", "consent": "true", "age_confirmation": "self"}, format="multipart"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "photo_required"


def test_upload_with_two_files_is_refused(
    client: APIClient, ready_campaign: Any, astronaut_jpeg: bytes
) -> None:
    extra = io.BytesIO(astronaut_jpeg)
    extra.name = "second.jpg"
    response = _post(client, astronaut_jpeg, other=extra)
    assert response.status_code == 400
    assert response.json()["code"] == "too_many_files"
    assert Job.objects.count() == 0


def test_upload_of_a_non_image_is_refused(client: APIClient, ready_campaign: Any) -> None:
    response = _post(client, b"%PDF-1.4 not a photo at all" * 20)
    assert response.status_code in (400, 415)
    assert response.json()["code"] == "not_an_image"


def test_status_needs_the_token_in_header_or_query(client: APIClient, queued_job: Any) -> None:
    job, token = queued_job
    assert client.get(f"/api/jobs/{job.id}").json()["code"] == "token_required"
    assert client.get(f"/api/jobs/{job.id}").status_code == 401
    by_header = client.get(f"/api/jobs/{job.id}", HTTP_AUTHORIZATION=f"Bearer {token}")
    by_query = client.get(f"/api/jobs/{job.id}?token={token}")
    assert by_header.status_code == by_query.status_code == 200
    body = by_header.json()
    assert body["state"] == "queued"
    assert body["queue_position"] == 1
    assert body["posters"] == [None] * 5
    assert body["video"] is None
    assert by_header["Cache-Control"] == "no-store"


def test_wrong_token_and_other_ids_answer_the_same_404(client: APIClient, queued_job: Any) -> None:
    job, token = queued_job
    wrong = client.get(f"/api/jobs/{job.id}", HTTP_AUTHORIZATION="Bearer " + "x" * 43)
    other = client.get(f"/api/jobs/{uuid.uuid4()}", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert wrong.status_code == other.status_code == 404
    assert wrong.json() == other.json() == {"code": "not_found", "detail": "No job with this id and token."}


def test_delete_needs_the_token_then_the_job_is_gone(client: APIClient, queued_job: Any) -> None:
    job, token = queued_job
    assert client.delete(f"/api/jobs/{job.id}", HTTP_AUTHORIZATION="Bearer nope").status_code == 404
    assert Job.objects.get(pk=job.id).state == JobState.QUEUED
    assert client.delete(f"/api/jobs/{job.id}", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 204
    gone = client.get(f"/api/jobs/{job.id}", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert gone.status_code == 410
    assert gone.json()["code"] == "deleted"
    assert not default_storage.exists(f"jobs/{job.id}/photo.jpg")


def test_status_lists_posters_as_signed_urls_as_they_arrive(client: APIClient, queued_job: Any) -> None:
    job, token = queued_job
    job_advance(job_id=job.id, from_state=JobState.QUEUED, to_state=JobState.ANALYZING)
    job_advance(job_id=job.id, from_state=JobState.ANALYZING, to_state=JobState.POSTERS)
    key = default_storage.save(f"jobs/{job.id}/poster-2.jpg", ContentFile(b"\xff\xd8poster"))
    job_poster_add(job_id=job.id, position=2, key=key)
    body = client.get(f"/api/jobs/{job.id}", HTTP_AUTHORIZATION=f"Bearer {token}").json()
    assert body["state"] == "posters"
    assert body["posters"][0] is None
    url = body["posters"][1]["url"]
    assert url.startswith(f"/media/jobs/{job.id}/poster-2.jpg?e=")
    fetched = client.get(url)
    assert fetched.status_code == 200
    assert b"".join(fetched) == b"\xff\xd8poster"


def test_openapi_schema_describes_the_job_endpoints(client: APIClient, db: Any) -> None:
    response = client.get("/api/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    text = response.content.decode()
    for path in ("/api/campaign", "/api/jobs", "/api/jobs/{job_id}"):
        assert path in text
