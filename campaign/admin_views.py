"""The operators' dashboard: queue depths, throughput, stage durations and failures at a glance."""

from __future__ import annotations

import logging
from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from campaign.selectors import dashboard_stats

logger = logging.getLogger(__name__)


def broker_queue_depths() -> dict[str, int | None]:
    """Messages waiting in the broker per queue (Redis/Valkey broker), None where unknown."""
    from workers.broker import broker

    depths: dict[str, int | None] = {}
    client = getattr(broker, "client", None)
    for queue in ("cpu", "gpu", "ingest"):
        if client is None:
            depths[queue] = None
            continue
        try:
            namespace = getattr(broker, "namespace", "dramatiq")
            depths[queue] = int(client.hlen(f"{namespace}:{queue}.msgs")) + int(
                client.hlen(f"{namespace}:{queue}.DQ.msgs")
            )
        except Exception:
            logger.warning("broker unreachable for queue depth", exc_info=True)
            depths[queue] = None
    return depths


def dashboard(request: HttpRequest) -> HttpResponse:
    context: dict[str, Any] = {
        **admin.site.each_context(request),
        "title": "Campaign dashboard",
        "stats": dashboard_stats(),
        "broker_depths": broker_queue_depths(),
    }
    return TemplateResponse(request, "admin/dashboard.html", context)
