"""Prometheus metrics at `/metrics`: queue depth, jobs by state, stage durations, failures, websockets.

Job figures are read from the database at scrape time (the database is the truth, and it sees every
worker on every machine) and cached for `CACHE_S` so that several scrapers cost one set of queries.
Queue depth comes from the broker itself: the number KEDA scales workers on. The websocket gauge is
per web process (each pod is scraped on its own). Nothing here names a visitor.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

QUEUES = ("cpu", "gpu", "ingest")  # visitors: cpu, gpu; editors: ingest
CACHE_S = 5.0

registry = CollectorRegistry(auto_describe=True)
websocket_connections = Gauge(
    "protagonist_websocket_connections",
    "Open job-progress websockets in this web process.",
    registry=registry,
)


def websocket_opened() -> None:
    websocket_connections.inc()


def websocket_closed() -> None:
    websocket_connections.dec()


def broker_queue_depths() -> dict[str, dict[str, int]]:
    """Ready and delayed (retry backoff) messages per queue, straight from the broker."""
    import dramatiq

    from campaign import broker as _configured  # noqa: F401  (configures the broker in this process)

    broker = dramatiq.get_broker()
    depths: dict[str, dict[str, int]] = {}
    client = getattr(broker, "client", None)
    for queue in QUEUES:
        if client is not None:
            namespace = getattr(broker, "namespace", "dramatiq")
            depths[queue] = {
                "ready": int(client.llen(f"{namespace}:{queue}")),
                "delayed": int(client.zcard(f"{namespace}:{queue}.DQ"))
                if client.type(f"{namespace}:{queue}.DQ") == b"zset"
                else int(client.llen(f"{namespace}:{queue}.DQ")),
            }
        elif hasattr(broker, "queues") and isinstance(broker.queues, dict):  # StubBroker (in-process)
            stub = broker.queues.get(queue)
            delayed = broker.queues.get(f"{queue}.DQ")
            depths[queue] = {
                "ready": stub.qsize() if stub is not None else 0,
                "delayed": delayed.qsize() if delayed is not None else 0,
            }
        elif hasattr(broker, "get_queue_message_counts"):
            ready, delayed, _dead = broker.get_queue_message_counts(queue)
            depths[queue] = {"ready": int(ready), "delayed": int(delayed)}
    return depths


def _percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def job_figures(*, window: timedelta = timedelta(hours=1)) -> dict[str, Any]:
    """Jobs by state, waiting per queue, stage duration quantiles and failures by code (one window)."""
    from django.db.models import Count
    from django.utils import timezone

    from campaign.models import ACTIVE_STATES, Job, JobState

    now = timezone.now()
    by_state = dict(Job.objects.values_list("state").annotate(n=Count("id")).values_list("state", "n"))
    failures_total = dict(
        Job.objects.filter(state=JobState.FAILED)
        .values_list("failure_code")
        .annotate(n=Count("id"))
        .values_list("failure_code", "n")
    )
    expired_leases = Job.objects.filter(state__in=ACTIVE_STATES, lease_expires_at__lt=now).count()
    durations: dict[str, list[float]] = {"wait": [], "analyze": [], "posters": [], "video": [], "total": []}
    finished = Job.objects.filter(finished_at__gte=now - window, state=JobState.DONE).only(
        "created_at", "analyzing_at", "posters_at", "video_at", "finished_at", "state"
    )[:5000]
    for job in finished:
        for stage, seconds in job.stage_seconds.items():
            if seconds is not None:
                durations[stage].append(seconds)
        if job.finished_at is not None:  # always, by the filter
            durations["total"].append((job.finished_at - job.created_at).total_seconds())
    return {
        "by_state": {state: by_state.get(state, 0) for state in JobState.values},
        "waiting": {
            "cpu": sum(by_state.get(s, 0) for s in (JobState.QUEUED, JobState.ANALYZING, JobState.POSTERS)),
            "gpu": by_state.get(JobState.VIDEO, 0),
        },
        "durations": {stage: sorted(values) for stage, values in durations.items()},
        "failures_total": failures_total,
        "expired_leases": expired_leases,
    }


class CampaignCollector(Collector):
    """Collects at scrape time (cached), so every figure is current and agrees across web pods."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cached_at = 0.0
        self._cached: list[GaugeMetricFamily] = []

    def describe(self) -> list[GaugeMetricFamily]:
        return []  # no database query when the collector is registered at import time

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self._lock:
            if time.monotonic() - self._cached_at > CACHE_S:
                self._cached = self._families()
                self._cached_at = time.monotonic()
            yield from self._cached

    def _families(self) -> list[GaugeMetricFamily]:
        families: list[GaugeMetricFamily] = []
        up = GaugeMetricFamily("protagonist_broker_up", "1 when the broker answered the last scrape.")
        depth = GaugeMetricFamily(
            "protagonist_queue_depth", "Messages waiting in the broker per queue.", labels=["queue", "kind"]
        )
        try:
            for queue, counts in broker_queue_depths().items():
                for kind, value in counts.items():
                    depth.add_metric([queue, kind], value)
            up.add_metric([], 1)
        except Exception:
            logger.warning("metrics: broker unreachable", exc_info=True)
            up.add_metric([], 0)
        families += [up, depth]
        try:
            figures = job_figures()
        except Exception:
            logger.warning("metrics: database unreachable", exc_info=True)
            return families
        jobs = GaugeMetricFamily("protagonist_jobs", "Jobs by state (database).", labels=["state"])
        for state, count in figures["by_state"].items():
            jobs.add_metric([state], count)
        waiting = GaugeMetricFamily(
            "protagonist_jobs_waiting", "Active jobs that still need a queue (database).", labels=["queue"]
        )
        for queue, count in figures["waiting"].items():
            waiting.add_metric([queue], count)
        stage = GaugeMetricFamily(
            "protagonist_stage_seconds",
            "Stage durations of jobs finished in the last hour (wait = time queued before analysis).",
            labels=["stage", "quantile"],
        )
        count = GaugeMetricFamily(
            "protagonist_stage_samples", "Jobs behind protagonist_stage_seconds.", labels=["stage"]
        )
        for name, values in figures["durations"].items():
            count.add_metric([name], len(values))
            if values:
                for q in (0.5, 0.95, 0.99):
                    stage.add_metric([name, str(q)], _percentile(values, q))
        failures = GaugeMetricFamily(
            "protagonist_job_failures", "Failed jobs by failure code (database).", labels=["code"]
        )
        for code, n in figures["failures_total"].items():
            failures.add_metric([code or "unknown"], n)
        expired = GaugeMetricFamily(
            "protagonist_expired_leases",
            "Active jobs whose worker stopped heartbeating (the reconciler is about to recover them).",
        )
        expired.add_metric([], figures["expired_leases"])
        return [*families, jobs, waiting, stage, count, failures, expired]


registry.register(CampaignCollector())


def _loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus text format, for `Authorization: Bearer <METRICS_TOKEN>` only; without a token set,
    for loopback clients only (queue depths and failure counts are no one else's business)."""
    token = settings.METRICS_TOKEN
    if token:
        supplied = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        allowed = hmac.compare_digest(supplied.encode(), token.encode())
    else:
        allowed = _loopback(request.META.get("REMOTE_ADDR", ""))
    if not allowed:
        return HttpResponse("metrics token required", status=401, content_type="text/plain")
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
