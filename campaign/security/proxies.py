"""The client's address and scheme behind proxies we trust, and only those (``TRUSTED_PROXIES``).

`X-Forwarded-For` is a list every hop appends to, and the client writes its left end: anything it
likes. So the address is found from the right: the socket peer first, then each XFF hop while the
address at hand is one of our proxies; the first address that is *not* ours is the client. With no
trusted proxies (the default) XFF is ignored and the socket peer is the client. uvicorn runs with
``--no-proxy-headers`` so that this is the only place that reads the header (its own
``--forwarded-allow-ips='*'`` let any client set its address, and so its rate-limit bucket).

`TrustedProxyHeaders` rewrites the ASGI scope's ``client`` (and ``scheme`` from
`X-Forwarded-Proto`) before anything else sees it, so Django's ``REMOTE_ADDR``, the rate limiter,
the admission share and the admin login throttle all use the same address.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Iterable
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from asgiref.typing import ASGIReceiveCallable, ASGISendCallable

if TYPE_CHECKING:
    from django.http import HttpRequest

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# A plain dict, not asgiref.typing's TypedDict Scope: this middleware rebuilds it with a new client/scheme.
Scope = dict[str, Any]
App = Callable[[Scope, ASGIReceiveCallable, ASGISendCallable], Awaitable[None]]


def trusted_networks_parse(values: Iterable[str]) -> tuple[Network, ...]:
    """CIDRs or single addresses -> networks; a typo raises ValueError at start-up, not silently."""
    networks = []
    for value in values:
        text = value.strip()
        if text:
            try:
                networks.append(ipaddress.ip_network(text, strict=False))
            except ValueError:
                raise ValueError(f"TRUSTED_PROXIES: {text!r} is not an IP address or CIDR") from None
    return tuple(networks)


def _parse(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # [v6]:port
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # v4:port
        text = text.split(":", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address, trusted: tuple[Network, ...]) -> bool:
    return any(address in network for network in trusted)


def client_address(peer: str, forwarded_for: str, trusted: tuple[Network, ...]) -> str:
    """The right-most address that is not a trusted proxy (the socket peer when it is not one)."""
    current = _parse(peer)
    if current is None or not _trusted(current, trusted):
        return peer
    for hop in reversed([h for h in forwarded_for.split(",") if h.strip()]):
        address = _parse(hop)
        if address is None:
            break  # garbage where our proxy should have written an address: stop at the last good one
        current = address
        if not _trusted(current, trusted):
            return str(current)
    return str(current)


@lru_cache(maxsize=8)
def _networks(values: tuple[str, ...]) -> tuple[Network, ...]:
    return trusted_networks_parse(values)


def trusted_networks() -> tuple[Network, ...]:
    from django.conf import settings

    return _networks(tuple(settings.TRUSTED_PROXIES))


class TrustedProxyHeaders:
    """ASGI middleware (HTTP and websocket): the scope's client and scheme as our proxies report them."""

    def __init__(self, app: App) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        if scope["type"] in ("http", "websocket"):
            trusted = trusted_networks()
            peer = (scope.get("client") or ("", 0))[0]
            if trusted and peer:
                headers = {
                    name.decode("latin-1").lower(): value.decode("latin-1")
                    for name, value in scope.get("headers", [])
                }
                address = client_address(peer, headers.get("x-forwarded-for", ""), trusted)
                parsed = _parse(peer)
                scope = {**scope, "client": (address, 0)}
                proto = headers.get("x-forwarded-proto", "").split(",")[-1].strip().lower()
                if parsed is not None and _trusted(parsed, trusted) and proto in ("http", "https"):
                    secure = proto == "https"
                    if scope["type"] == "websocket":
                        scope["scheme"] = "wss" if secure else "ws"
                    else:
                        scope["scheme"] = proto
        await self.app(scope, receive, send)


def request_client_address(request: HttpRequest) -> str:
    """A Django request's client address (django-axes' AXES_CLIENT_IP_CALLABLE): ``REMOTE_ADDR``, set
    from TRUSTED_PROXIES by `TrustedProxyHeaders`, never read from a header a client can write."""
    return str(request.META.get("REMOTE_ADDR") or "")
