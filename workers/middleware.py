"""Dramatiq glue of the worker processes: actors declared from the stage table, the stage lease every
job stage runs under (claimed, renewed by a heartbeat thread, registered with the supervising
watchdog, released), and what every worker does before it takes messages.

Why leases: Dramatiq's time limit raises an exception inside the worker thread, which cannot interrupt
torch, OpenCV or an encoder busy in C; and a worker killed outright (OOM, SIGKILL, a lost node) leaves
its job in a stage nobody works on. A redelivered message that finds a live lease of the same stage
held by someone else does nothing, so a long CPU stage is not run twice at once; a lease nobody renews
expires and the reconciler hands the job on (`campaign.services.leases`, `campaign.services.recovery`).
If a heartbeat is starved (a native call holding the GIL) and a second worker takes the job over, the
second run is harmless: results go to fixed storage keys and state changes are compare-and-set. The
supervisor that renews leases from outside the GIL, cuts off overdue stages and recovers the jobs of
dead worker processes is `workers.watchdog`.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dramatiq
from dramatiq.actor import ActorDecorator
from dramatiq.middleware import Middleware

from campaign.services.leases import (
    lease_acquire,
    lease_busy_elsewhere,
    lease_release,
    lease_renew,
    lease_ttl_s,
)
from campaign.services.scratch import render_scratch_sweep
from campaign.stages import ActorSpec

logger = logging.getLogger(__name__)

DEFAULT_TIME_LIMIT_S = 1200.0
# The supervising watchdog's directory (exported to its child); stages register in it.
WATCH_DIR_ENV = "PROTAGONIST_WATCHDOG_DIR"


class EngineWarmup(Middleware):  # type: ignore[misc]
    """Dramatiq middleware: import the engine (torch, MediaPipe) before a worker takes messages.

    Why: imported lazily inside a stage, the first job after every (re)start pays seconds of imports,
    and a time-limit exception that lands inside `import torch` leaves a half-initialised module that
    fails every later job of that process ("partially initialized module 'torch'"), as the fault tests
    showed. Imported at boot, neither can happen.
    """

    MODULES = ("swap.analysis", "swap.asset", "swap.poster", "swap.film")

    def before_worker_boot(self, broker: object, worker: object) -> None:
        import importlib

        for module in self.MODULES:
            try:
                importlib.import_module(module)
            except ImportError:  # an engine part missing here: the stage that needs it reports it
                logger.warning("engine warm-up: %s not importable", module, exc_info=True)


class RenderScratchSweep(Middleware):  # type: ignore[misc]
    """Remove the render folders of worker processes that died mid-render (a plaintext partial film).

    A worker killed outright cannot clean up after itself; the next one on this machine does, before
    its first message (campaign.services.scratch).
    """

    def before_worker_boot(self, broker: object, worker: object) -> None:
        try:
            render_scratch_sweep()
        except OSError:  # a scratch dir we cannot read must not keep the worker from starting
            logger.warning("could not sweep abandoned render folders", exc_info=True)


def stage_actor(spec: ActorSpec, **options: Any) -> ActorDecorator:
    """`dramatiq.actor` with the name, queue and time limit of `spec` (campaign.stages), written once.

    `options` stay `Any` as in `dramatiq.actor`: each middleware reads its own (max_retries, throws...).
    """
    return dramatiq.actor(
        actor_name=spec.name, queue_name=spec.queue, time_limit=spec.time_limit_ms, **options
    )


# ------------------------------------------------------------------------------------- stage lease


def _watch_dir() -> Path | None:
    path = os.environ.get(WATCH_DIR_ENV, "")
    return Path(path) if path else None


@dataclass
class StageLease:
    """What a stage holds while it runs. `busy_elsewhere`: a live lease of this stage exists, skip."""

    job_id: str
    stage: str
    owner: str
    held: bool = False
    busy_elsewhere: bool = False
    lost: threading.Event = field(default_factory=threading.Event)


def _lease_owner(stage: str) -> str:
    return f"{stage}/{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}:{uuid.uuid4().hex[:8]}"


def _current_time_limit_s() -> float:
    """The running actor's time limit (seconds), from the current Dramatiq message."""
    try:
        import dramatiq
        from dramatiq.middleware import CurrentMessage

        message = CurrentMessage.get_current_message()
        if message is None:
            return DEFAULT_TIME_LIMIT_S
        limit = message.options.get("time_limit")
        if limit is None:
            actor = dramatiq.get_broker().get_actor(message.actor_name)
            limit = actor.options.get("time_limit")
        return float(limit) / 1000.0 if limit else DEFAULT_TIME_LIMIT_S
    except Exception:  # no broker/actor context (called from a test or a shell)
        return DEFAULT_TIME_LIMIT_S


def _heartbeat(lease: StageLease, ttl_s: float, stop: threading.Event) -> None:
    from django.db import close_old_connections, connection

    try:
        while not stop.wait(ttl_s / 3.0):
            try:
                if not lease_renew(job_id=lease.job_id, owner=lease.owner, ttl_s=ttl_s):
                    lease.lost.set()
                    logger.warning("job %s: %s lease lost to another worker", lease.job_id, lease.stage)
                    return
            except Exception:  # database blip: try again next beat, the TTL has slack for two misses
                logger.warning("job %s: heartbeat failed", lease.job_id, exc_info=True)
                close_old_connections()
    finally:
        connection.close()


@contextmanager
def stage_lease(*, job_id: str, stage: str, ttl_s: float | None = None) -> Iterator[StageLease]:
    """Hold the job's lease for `stage` while the body runs (see the module docstring).

    Yields a StageLease; when `busy_elsewhere` is true the caller must return without working. When
    the job is not in an active state there is no lease to take and the caller's own state checks
    decide (they return early).
    """
    from campaign.observability.logging import log_context

    ttl = lease_ttl_s() if ttl_s is None else ttl_s
    lease = StageLease(job_id=str(job_id), stage=stage, owner=_lease_owner(stage))
    with log_context(job_id=job_id, stage=stage):
        lease.held = lease_acquire(job_id=lease.job_id, stage=stage, owner=lease.owner, ttl_s=ttl)
        if not lease.held:
            holder = lease_busy_elsewhere(job_id=lease.job_id)
            lease.busy_elsewhere = holder is not None
            if lease.busy_elsewhere:
                logger.info("job %s: %s already running elsewhere (%s)", job_id, stage, holder)
            yield lease
            return
        stop = threading.Event()
        beat = threading.Thread(target=_heartbeat, args=(lease, ttl, stop), daemon=True, name="lease")
        beat.start()
        watch_file = _watch_register(lease, _current_time_limit_s())
        try:
            yield lease
        finally:
            stop.set()
            if watch_file is not None:
                watch_file.unlink(missing_ok=True)
            beat.join(timeout=5)
            lease_release(job_id=lease.job_id, owner=lease.owner)


def _watch_register(lease: StageLease, time_limit_s: float) -> Path | None:
    """Tell the supervising watchdog (if any) which stage this thread runs and until when."""
    directory = _watch_dir()
    if directory is None:
        return None
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{os.getpid()}-{threading.get_ident()}.json"
    record = {
        "pid": os.getpid(),
        "job_id": lease.job_id,
        "stage": lease.stage,
        "owner": lease.owner,
        "deadline": time.time() + time_limit_s,
    }
    partial = path.with_suffix(".tmp")
    partial.write_text(json.dumps(record))
    partial.replace(path)
    return path
