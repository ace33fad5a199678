"""The reconciler as a periodic Dramatiq actor on the cpu queue (the pass itself is a service:
`campaign.services.recovery`; `manage.py reconcile` runs it in a loop)."""

from __future__ import annotations

import logging

import dramatiq
from django.conf import settings
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import Middleware

from campaign.broker import broker as _configured_broker  # noqa: F401  (set before actors declare)
from campaign.services.recovery import reconcile_pass
from campaign.stages import RECONCILE_JOBS
from workers.middleware import stage_actor

logger = logging.getLogger(__name__)

LOCK_KEY = "protagonist:reconcile-lock"


@stage_actor(RECONCILE_JOBS, max_retries=0)
def reconcile_jobs() -> None:
    """Periodic actor: a reconcile pass, then the next one `RECONCILE_INTERVAL_S` later.

    Every cpu worker boot starts a chain (so it survives restarts and lost messages); a lock in the
    broker's Redis held for 90 % of the interval lets exactly one chain survive: a second chain finds
    the lock taken and ends instead of rescheduling. The `reconcile` command stays the primary
    reconciler, because it also works while the broker holds no messages at all; on a broker without
    Redis (RabbitMQ) the actor runs a single pass and does not chain.

    Why a chain and not a scheduler (periodiq, APScheduler): periodiq schedules by cron, one minute at
    the finest, and the recovery bound is ``RECONCILE_INTERVAL_S`` (10 s); either scheduler is one more
    process that must run exactly once per deployment (two would double every pass, so the lock would
    stay anyway, and a dead one stops recovery), while the chain rides on the workers that already run.
    """
    interval = float(settings.RECONCILE_INTERVAL_S)
    client = getattr(dramatiq.get_broker(), "client", None)
    if client is not None and not client.set(LOCK_KEY, "1", nx=True, px=max(1, int(interval * 900))):
        return
    try:
        reconcile_pass()
    finally:
        if client is not None:
            reconcile_jobs.send_with_options(delay=int(interval * 1000))


class ReconcileKickoff(Middleware):  # type: ignore[misc]
    """Start (or restart) the periodic chain whenever a worker process that loads this module boots."""

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        if isinstance(broker, StubBroker):
            return  # in-process test broker: tests run passes themselves
        try:
            reconcile_jobs.send()
        except Exception:  # a broker hiccup at boot must not stop the worker; the next boot retries
            logger.warning("could not start the periodic reconciler", exc_info=True)


dramatiq.get_broker().add_middleware(ReconcileKickoff())
