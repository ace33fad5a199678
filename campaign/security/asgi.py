"""ASGI middleware that refuses floods and oversize API request bodies before Django reads them.

Why here and not in the view: Django's ASGI handler reads the whole request body (spooling it to a
temporary file past ``FILE_UPLOAD_MAX_MEMORY_SIZE``) before any middleware or view runs, so a 2 GB
"photo" would be written to the web node's disk and only then refused, and a flood of refused uploads
would still cost a body read plus Django per request. This wrapper answers ``POST /api/jobs`` floods with
429 + ``Retry-After`` from the rate limiter (one Redis round trip, no body read), answers 413 at once
when ``Content-Length`` is too large, and stops reading a chunked body as soon as it passes the limit.
Only ``/api/`` is limited: editors upload films through admin. The view checks the rate limit itself
only when no ASGI layer did (tests, WSGI).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, MutableMapping
from types import SimpleNamespace
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

_FORM_OVERHEAD_BYTES = 64 * 1024
RATE_CHECKED = "protagonist.rate_checked"  # scope key: the view must not draw a second token
INTAKE_PATH = "/api/jobs"


class _BodyTooLarge(Exception):
    pass


def _api_body_limit() -> int:
    from campaign.security.uploads import UploadLimits

    return UploadLimits.from_settings().max_bytes + _FORM_OVERHEAD_BYTES


def _rate_decision(scope: Scope) -> Any:
    """The limiter's decision for this request, from headers and the peer address only."""
    from django.http.cookie import parse_cookie

    from campaign.security.ratelimit import client_ip, device_id_from_request, get_rate_limiter

    headers = {
        name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope.get("headers", [])
    }
    client = scope.get("client") or ("unknown", 0)
    request = SimpleNamespace(
        META={"REMOTE_ADDR": client[0]},  # already resolved through TRUSTED_PROXIES (security.proxies)
        COOKIES=parse_cookie(headers.get("cookie", "")),
    )
    return get_rate_limiter().check(ip=client_ip(request), device_id=device_id_from_request(request))


async def _too_many(send: Send, decision: Any) -> None:
    from campaign.security.ratelimit import RateLimited

    refusal = RateLimited(decision)
    body = json.dumps(
        {"code": refusal.code, "detail": refusal.detail, "retry_after": refusal.retry_after_s}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 429,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", str(refusal.retry_after_s).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


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


def _rate_limiting_enabled() -> bool:
    from django.conf import settings

    return bool(getattr(settings, "RATELIMIT_ENABLED", True))


class RequestBodyLimit:
    """Wraps Django's ASGI app: 429 for intake floods and 413 for oversize API bodies, before the body."""

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
        if scope.get("method") == "POST" and scope.get("path") == INTAKE_PATH and _rate_limiting_enabled():
            decision = await asyncio.get_running_loop().run_in_executor(None, _rate_decision, scope)
            if not decision.allowed:
                await _too_many(send, decision)
                return
            scope = {**scope, RATE_CHECKED: True}
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
