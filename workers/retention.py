"""The periodic retention sweep as a self-rescheduling Dramatiq actor (Dramatiq has no scheduler).

Each worker process boot sends one message; every run takes a short lock in Redis before sweeping
and rescheduling itself ``RETENTION_SWEEP_INTERVAL_S`` later, so however many workers start, one chain
survives (see `campaign.services.retention.sweep_slot_acquire`). ``manage.py retention_sweep`` does
the same work from cron where a deployment prefers that.

Why a chain and not a scheduler (periodiq, APScheduler): a scheduler is one more process to run
exactly once per deployment and to supervise (two would sweep twice, so the lock stays anyway); the
chain needs nothing beyond the workers, like the reconciler's (`workers.reconciler`).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import dramatiq
from django.conf import settings
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import Middleware

from campaign.broker import broker
from campaign.services.retention import retention_sweep, sweep_slot_acquire
from campaign.stages import RETENTION_SWEEP
from workers.middleware import stage_actor

if TYPE_CHECKING:
    import redis

logger = logging.getLogger(__name__)


def _interval_s() -> float:
    return float(settings.RETENTION_SWEEP_INTERVAL_S)


def _lock_client() -> redis.Redis:
    import redis

    url = settings.RATELIMIT_REDIS_URL or settings.CHANNEL_REDIS_URL
    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)


@stage_actor(RETENTION_SWEEP, max_retries=0)
def retention_sweep_periodic() -> None:
    """Sweep, then reschedule; a run that finds another chain's lock ends that duplicate chain."""
    interval = _interval_s()
    if not sweep_slot_acquire(_lock_client(), interval):
        return
    try:
        retention_sweep()
    finally:
        retention_sweep_periodic.send_with_options(delay=int(interval * 1000))


class RetentionKickoff(Middleware):
    """Start (or restart) the chain whenever a worker process boots."""

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        if isinstance(broker, StubBroker):
            return  # in-process test broker: tests run the sweep themselves, a chain would outlive them
        try:
            retention_sweep_periodic.send()
        except Exception:  # a broker hiccup at boot must not stop the worker; the next boot retries
            logger.warning("could not schedule the retention sweep", exc_info=True)


broker.add_middleware(RetentionKickoff())
