"""The operators' dashboard: queue depths, throughput, stage durations and failures at a glance."""

from __future__ import annotations

import json
import logging
from collections import Counter
from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from campaign.selectors import dashboard_stats

logger = logging.getLogger(__name__)


def broker_queue_depths() -> dict[str, dict[str, Any] | None]:
    """Per queue, what the Redis/Valkey broker holds, split the way an operator reads it; None where
    unknown (another broker, or it does not answer).

    `waiting`: messages no worker has taken yet. `taken`: fetched by a worker (running, or prefetched
    next). `scheduled`: delayed messages (retries with back-off, and the periodic maintenance the
    reconciler keeps scheduled on the cpu queue), with their actor names: a plain count of all of them
    made an idle platform look as if two jobs waited.
    """
    from campaign.broker import broker

    client = getattr(broker, "client", None)
    namespace = getattr(broker, "namespace", "dramatiq")
    depths: dict[str, dict[str, Any] | None] = {}
    for queue in ("cpu", "gpu", "ingest"):
        if client is None:
            depths[queue] = None
            continue
        name = f"{namespace}:{queue}"
        try:
            waiting = int(client.llen(name))
            held = int(client.hlen(f"{name}.msgs"))
            delayed = [_actor_name(body) for body in client.hvals(f"{name}.DQ.msgs")]
        except Exception:
            logger.warning("broker unreachable for queue depth", exc_info=True)
            depths[queue] = None
            continue
        depths[queue] = {
            "waiting": waiting,
            "taken": max(0, held - waiting),
            "scheduled": len(delayed),
            "scheduled_actors": ", ".join(
                f"{n} x{c}" if c > 1 else n for n, c in sorted(Counter(delayed).items())
            ),
        }
    return depths


def _actor_name(body: bytes | str) -> str:
    try:
        return str(json.loads(body).get("actor_name", "?"))
    except (ValueError, AttributeError):
        return "?"


def dashboard(request: HttpRequest) -> HttpResponse:
    stats = dashboard_stats()
    depths = broker_queue_depths()
    context: dict[str, Any] = {
        **admin.site.each_context(request),
        "title": "Campaign dashboard",
        "stats": stats,
        "queue_rows": [
            ("cpu (analyse, posters)", stats["waiting_cpu"], depths["cpu"]),
            ("gpu (video)", stats["waiting_gpu"], depths["gpu"]),
            ("ingest (editors: films, poster templates)", stats["waiting_ingest"], depths["ingest"]),
        ],
    }
    return TemplateResponse(request, "admin/dashboard.html", context)
