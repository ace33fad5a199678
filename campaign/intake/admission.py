"""Admission control that prefers queueing to refusing ("cut the peak, fill the valley").

A visitor on an H5 page who reads "service busy" leaves, so intake accepts every job whose estimated
wait stays within the campaign's promise (``Campaign.max_wait_seconds``, editable in admin) and the
hard cap (``Campaign.max_queued_jobs``); only beyond that does it answer 503 with ``Retry-After``, and
the page retries by itself. Never accepting a job that cannot be kept is the other half of the promise.

The estimate, per queue (``cpu``: analyse + posters; ``gpu``: the film; the CPU fallback is the same
queue name), is *jobs ahead / live throughput*. Throughput is jobs completed per minute over the last
``window`` (default 5 min), but never less than the capacity implied by recent service times
(slots x 60 / median seconds per job): completions undercount capacity while demand is low, service
times do not. Before any job has finished, ``DEFAULT_STAGE_SECONDS`` / ``DEFAULT_VIDEO_SECONDS`` stand
in. The job's wait is the slower (bottleneck) queue's, because stages overlap as a pipeline.
Only visitor queues count: the editors' ``ingest`` queue (film ingest, poster templates) has its
own worker, so it takes no capacity from visitors, and its messages are not jobs in the Job table.

Cost: intake must stay cheap at thousands of requests per second, so the database figures are read at
most once per ``ADMISSION_SNAPSHOT_TTL_S`` (1 s) per process and jobs admitted since are counted
locally. Between refreshes another web process's admissions are not seen, so the promise can be
overshot by at most (processes - 1) x intake rate x 1 s of jobs: a few seconds of extra wait against a
promise of minutes.
"""

from __future__ import annotations

import math
import statistics
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from campaign.errors import ServiceBusy

if TYPE_CHECKING:
    from campaign.models import Campaign

MIN_RETRY_AFTER_S = 5
MAX_RETRY_AFTER_S = 300


@dataclass(frozen=True)
class QueueLoad:
    """One queue: jobs that still need it, and how many it completes per minute."""

    name: str
    depth: int
    per_minute: float

    def wait_seconds(self, position: int) -> float:
        """Seconds until the job at `position` (1 = next) is through this queue."""
        return position * 60.0 / self.per_minute if self.per_minute > 0 else math.inf


@dataclass(frozen=True)
class Admission:
    """An accepted job's place: shown to the visitor at once, refined later over the websocket."""

    queue_position: int
    eta_seconds: int


def admission_decide(
    *, queues: list[QueueLoad], pending_local: int, max_wait_s: int, max_queued: int
) -> Admission:
    """Accept (position + ETA) or raise ServiceBusy with a Retry-After. Pure: tested without a database.

    `pending_local` counts jobs this process admitted since `queues` was measured.
    """
    depth = max((queue.depth for queue in queues), default=0) + pending_local
    position = depth + 1
    eta = max((queue.wait_seconds(queue.depth + pending_local + 1) for queue in queues), default=0.0)
    if depth >= max_queued:
        slowest = min((queue.per_minute for queue in queues), default=0.0)
        drain = (depth - max_queued + 1) * 60.0 / slowest if slowest > 0 else MAX_RETRY_AFTER_S
        raise ServiceBusy(
            "Very busy right now: so many photos are waiting that yours could not be finished in time. "
            "We will try again automatically in a moment.",
            retry_after_s=_clamp(drain),
        )
    if eta > max_wait_s:
        raise ServiceBusy(
            f"Very busy right now: the wait would be longer than the {max_wait_s // 60} minutes we promise. "
            "We will try again automatically in a moment.",
            retry_after_s=_clamp(eta - max_wait_s),
        )
    return Admission(queue_position=position, eta_seconds=math.ceil(eta))


def _clamp(seconds: float) -> int:
    if math.isinf(seconds) or math.isnan(seconds):
        return MAX_RETRY_AFTER_S
    return int(min(MAX_RETRY_AFTER_S, max(MIN_RETRY_AFTER_S, math.ceil(seconds))))


# -------------------------------------------------------------------------------------- live figures


def _median_seconds(pairs: list[tuple[datetime | None, datetime | None]], default: float) -> float:
    spans = [(end - start).total_seconds() for start, end in pairs if start and end and end > start]
    return statistics.median(spans) if spans else default


