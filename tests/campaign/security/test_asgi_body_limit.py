"""Oversize API bodies are refused before Django reads (and spools to disk) a single byte of them."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from campaign.security.asgi import RequestBodyLimit


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

    scope = {"type": "http", "method": "POST", "path": path, "headers": headers}
    asyncio.run(app(scope, receive, send))
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, body, read


async def _reading_app(scope: Any, receive: Any, send: Any) -> None:
    """Like Django's ASGI handler: reads the whole body first, then answers."""
    while True:
        message = await receive()
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 202, "headers": []})
    await send({"type": "http.response.body", "body": b"accepted"})


def test_declared_oversize_body_is_refused_without_reading_it() -> None:
    app = RequestBodyLimit(_reading_app, limit=lambda: 1000)

    status, body, read = _run(app, "/api/jobs", [(b"content-length", b"5000000")], [b"x" * 1000] * 5000)

    assert (status, json.loads(body)["code"], read) == (413, "file_too_large", 0)


def test_chunked_body_is_cut_off_once_past_the_limit() -> None:
    app = RequestBodyLimit(_reading_app, limit=lambda: 2500)

    status, body, read = _run(app, "/api/jobs", [], [b"x" * 1000] * 5000)

    assert (status, json.loads(body)["code"]) == (413, "file_too_large")
    assert read == 3  # stopped at the first chunk over the limit, not after 5000


def test_bodies_within_the_limit_and_other_paths_pass() -> None:
    app = RequestBodyLimit(_reading_app, limit=lambda: 2500)

    assert _run(app, "/api/jobs", [(b"content-length", b"2000")], [b"x" * 2000])[0] == 202
    assert _run(app, "/admin/films/upload", [], [b"x" * 1000] * 10)[0] == 202  # editors' film uploads
