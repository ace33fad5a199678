"""ASGI middleware that refuses oversize API request bodies before Django reads them.

Why here and not in the view: Django's ASGI handler reads the whole request body (spooling it to a
temporary file past ``FILE_UPLOAD_MAX_MEMORY_SIZE``) before any middleware or view runs, so a 2 GB
"photo" would be written to the web node's disk and only then refused. This wrapper answers 413 at once
when ``Content-Length`` is too large and stops reading a chunked body as soon as it passes the limit.
Only ``/api/`` is limited: editors upload films through admin.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

_FORM_OVERHEAD_BYTES = 64 * 1024


class _BodyTooLarge(Exception):
    pass


def _api_body_limit() -> int:
    from campaign.security.uploads import UploadLimits

    return UploadLimits.from_settings().max_bytes + _FORM_OVERHEAD_BYTES


async def _refuse(send: Send, limit: int) -> None:
    body = json.dumps(
        {
            "code": "file_too_large",
            "detail": f"The upload is larger than {limit // (1024 * 1024)} MB: upload a normal phone photo.",
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class RequestBodyLimit:
    """Wraps Django's ASGI app: 413 for API bodies over the photo limit, without reading them."""

    def __init__(
        self, app: App, *, prefix: str = "/api/", limit: Callable[[], int] = _api_body_limit
    ) -> None:
        self.app = app
        self.prefix = prefix
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        limit = self.limit()
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > limit:
                    await _refuse(send, limit)
                    return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if not started:
                await _refuse(send, limit)