def queue_loads_measure(*, window: timedelta = timedelta(minutes=5)) -> list[QueueLoad]:
    """Depth and throughput of the cpu and gpu queues from the Job table (a handful of indexed queries)."""
    from django.conf import settings
    from django.db.models import Count
    from django.utils import timezone

    from campaign.models import ACTIVE_STATES, Job, JobState

    now = timezone.now()
    since = now - window
    by_state = dict(
        Job.objects.filter(state__in=ACTIVE_STATES)
        .values_list("state")
        .annotate(n=Count("id"))
        .values_list("state", "n")
    )
    cpu_depth = (
        by_state.get(JobState.QUEUED, 0)
        + by_state.get(JobState.ANALYZING, 0)
        + by_state.get(JobState.POSTERS, 0)
    )
    gpu_depth = cpu_depth + by_state.get(JobState.VIDEO, 0)
    minutes = window.total_seconds() / 60.0

    cpu_done = Job.objects.filter(video_at__gte=since).count()
    cpu_service = _median_seconds(
        list(
            Job.objects.filter(video_at__gte=now - timedelta(hours=1))
            .order_by("-video_at")
            .values_list("analyzing_at", "video_at")[:50]
        ),
        float(settings.DEFAULT_STAGE_SECONDS),
    )
    gpu_done = Job.objects.filter(state=JobState.DONE, finished_at__gte=since).count()
    gpu_service = _median_seconds(
        list(
            Job.objects.filter(state=JobState.DONE, finished_at__gte=now - timedelta(hours=1))
            .order_by("-finished_at")
            .values_list("video_at", "finished_at")[:50]
        ),
        float(settings.DEFAULT_VIDEO_SECONDS),
    )
    cpu_slots = max(1, int(settings.CPU_WORKER_SLOTS))
    gpu_slots = max(1, int(settings.GPU_WORKER_SLOTS))
    return [
        QueueLoad("cpu", cpu_depth, max(cpu_done / minutes, cpu_slots * 60.0 / cpu_service)),
        QueueLoad("gpu", gpu_depth, max(gpu_done / minutes, gpu_slots * 60.0 / gpu_service)),
    ]


class _Snapshot:
    """Per-process cache of the queue figures plus a count of admissions since they were read."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.queues: list[QueueLoad] = []
        self.taken_at = -math.inf
        self.admitted_since = 0

    def admit(self, *, max_wait_s: int, max_queued: int, ttl_s: float) -> Admission:
        now = time.monotonic()
        with self.lock:
            if now - self.taken_at >= ttl_s:
                # Read under the lock: one query set per process per TTL, not one per waiting request.
                self.queues = queue_loads_measure()
                self.taken_at = now
                self.admitted_since = 0
            admission = admission_decide(
                queues=self.queues,
                pending_local=self.admitted_since,
                max_wait_s=max_wait_s,
                max_queued=max_queued,
            )
            self.admitted_since += 1
            return admission

    def forget(self) -> None:
        with self.lock:
            self.taken_at = -math.inf
            self.admitted_since = 0


_snapshot = _Snapshot()


def admission_request(*, campaign: Campaign) -> Admission:
    """Intake's question "may this job join the queue?": position + ETA, or ServiceBusy (503 + Retry-After).

    Call it before the upload is processed (cheap refusals first) and `admission_release` if the job is
    not created after all (refused photo), so a refused upload does not hold a place.
    """
    from django.conf import settings

    return _snapshot.admit(
        max_wait_s=int(campaign.max_wait_seconds),
        max_queued=int(campaign.max_queued_jobs),
        ttl_s=float(settings.ADMISSION_SNAPSHOT_TTL_S),
    )


def admission_release() -> None:
    """Give back a place taken by `admission_request` for a job that was not created."""
    with _snapshot.lock:
        _snapshot.admitted_since = max(0, _snapshot.admitted_since - 1)


def admission_reset() -> None:
    """Drop the cached figures (tests; after an operator changes capacity settings)."""
    _snapshot.forget()


def eta_seconds_for_position(*, position: int, queue: str = "cpu") -> int:
    """Seconds until the job at `position` (1 = next) is through `queue`, from the same live figures
    as admission (cached per process for ``ADMISSION_SNAPSHOT_TTL_S``). With the default ``cpu`` queue
    that is when its posters are ready; the page shows it and refreshes it with every job event."""
    from django.conf import settings

    ttl_s = float(settings.ADMISSION_SNAPSHOT_TTL_S)
    with _snapshot.lock:
        if time.monotonic() - _snapshot.taken_at >= ttl_s:
            _snapshot.queues = queue_loads_measure()
            _snapshot.taken_at = time.monotonic()
            _snapshot.admitted_since = 0
        loads = {load.name: load for load in _snapshot.queues}
    load = loads.get(queue)
    if load is None or load.per_minute <= 0:
        return 0
    return math.ceil(load.wait_seconds(max(1, position)))


def admission_capacity(*, campaign: Campaign) -> int:
    """How many jobs the queue holds within the campaign's promise right now: the bottleneck queue's
    live throughput x `max_wait_seconds`, at most `max_queued_jobs` (the figures admission uses)."""
    from django.conf import settings

    ttl_s = float(settings.ADMISSION_SNAPSHOT_TTL_S)
    with _snapshot.lock:
        if time.monotonic() - _snapshot.taken_at >= ttl_s:
            _snapshot.queues = queue_loads_measure()
            _snapshot.taken_at = time.monotonic()
            _snapshot.admitted_since = 0
        queues = list(_snapshot.queues)
    slowest = min((queue.per_minute for queue in queues), default=0.0)
    within_promise = slowest * float(campaign.max_wait_seconds) / 60.0
    return max(0, min(int(campaign.max_queued_jobs), math.floor(within_promise)))
