"""ASGI entry point: Django for HTTP, Channels for websockets (Origin checked against ALLOWED_HOSTS)."""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "campaign.settings")

from django.core.asgi import get_asgi_application

django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from campaign.routing import websocket_urlpatterns  # noqa: E402
from campaign.security.asgi import RequestBodyLimit  # noqa: E402

application = ProtocolTypeRouter(
    {
        # 413 for oversize API bodies before Django spools them to disk (campaign.security.asgi).
        "http": RequestBodyLimit(django_asgi_app),
        "websocket": AllowedHostsOriginValidator(URLRouter(websocket_urlpatterns)),
    }
)
