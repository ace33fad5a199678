"""Oversize API bodies are refused before Django reads (and spools to disk) a single byte of them."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from campaign.intake.asgi import RATE_CHECKED, RequestBodyLimit
from campaign.intake.device import device_id_sign
from campaign.intake.ratelimit import reset_rate_limiter


@pytest.fixture(autouse=True)
def local_limiter(settings: Any) -> Any:
    """The limiter without Redis (its per-process buckets), fresh for each test."""
    settings.RATELIMIT_REDIS_URL = ""
    settings.CHANNEL_REDIS_URL = ""
    settings.RATELIMIT_ENABLED = True
    settings.RATELIMIT_DEVICE = (3, 6.0)
    settings.RATELIMIT_IP = (1000, 1000.0)
    reset_rate_limiter()
    yield
    reset_rate_limiter()


def _run(
    app: Any, path: str, headers: list[tuple[bytes, bytes]], chunks: list[bytes]
) -> tuple[int, bytes, int]:
    sent: list[dict[str, Any]] = []
    read = 0

    async def receive() -> dict[str, Any]:
        nonlocal read
        if read < len(chunks):
            read += 1
            return {"type": "http.request", "body": chunks[read - 1], "more_body": read < len(chunks)}
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "headers": headers,
        "client": ("203.0.113.9", 5000),
    }
    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], body, read, dict(start.get("headers", []))


SEEN_SCOPES: list[dict[str, Any]] = []


async def _reading_app(scope: Any, receive: Any, send: Any) -> None:
    """Like Django's ASGI handler: reads the whole body first, then answers."""
    SEEN_SCOPES.append(scope)
    while True:
        message = await receive()
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 202, "headers": []})
    await send({"type": "http.response.body", "body": b"accepted"})


def test_declared_oversize_body_is_refused_without_reading_it() -> None:
    app = RequestBodyLimit(_reading_app, limit=lambda: 1000)

    status, body, read, _ = _run(app, "/api/jobs", [(b"content-length", b"5000000")], [b"x" * 1000] * 5000)

    assert (status, json.loads(body)["code"], read) == (413, "file_too_large", 0)


def test_chunked_body_is_cut_off_once_past_the_limit() -> None:
    app = RequestBodyLimit(_reading_app, limit=lambda: 2500)

    status, body, read, _ = _run(app, "/api/jobs", [], [b"x" * 1000] * 5000)

    assert (status, json.loads(body)["code"]) == (413, "file_too_large")
    assert read == 3  # stopped at the first chunk over the limit, not after 5000


def test_bodies_within_the_limit_pass() -> None:
    app = RequestBodyLimit(_reading_app, limit=lambda: 2500, default_limit=lambda: 1500)

    assert _run(app, "/api/jobs", [(b"content-length", b"2000")], [b"x" * 2000])[0] == 202
    assert _run(app, "/", [(b"content-length", b"1500")], [b"x" * 1500])[0] == 202


def test_every_other_path_has_its_own_smaller_limit() -> None:
    app = RequestBodyLimit(_reading_app, limit=lambda: 2500, default_limit=lambda: 1500)

    declared = _run(app, "/", [(b"content-length", b"1000000000")], [b"x" * 1000] * 5000)
    chunked = _run(app, "/admin/login/", [], [b"x" * 1000] * 5000)  # no staff session: the small limit

    assert (declared[0], json.loads(declared[1])["code"], declared[2]) == (413, "request_too_large", 0)
    assert (chunked[0], json.loads(chunked[1])["code"], chunked[2]) == (413, "request_too_large", 2)


def test_flood_is_refused_with_429_before_the_body_or_django() -> None:
    app = RequestBodyLimit(_reading_app, limit=lambda: 100_000)
    cookie = [(b"cookie", f"pg_device={device_id_sign('flooding-device-000000042')}".encode())]
    SEEN_SCOPES.clear()

    answers = [_run(app, "/api/jobs", cookie, [b"photo"]) for _ in range(4)]

    assert [status for status, *_ in answers] == [202, 202, 202, 429]
    _, body, read, headers = answers[3]
    assert (json.loads(body)["code"], read, int(headers[b"retry-after"])) == ("rate_limited", 0, 10)
    assert len(SEEN_SCOPES) == 3 and all(scope[RATE_CHECKED] for scope in SEEN_SCOPES)  # view skips its check


@pytest.mark.django_db(transaction=True)
def test_a_staff_session_gets_the_film_upload_limit_and_nobody_else(settings: Any) -> None:
    from django.contrib.auth import get_user_model
    from django.test import Client

    from tests.asgi_http import asgi_request

    settings.REQUEST_MAX_BYTES = 1000
    settings.ADMIN_UPLOAD_MAX_BYTES = 100_000
    editor_user = get_user_model().objects.create_user("editor", password="pw-editor-1", is_staff=True)
    browser = Client()
    browser.force_login(editor_user)  # login() has no request for django-axes to count against
    session = [(b"cookie", f"{settings.SESSION_COOKIE_NAME}={browser.session.session_key}".encode())]
    forged = [(b"cookie", f"{settings.SESSION_COOKIE_NAME}={'x' * 32}".encode())]
    film = [(b"content-type", b"application/octet-stream"), (b"content-length", b"50000")]

    editor = asgi_request(
        "/admin/campaign/film/add/", method="POST", headers=session + film, body=b"x" * 50_000
    )
    stranger = asgi_request(
        "/admin/campaign/film/add/", method="POST", headers=forged + film, body=b"x" * 50_000
    )

    assert editor.status == 403  # past the limit layer: Django read it and wants its CSRF token
    assert (stranger.status, json.loads(stranger.body)["code"]) == (413, "request_too_large")
