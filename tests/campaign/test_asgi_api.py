"""The served ASGI app (`campaign.asgi.application`, one thread hop for /api/) answers POST /api/jobs
exactly as the documented API does through Django's test client: same status, same JSON, same
Retry-After, for an accepted job and for each refusal intake makes."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart
from PIL import Image
from rest_framework.test import APIClient

from campaign.intake.admission import admission_reset
from campaign.intake.device import device_id_sign
from campaign.intake.ratelimit import reset_rate_limiter
from tests.campaign.conftest import intake_campaign

pytestmark = pytest.mark.django_db(transaction=True)  # the API's pool threads need committed rows


def _photo_jpeg(width: int = 480, height: int = 360) -> bytes:
    rng = np.random.default_rng(width)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8)).save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


@pytest.fixture
def campaign(settings: Any, tmp_path: Path) -> Any:
    settings.RATELIMIT_ENABLED = True
    settings.API_CONN_MAX_AGE = 0  # pool threads close their connection: the test database is torn down
    yield from intake_campaign(settings)


def _form(photo: bytes, **fields: str) -> dict[str, Any]:
    upload = io.BytesIO(photo)
    upload.name = "me.jpg"
    return {"photo": upload, "gender": "female", "consent": "true", "age_confirmation": "self", **fields}


def _via_asgi(form: dict[str, Any], device: str) -> tuple[int, dict[str, str], dict[str, Any]]:
    """POST /api/jobs through the application uvicorn serves, as raw ASGI messages."""
    from campaign.asgi import application

    body = encode_multipart(BOUNDARY, form)
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/jobs",
        "raw_path": b"/api/jobs",
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", MULTIPART_CONTENT.encode()),
            (b"content-length", str(len(body)).encode()),
            (b"cookie", f"pg_device={device_id_sign(device)}".encode()),
        ],
        "client": ("203.0.113.7", 50000),
        "server": ("testserver", 80),
    }
    chunks = [body[:1000], body[1000:]]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if chunks:
            chunk = chunks.pop(0)
            return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}
        await asyncio.sleep(3600)  # the client waits for the answer
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(application(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    headers = {name.decode().lower(): value.decode() for name, value in start["headers"]}
    content = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], headers, json.loads(content)


def _via_test_client(form: dict[str, Any], device: str) -> tuple[int, dict[str, str], dict[str, Any]]:
    client = APIClient(REMOTE_ADDR="203.0.113.7")
    client.cookies["pg_device"] = device_id_sign(device)
    response = client.post("/api/jobs", form, format="multipart")
    return response.status_code, {k.lower(): v for k, v in response.items()}, response.json()


def _both(photo: bytes, device: str, **fields: str) -> list[tuple[int, dict[str, str], dict[str, Any]]]:
    """The same request through both ways in, with the limiter and admission figures reset between."""
    answers = []
    for way in (_via_test_client, _via_asgi):
        reset_rate_limiter()
        admission_reset()
        answers.append(way(_form(photo, **fields), device))
    return answers


def test_accepted_job_gets_the_same_answer_through_the_served_app(campaign: Any) -> None:
    from campaign.models import Job

    (status_a, headers_a, json_a), (status_b, headers_b, json_b) = _both(
        _photo_jpeg(), "device-accepted-0001"
    )

    assert (status_a, status_b) == (202, 202)
    assert set(json_a) == set(json_b) == {
        "id", "token", "status_url", "ws_url", "result_url", "queue_position", "eta_seconds",
    }  # fmt: skip
    assert json_b["status_url"] == f"http://testserver/api/jobs/{json_b['id']}"
    assert json_b["ws_url"] == f"ws://testserver/ws/jobs/{json_b['id']}/"
    assert json_b["queue_position"] == 2  # the test client's job is ahead of it
    assert Job.objects.filter(pk=json_b["id"], state="queued").exists()
    assert headers_b["content-type"] == headers_a["content-type"] == "application/json"
    assert headers_b["x-frame-options"] == headers_a["x-frame-options"] == "DENY"  # same middleware
    assert "x-request-id" in headers_b


@pytest.mark.parametrize(
    ("photo", "fields", "status", "code"),
    [
        (_photo_jpeg(), {"consent": "false"}, 400, "consent_required"),
        (_photo_jpeg(), {"age_confirmation": ""}, 400, "age_confirmation_required"),
        (b"%PDF-1.7 a document, not a photo", {}, 415, "not_an_image"),
        (_photo_jpeg()[:2000], {}, 400, "corrupt_image"),
        (_photo_jpeg(), {"gender": "robot"}, 400, "gender_invalid_choice"),
    ],
)
def test_refusals_are_identical_through_the_served_app(
    campaign: Any, photo: bytes, fields: dict[str, str], status: int, code: str
) -> None:
    from campaign.models import Job

    (status_a, _, json_a), (status_b, _, json_b) = _both(photo, "device-refused-00001", **fields)

    assert (status_b, json_b["code"]) == (status, code)
    assert (status_a, json_a) == (status_b, json_b)
    assert Job.objects.count() == 0


def test_over_capacity_is_503_with_the_same_retry_after(campaign: Any, settings: Any) -> None:
    settings.CPU_WORKER_SLOTS = 1
    settings.GPU_WORKER_SLOTS = 1
    settings.DEFAULT_STAGE_SECONDS = 60.0
    settings.DEFAULT_VIDEO_SECONDS = 60.0
    campaign.max_wait_seconds = 120
    campaign.save()
    photo = _photo_jpeg()
    for n in range(2):  # two queued jobs: a third would wait 180 s > 120 s
        assert _via_test_client(_form(photo), f"device-filler-0000{n}")[0] == 202

    (status_a, headers_a, json_a), (status_b, headers_b, json_b) = _both(photo, "device-busy-0000001")

    assert (status_b, json_b["code"], headers_b["retry-after"]) == (503, "busy", "60")
    assert (status_a, json_a, headers_a["retry-after"]) == (status_b, json_b, headers_b["retry-after"])


def test_flood_is_429_with_the_same_retry_after(campaign: Any) -> None:
    photo = _photo_jpeg()
    answers = []
    for way in (_via_test_client, _via_asgi):
        reset_rate_limiter()
        statuses = [way(_form(photo), "device-flood-000001")[0] for _ in range(3)]
        assert statuses == [202, 202, 202]
        answers.append(way(_form(photo), "device-flood-000001"))
    (status_a, headers_a, json_a), (status_b, headers_b, json_b) = answers

    assert (status_b, json_b["code"], headers_b["retry-after"]) == (429, "rate_limited", "10")
    assert (status_a, json_a, headers_a["retry-after"]) == (status_b, json_b, headers_b["retry-after"])


def test_oversize_declared_body_is_413_through_the_served_app(campaign: Any, settings: Any) -> None:
    settings.MAX_PHOTO_BYTES = 100_000

    status, _, answer = _via_asgi(_form(b"\xff\xd8\xff" + b"\x00" * 300_000), "device-oversize-0001")

    assert (status, answer["code"]) == (413, "file_too_large")


def test_api_pool_thread_keeps_its_database_connection_between_requests(campaign: Any, settings: Any) -> None:
    """The point of the fixed pool: one connection per thread for API_CONN_MAX_AGE, not one (and, with
    SQLite in WAL mode, a checkpoint on close) per request; other threads keep Django's CONN_MAX_AGE."""
    import threading
    import time

    from django.db import connections

    from campaign.asgi_api import OneHopASGIHandler

    if connections["default"].settings_dict.get("OPTIONS", {}).get("pool"):
        pytest.skip("with a connection pool (PostgreSQL) connections go back to the pool after each request")
    settings.API_CONN_MAX_AGE = 60
    handler = OneHopASGIHandler(threads=1)
    scope = {
        "type": "http", "method": "GET", "path": "/api/campaign", "raw_path": b"/api/campaign",
        "root_path": "", "query_string": b"", "headers": [(b"host", b"testserver")],
        "client": ("203.0.113.7", 50000), "server": ("testserver", 80), "scheme": "http",
    }  # fmt: skip

    def serve_and_inspect() -> tuple[int, int, float]:
        status = handler._respond(scope, io.BytesIO(b"")).status_code
        connection = connections["default"]
        return status, id(connection.connection), connection.close_at - time.monotonic()

    def plain_thread_close_at(found: list[float | None]) -> None:
        connections["default"].ensure_connection()
        found.append(connections["default"].close_at)
        connections["default"].close()

    try:
        answers = [handler.executor().submit(serve_and_inspect).result() for _ in range(3)]
    finally:
        handler.executor().submit(connections.close_all).result()
        handler.executor().shutdown()
    elsewhere: list[float | None] = []
    thread = threading.Thread(target=plain_thread_close_at, args=(elsewhere,))
    thread.start()
    thread.join()

    assert [status for status, _, _ in answers] == [200, 200, 200]
    assert len({connection for _, connection, _ in answers}) == 1  # the same database connection
    assert all(50 < left <= 60 for _, _, left in answers)
    assert elsewhere[0] is not None and elsewhere[0] <= time.monotonic()  # CONN_MAX_AGE=0 elsewhere
