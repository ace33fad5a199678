"""Recovery (the reconciler's pass): the database is the source of truth, so re-enqueue every job the queues forgot.

A job can be forgotten in five ways, and each is bounded here:

1. **Its worker died mid-stage** (SIGKILL, OOM, node lost). Dramatiq's Redis broker requeues a dead
   worker's messages only after its heartbeat times out *and* a randomly scheduled maintenance pass
   runs; RabbitMQ requeues when the connection drops, but not if the worker hangs. Here: the stage's
   lease (`campaign.services.leases`) stops being renewed, and the first pass after it expires re-enqueues the
   stage. Recovery time <= `LEASE_TTL_S + RECONCILE_INTERVAL_S` (+ the wait for a free worker).
2. **The broker lost its data** (restarted without persistence, failed over to an empty replica):
   the broker carries an *epoch marker* written by the reconciler; when it is missing, every active job
   without a live lease is re-enqueued at once.
3. **The message was never sent** (broker down at intake: `dispatch` logs and keeps the row) or was
   dropped: a job waiting without a lease longer than `RECONCILE_WAITING_AFTER_S` is re-enqueued.
4. **A film ingest's worker died**: a variant `running` for longer than `RECONCILE_INGEST_AFTER_S`
   (above the ingest actor's 30 min limit) is sent again; editors never see "running" forever.
5. **A stage keeps killing its worker** (a photo that crashes native code): after `MAX_RECOVERIES`
   re-enqueues the job is failed with `stage_timeout` and a clear message instead of looping forever.

Re-enqueueing is always safe: actors are idempotent (state compare-and-set, fixed output keys, a live
lease makes a duplicate message a no-op), so a duplicate message costs a database read, never a
duplicated poster. Every change of a job here is itself a compare-and-set, so several reconcilers
(one per worker pod, or the command plus the periodic actor) never re-enqueue the same expiry twice.

Run it as `python manage.py reconcile` (a loop; one small process per deployment), or let the cpu
workers run `reconcile_jobs` as a periodic actor (`dramatiq workers.actors workers.reconciler`). The
supervising watchdog recovers one job at once when it sees its worker process die
(`recover_expired_now`).
"""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, cast

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from campaign.models import ACTIVE_STATES, Job
from campaign.services.dispatch import enqueue_now
from campaign.services.jobs import job_fail
from campaign.stages import INGEST_VARIANT, STATE_SINCE, STATE_STAGE

if TYPE_CHECKING:
    import threading

    import dramatiq
    from dramatiq.brokers.rabbitmq import RabbitmqBroker

logger = logging.getLogger(__name__)

EPOCH_KEY = "protagonist:broker-epoch"
EPOCH_QUEUE = "protagonist.broker-epoch"
STAGE_TIMEOUT_MESSAGE = (
    "Making your photos took far longer than it should and was stopped. Please try again in a few minutes."
)


@dataclass
class ReconcileReport:
    """What one pass did (logged, returned by the command, asserted by the fault tests)."""

    broker_lost: bool = False
    recovered: list[str] = field(default_factory=list)  # expired leases re-enqueued
    requeued: list[str] = field(default_factory=list)  # waiting jobs re-enqueued
    failed: list[str] = field(default_factory=list)  # gave up after MAX_RECOVERIES
    ingests: list[int] = field(default_factory=list)  # stalled film ingests sent again
    send_errors: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.recovered or self.requeued or self.failed or self.ingests or self.broker_lost)


# --------------------------------------------------------------------------------- broker epoch


