"""The visitor's device identity: a random id the server issues and signs, kept in a cookie.

Why signed: the per-device rate limit and queue share key on it, so a value the client makes up
(a fresh one per request, or a forged one) must not count as a device. `django.core.signing` with its
own salt: only this server can mint an id, and `SECRET_KEY` rotation (``SECRET_KEY_FALLBACKS``) keeps
existing ids valid. A request without a valid id is *anonymous* and gets the tighter anonymous limit
of its address; the H5 page gets its id on the page load (`DeviceCookieMiddleware`), API answers
carry one too.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Protocol

from django.conf import settings
from django.core import signing

if TYPE_CHECKING:
    from django.http import HttpRequest
    from django.http.response import HttpResponseBase

DEVICE_COOKIE = "pg_device"
_SALT = "protagonist.device.v1"
_RAW_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_MAX_AGE_S = 365 * 24 * 3600


class ClientRequest(Protocol):
    """What the intake checks read of a request (address, cookies). A Protocol, not HttpRequest: the
    ASGI layer (`campaign.intake.asgi`) checks the rate limit before Django builds a request."""

    @property
    def META(self) -> Mapping[str, object]: ...

    @property
    def COOKIES(self) -> Mapping[str, str]: ...


def _signer() -> signing.Signer:
    return signing.Signer(salt=_SALT)


def device_id_sign(raw_id: str) -> str:
    """The cookie value for `raw_id` (16-64 URL-safe characters): the id and its signature."""
    if not _RAW_ID.match(raw_id):
        raise ValueError("a device id is 16-64 URL-safe characters")
    return _signer().sign(raw_id)


def device_id_new() -> str:
    """A fresh cookie value: a random id and its signature."""
    return device_id_sign(secrets.token_urlsafe(18))


def device_id_verify(value: str | None) -> str | None:
    """The device id a cookie value proves, or None (absent, forged, tampered or another key's)."""
    if not value or len(value) > 200:
        return None
    try:
        raw = _signer().unsign(value)
    except signing.BadSignature:
        return None
    return raw if _RAW_ID.match(raw) else None


def device_id_from_request(request: ClientRequest) -> str | None:
    """The request's verified device id; anything else in the cookie is ignored, never trusted."""
    return device_id_verify(request.COOKIES.get(DEVICE_COOKIE))


def device_cookie_ensure(request: HttpRequest, response: HttpResponseBase) -> None:
    """Give a client without a valid device id a fresh signed one (HttpOnly, SameSite=Lax)."""
    if device_id_from_request(request) is not None or DEVICE_COOKIE in response.cookies:
        return
    response.set_cookie(
        DEVICE_COOKIE,
        device_id_new(),
        max_age=_MAX_AGE_S,
        httponly=True,
        samesite="Lax",
        secure=bool(settings.SESSION_COOKIE_SECURE),
    )


class DeviceCookieMiddleware:
    """Issues the device cookie with every HTML page and API answer that lacks a valid one, so the H5
    page holds a device id before its first upload (static files and media are left alone)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        content_type = str(response.get("Content-Type", ""))
        if request.path.startswith("/api/") or (
            request.method == "GET" and content_type.startswith("text/html") and response.status_code == 200
        ):
            device_cookie_ensure(request, response)
        return response
