"""Live events to the browsers watching a job, through the channel layer group `job.<id>`.

The channel layer is at-most-once and drops messages to full channels, so events only speed up what
the page would also get from the database (snapshot on connect, GET /api/jobs/<id>); each event carries
the job's full status and its sequence number, so a late or duplicate event is harmless.
"""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from campaign.models import Job

logger = logging.getLogger(__name__)


def job_group_name(job_id: object) -> str:
    return f"job.{job_id}"


def job_event_publish(*, job: Job, kind: str, extra: dict[str, Any] | None = None) -> None:
    """Send the job's current status to its group; failures are logged, never raised (DB is truth)."""
    from campaign.selectors import job_status

    layer = get_channel_layer()
    if layer is None:
        return
    event = {"kind": kind, "seq": job.event_seq, "job": job_status(job=job), **(extra or {})}
    try:
        async_to_sync(layer.group_send)(job_group_name(job.id), {"type": "job.event", "event": event})
    except Exception:
        logger.warning("job %s: could not publish %s event", job.id, kind, exc_info=True)


QUEUE_GROUP = "queue.cpu"


def queue_moved_publish(*, left_created_ts: float) -> None:
    """A job created at `left_created_ts` left the queue: sockets of younger queued jobs move up.

    One broadcast per job start; each consumer adjusts the position it read from the database at
    connect. Positions are a courtesy display (the page re-reads them from the database on reconnect).
    """
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(
            QUEUE_GROUP, {"type": "queue.moved", "left_created_ts": left_created_ts}
        )
    except Exception:
        logger.warning("could not publish a queue move", exc_info=True)