def broker_epoch_check(broker: dramatiq.Broker | None = None) -> bool:
    """True when the broker lost its data since the last pass (its epoch marker is gone); re-marks it.

    A fresh broker also reads as "lost"; then there is nothing queued to lose and the pass is cheap.
    Brokers without a way to hold a marker (the in-process stub) never report a loss.
    """
    if broker is None:
        from campaign.broker import broker
    client = getattr(broker, "client", None)
    if client is not None:  # Redis/Valkey: a plain key next to Dramatiq's own (noeviction keeps it)
        if client.exists(EPOCH_KEY):
            return False
        client.set(EPOCH_KEY, secrets.token_hex(8), nx=True)
        return True
    if broker.__class__.__name__ == "RabbitmqBroker":
        return _rabbitmq_epoch_check(cast("RabbitmqBroker", broker))  # by name: no pika import here
    return False


def _rabbitmq_epoch_check(broker: RabbitmqBroker) -> bool:
    """RabbitMQ: a durable queue holding one persistent message survives only a broker that kept data."""
    import pika

    parameters = broker.parameters[0] if isinstance(broker.parameters, list) else broker.parameters
    connection = pika.BlockingConnection(parameters)
    try:
        channel = connection.channel()
        try:
            count = channel.queue_declare(EPOCH_QUEUE, passive=True).method.message_count
        except pika.exceptions.ChannelClosedByBroker:  # 404: the queue is gone
            channel = connection.channel()
            count = 0
        if count > 0:
            return False
        channel.queue_declare(EPOCH_QUEUE, durable=True, arguments={"x-queue-mode": "lazy"})
        channel.confirm_delivery()
        channel.basic_publish(
            "", EPOCH_QUEUE, secrets.token_hex(8).encode(), pika.BasicProperties(delivery_mode=2)
        )
        return True
    finally:
        connection.close()


# ------------------------------------------------------------------------------------------ pass


def _send(job_id: str, state: str) -> None:
    enqueue_now(STATE_STAGE[state].actor.name, job_id)


def _recover_expired(
    now: datetime, report: ReconcileReport, limit: int, job_ids: list[str] | None = None
) -> None:
    max_recoveries = int(settings.MAX_RECOVERIES)
    expired = Job.objects.filter(state__in=ACTIVE_STATES, lease_expires_at__lt=now)
    if job_ids is not None:
        expired = expired.filter(pk__in=job_ids)
    rows = expired.values("id", "state", "lease_owner", "lease_expires_at", "recoveries")[:limit]
    for row in rows:
        job_id = str(row["id"])
        claimed = Job.objects.filter(
            pk=row["id"],
            state=row["state"],
            lease_owner=row["lease_owner"],
            lease_expires_at=row["lease_expires_at"],
        ).update(lease_owner="", lease_expires_at=None, recoveries=F("recoveries") + 1, reconciled_at=now)
        if not claimed:
            continue  # renewed, released or recovered by another reconciler meanwhile
        if row["recoveries"] + 1 > max_recoveries:
            logger.error(
                "job %s: stage of %s lost its worker %d times; failing it",
                job_id,
                row["state"],
                row["recoveries"] + 1,
            )
            if job_fail(job_id=job_id, code="stage_timeout", message=STAGE_TIMEOUT_MESSAGE):
                report.failed.append(job_id)
            continue
        logger.warning(
            "job %s: lease of %s (%s) expired; re-enqueueing (recovery %d)",
            job_id,
            row["state"],
            row["lease_owner"],
            row["recoveries"] + 1,
        )
        try:
            _send(job_id, row["state"])
            report.recovered.append(job_id)
        except Exception:
            # Broker down: put the expiry back (undoing the count) so the next pass tries again.
            logger.warning("job %s: could not re-enqueue; next pass retries", job_id, exc_info=True)
            report.send_errors += 1
            Job.objects.filter(pk=row["id"], lease_owner="").update(
                lease_owner="reconciler/retry",
                lease_expires_at=now - timedelta(seconds=1),
                recoveries=F("recoveries") - 1,
            )


def recover_expired_now(*, job_ids: list[str]) -> ReconcileReport:
    """Recover these jobs' expired leases at once (the watchdog saw their worker die), as a pass would."""
    report = ReconcileReport()
    _recover_expired(timezone.now(), report, len(job_ids), job_ids=job_ids)
    return report


