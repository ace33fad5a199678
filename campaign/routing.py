from __future__ import annotations

from django.urls import path, re_path

from campaign.consumers import JobProgressConsumer
from campaign.security.websocket import refuse_unrouted

websocket_urlpatterns = [
    path("ws/jobs/<uuid:job_id>/", JobProgressConsumer.as_asgi(), name="ws-job"),
    re_path(r"", refuse_unrouted),  # any other path: a clean refusal, not a router error (HTTP 500)
]
