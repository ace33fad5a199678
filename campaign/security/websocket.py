"""Websocket handshakes: the Origin must be this site exactly (scheme, host and port), and a path we
do not route is refused cleanly.

Channels' `AllowedHostsOriginValidator` compares only the Origin's host with ``ALLOWED_HOSTS``, so a
page on ``http://127.0.0.1:9999`` (another local service, another scheme) could open our sockets. Here
the Origin must be the origin the browser used for the page that opens the socket, i.e. the request's
own: ``https`` for ``wss`` and ``http`` for ``ws`` (the scheme behind our proxies comes from
`campaign.security.proxies`), and the ``Host`` header with its port, that host also in
``ALLOWED_HOSTS``; or one of ``CSRF_TRUSTED_ORIGINS`` (full origins, for a page served elsewhere).

An unrouted path (``/``, ``/ws/``, ``/ws/jobs/not-a-uuid/``) made Channels' router raise, which the
server answered with HTTP 500 and a traceback; `refuse_unrouted` denies the handshake (HTTP 403).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from asgiref.typing import ASGIReceiveCallable, ASGISendCallable, WebSocketScope
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.security.websocket import WebsocketDenier
from django.http.request import split_domain_port, validate_host

App = Callable[[WebSocketScope, ASGIReceiveCallable, ASGISendCallable], Awaitable[None]]
_DEFAULT_PORT = {"http": 80, "https": 443}


def _origin_tuple(origin: str) -> tuple[str, str, int] | None:
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in _DEFAULT_PORT or not parts.hostname or parts.path not in ("", "/"):
        return None
    return parts.scheme, parts.hostname.lower(), port or _DEFAULT_PORT[parts.scheme]


def origin_allowed(
    *, origin: str, scheme: str, host: str, allowed_hosts: list[str], trusted: list[str]
) -> bool:
    """Whether a handshake's `origin` is this site (scheme + host + port) or a trusted origin."""
    parsed = _origin_tuple(origin)
    if parsed is None:
        return False
    if any(_origin_tuple(candidate) == parsed for candidate in trusted):
        return True
    page_scheme = "https" if scheme == "wss" else "http"
    domain, _ = split_domain_port(host)
    if not domain or not validate_host(domain, allowed_hosts):
        return False
    return _origin_tuple(f"{page_scheme}://{host}") == parsed


class SameOriginValidator:
    """ASGI middleware for websockets: deny (HTTP 403) a handshake whose Origin is not ours."""

    def __init__(self, app: App) -> None:
        self.app = app

    async def __call__(
        self, scope: WebSocketScope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        from django.conf import settings

        headers = {name.lower(): value.decode("latin-1") for name, value in scope.get("headers", [])}
        allowed_hosts = list(settings.ALLOWED_HOSTS)
        if settings.DEBUG and not allowed_hosts:
            allowed_hosts = [".localhost", "127.0.0.1", "[::1]"]
        if origin_allowed(
            origin=headers.get(b"origin", ""),
            scheme=str(scope.get("scheme", "ws")),
            host=headers.get(b"host", ""),
            allowed_hosts=allowed_hosts,
            trusted=list(settings.CSRF_TRUSTED_ORIGINS),
        ):
            await self.app(scope, receive, send)
        else:
            await WebsocketDenier()(scope, receive, send)


class UnroutedWebsocket(AsyncWebsocketConsumer):
    """The catch-all route: deny the handshake (HTTP 403) instead of a router error (HTTP 500)."""

    async def connect(self) -> None:
        await self.close()


refuse_unrouted = UnroutedWebsocket.as_asgi()