def _requeue_waiting(now: datetime, report: ReconcileReport, limit: int, everything: bool) -> None:
    after = timedelta(seconds=float(settings.RECONCILE_WAITING_AFTER_S))
    no_lease = Q(lease_expires_at__isnull=True)
    for state, since_field in STATE_SINCE.items():
        # a job whose expired lease this pass just recovered was sent already (`_recover_expired`)
        waiting = Job.objects.filter(no_lease, state=state).exclude(reconciled_at=now)
        if not everything:
            waiting = waiting.filter(**{f"{since_field}__lt": now - after}).filter(
                Q(reconciled_at__isnull=True) | Q(reconciled_at__lt=now - after)
            )
        rows = waiting.order_by(since_field).values("id", "reconciled_at")[:limit]
        for row in rows:
            claimed = Job.objects.filter(
                no_lease, pk=row["id"], state=state, reconciled_at=row["reconciled_at"]
            ).update(reconciled_at=now)
            if not claimed:
                continue
            try:
                _send(str(row["id"]), state)
                report.requeued.append(str(row["id"]))
            except Exception:
                logger.warning("job %s: could not re-enqueue; next pass retries", row["id"], exc_info=True)
                report.send_errors += 1
                Job.objects.filter(pk=row["id"], reconciled_at=now).update(reconciled_at=row["reconciled_at"])


def _restart_stalled_ingests(now: datetime, report: ReconcileReport) -> None:
    """A film ingest whose worker died stays `running` forever; send it again past the actor's limit.

    `variant_ingest_start` accepts a running ingest of the same generation and restamps its start, so
    the next pass does not send it again.
    """
    from campaign.models import FilmVariant, IngestStatus

    after = timedelta(seconds=float(settings.RECONCILE_INGEST_AFTER_S))
    stalled = FilmVariant.objects.filter(
        ingest_status=IngestStatus.RUNNING, ingest_started_at__lt=now - after
    ).values_list("pk", "ingest_generation")
    for variant_id, generation in stalled:
        try:
            enqueue_now(INGEST_VARIANT.name, variant_id, generation)
            report.ingests.append(variant_id)
            logger.warning("variant %s: ingest stalled since before %s; re-enqueued", variant_id, now - after)
        except Exception:
            logger.warning("variant %s: could not re-enqueue the stalled ingest", variant_id, exc_info=True)
            report.send_errors += 1


def reconcile_pass(*, now: datetime | None = None, limit: int = 1000) -> ReconcileReport:
    """One pass over the Job table (three indexed queries when nothing is wrong)."""
    now = now or timezone.now()
    report = ReconcileReport()
    try:
        report.broker_lost = broker_epoch_check()
    except Exception:
        logger.warning("reconciler: broker unreachable; checking leases only", exc_info=True)
    if report.broker_lost:
        logger.warning("reconciler: broker epoch marker missing (fresh or lost broker); re-enqueueing")
    _recover_expired(now, report, limit)
    _requeue_waiting(now, report, limit, everything=report.broker_lost)
    _restart_stalled_ingests(now, report)
    if report.changed:
        logger.info(
            "reconciler: recovered %d, requeued %d, failed %d, broker_lost=%s",
            len(report.recovered),
            len(report.requeued),
            len(report.failed),
            report.broker_lost,
        )
    return report


def reconcile_forever(*, interval_s: float, stop: threading.Event | None = None) -> None:
    """The reconciler process: a pass every `interval_s` seconds; database errors wait for the next."""
    from django.db import close_old_connections

    while stop is None or not stop.is_set():
        started = time.monotonic()
        try:
            reconcile_pass()
        except Exception:
            logger.exception("reconciler: pass failed")
        close_old_connections()
        delay = max(0.0, interval_s - (time.monotonic() - started))
        if stop is None:
            time.sleep(delay)
        else:
            stop.wait(delay)
