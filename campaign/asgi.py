"""ASGI entry point: Django for HTTP, Channels for websockets (Origin must be this site: scheme, host, port)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from asgiref.typing import ASGIReceiveCallable, ASGISendCallable, LifespanScope

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "campaign.settings")

from django.core.asgi import get_asgi_application

django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402

from campaign.asgi_api import ApiRouter, OneHopASGIHandler  # noqa: E402
from campaign.intake.asgi import RequestBodyLimit  # noqa: E402
from campaign.routing import websocket_urlpatterns  # noqa: E402
from campaign.security.proxies import TrustedProxyHeaders  # noqa: E402
from campaign.security.websocket import SameOriginValidator  # noqa: E402


async def lifespan(scope: LifespanScope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
    """Acknowledge the server's start-up and shutdown: nothing needs doing then (Django and Channels
    connect lazily), but without an answer uvicorn logs "ASGI 'lifespan' protocol appears unsupported"."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


# TrustedProxyHeaders first: the client address and scheme everything after it sees come from the
# socket peer, or from X-Forwarded-* only when the peer is one of TRUSTED_PROXIES.
application = TrustedProxyHeaders(
    ProtocolTypeRouter(
        {
            # 429/413 for intake floods and oversize API bodies before the body is read
            # (campaign.intake.asgi); then /api/ runs Django's middleware and the view in one thread hop
            # (campaign.asgi_api), everything else through Django's own ASGI handler.
            "http": RequestBodyLimit(
                ApiRouter(django_asgi_app, OneHopASGIHandler(threads=settings.API_THREADS))
            ),
            "websocket": SameOriginValidator(URLRouter(websocket_urlpatterns)),
            "lifespan": lifespan,
        }
    )
)
