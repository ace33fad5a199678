"""ASGI middleware that refuses floods and oversize request bodies before Django reads them.

Why here and not in the view: Django's ASGI handler reads the whole request body (spooling it to a
temporary file past ``FILE_UPLOAD_MAX_MEMORY_SIZE``) before any middleware or view runs, so a 2 GB
"photo" would be written to the web node's disk and only then refused, and a flood of refused uploads
would still cost a body read plus Django per request. This wrapper answers ``POST /api/jobs`` floods with
429 + ``Retry-After`` from the rate limiter (one Redis round trip, no body read), answers 413 at once
when ``Content-Length`` is too large, and stops reading a chunked body as soon as it passes the limit.

Every path has a limit: ``/api/`` the photo's (``MAX_PHOTO_BYTES`` + form overhead), everything else
``REQUEST_MAX_BYTES`` (1 MB: forms, logins), and the admin's film upload ``ADMIN_UPLOAD_MAX_BYTES``
(512 MB), but only for a request whose session is a staff user's (one database lookup, made only for
admin writes that carry a session cookie): an anonymous client cannot make us spool a gigabyte by
posting it to ``/admin/``. The view checks the rate limit itself only when no ASGI layer did (tests,
WSGI).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from campaign.intake.ratelimit import RateDecision

Scope = dict[str, Any]  # as Django's ASGIHandler types them
Message = Mapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

_FORM_OVERHEAD_BYTES = 64 * 1024
RATE_CHECKED = "protagonist.rate_checked"  # scope key: the view must not draw a second token
INTAKE_PATH = "/api/jobs"


class _BodyTooLarge(Exception):
    pass


def _api_body_limit() -> int:
    from campaign.intake.uploads import UploadLimits

    return UploadLimits.from_settings().max_bytes + _FORM_OVERHEAD_BYTES


def _default_body_limit() -> int:
    from django.conf import settings

    return int(settings.REQUEST_MAX_BYTES)


def _admin_body_limit() -> int:
    from django.conf import settings

    return int(settings.ADMIN_UPLOAD_MAX_BYTES)


def _staff_session_sync(session_key: str) -> bool:
    from django.conf import settings
    from django.contrib.auth import SESSION_KEY, get_user_model
    from django.contrib.sessions.backends.base import SessionBase
    from django.utils.module_loading import import_string

    store: SessionBase = import_string(f"{settings.SESSION_ENGINE}.SessionStore")(session_key)
    user_id = store.get(SESSION_KEY)
    if user_id is None:
        return False
    return get_user_model().objects.filter(pk=user_id, is_active=True, is_staff=True).exists()


async def _staff_session(scope: Scope) -> bool:
    """Whether the request's session cookie belongs to an active staff user (editors upload films)."""
    from channels.db import database_sync_to_async
    from django.conf import settings
    from django.http.cookie import parse_cookie

    cookies = parse_cookie(_header(scope, b"cookie"))
    session_key = cookies.get(settings.SESSION_COOKIE_NAME, "")
    if not session_key or len(session_key) > 64:
        return False
    return bool(await database_sync_to_async(_staff_session_sync)(session_key))


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return ""


def _rate_decision(scope: Scope) -> RateDecision:
    """The limiter's decision for this request, from headers and the peer address only."""
    from django.http.cookie import parse_cookie

    from campaign.intake.ratelimit import client_ip, device_id_from_request, get_rate_limiter

    headers = {
        name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope.get("headers", [])
    }
    client = scope.get("client") or ("unknown", 0)
    request = SimpleNamespace(
        META={"REMOTE_ADDR": client[0]},  # already resolved through TRUSTED_PROXIES (security.proxies)
        COOKIES=parse_cookie(headers.get("cookie", "")),
    )
    return get_rate_limiter().check(ip=client_ip(request), device_id=device_id_from_request(request))


async def _too_many(send: Send, decision: RateDecision) -> None:
    from campaign.intake.ratelimit import RateLimited

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


async def _refuse(send: Send, limit: int, *, api: bool) -> None:
    megabytes = max(1, limit // (1024 * 1024))
    refusal = (
        {
            "code": "file_too_large",
            "detail": f"The upload is larger than {megabytes} MB: upload a normal phone photo.",
        }
        if api
        else {"code": "request_too_large", "detail": f"The request body is larger than {megabytes} MB."}
    )
    body = json.dumps(refusal).encode()
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

    return bool(settings.RATELIMIT_ENABLED)


class RequestBodyLimit:
    """Wraps Django's ASGI app: 429 for intake floods, 413 for oversize bodies on any path, before the body."""

    def __init__(
        self,
        app: App,
        *,
        prefix: str = "/api/",
        limit: Callable[[], int] = _api_body_limit,
        default_limit: Callable[[], int] = _default_body_limit,
        admin_limit: Callable[[], int] = _admin_body_limit,
        admin_prefix: str = "/admin/",
    ) -> None:
        self.app = app
        self.prefix = prefix
        self.limit = limit
        self.default_limit = default_limit
        self.admin_limit = admin_limit
        self.admin_prefix = admin_prefix

    async def _limit_for(self, scope: Scope) -> int:
        path = str(scope.get("path", ""))
        if path.startswith(self.prefix):
            return self.limit()
        if (
            path.startswith(self.admin_prefix)
            and scope.get("method") in ("POST", "PUT", "PATCH")
            and await _staff_session(scope)
        ):
            return self.admin_limit()
        return self.default_limit()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        api = str(scope.get("path", "")).startswith(self.prefix)
        if scope.get("method") == "POST" and scope.get("path") == INTAKE_PATH and _rate_limiting_enabled():
            decision = await asyncio.get_running_loop().run_in_executor(None, _rate_decision, scope)
            if not decision.allowed:
                await _too_many(send, decision)
                return
            scope = {**scope, RATE_CHECKED: True}
        declared_text = _header(scope, b"content-length")
        if scope.get("method") in ("GET", "HEAD", "OPTIONS") and not declared_text:
            limit = self.default_limit()  # no body expected: no session lookup either
        else:
            limit = await self._limit_for(scope)
        if declared_text:
            try:
                declared = int(declared_text)
            except ValueError:
                declared = 0
            if declared > limit:
                await _refuse(send, limit, api=api)
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
                await _refuse(send, limit, api=api)
