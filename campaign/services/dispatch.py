"""Enqueue work only after the transaction that created it commits (the row is the source of truth).

A message sent inside an open transaction can reach a worker before the row is visible, or survive a
rollback and point at nothing; `on_commit` rules both out. Messages are addressed by actor name and
queue from `campaign.stages` and handed to the broker (`campaign.broker`, configured on first use), so
the web process never imports the actors: `campaign` does not depend on `workers`.

Two kinds of send. A stage a worker hands on (`required=False`) is logged and left to the reconciler
when the broker fails: the job is already someone's, and the reconciler re-enqueues it. A *new* job
(`required=True`) must not be answered 202 while its message is nowhere: the send raises
`QueueUnavailable` (503) and intake removes what it created. The broker's socket timeout
(``BROKER_SOCKET_TIMEOUT_S``, `campaign.broker`) bounds how long a frozen broker can hold the request.
"""

from __future__ import annotations

import logging
from typing import TypeAlias

from django.db import transaction

from campaign.errors import ServiceBusy
from campaign.stages import ACTORS

logger = logging.getLogger(__name__)

# A JSON scalar: Dramatiq's JSON encoder gives it back unchanged (a tuple would come back a list).
ActorArg: TypeAlias = str | int | float | bool | None


class QueueUnavailable(ServiceBusy):
    """The broker did not take the message in time: nothing is accepted, the page retries."""

    code = "queue_unavailable"
    status = 503

    def __init__(self) -> None:
        super().__init__(
            "Our queue is not answering right now, so your photo was not accepted. "
            "We will try again automatically in a moment.",
            retry_after_s=10,
        )


def enqueue_now(actor_name: str, *args: ActorArg) -> None:
    """Send a message to `actor_name` (a `campaign.stages.ACTORS` name) at once; broker errors propagate."""
    import dramatiq

    from campaign.broker import broker

    queue = ACTORS[actor_name].queue
    broker.declare_queue(queue)  # in memory; the actors' module declares it too, where it is loaded
    broker.enqueue(
        dramatiq.Message(queue_name=queue, actor_name=actor_name, args=args, kwargs={}, options={})
    )


def _send(actor_name: str, args: tuple[ActorArg, ...], *, required: bool) -> None:
    try:
        enqueue_now(actor_name, *args)
    except Exception as error:
        if required:
            logger.warning("could not enqueue %s%r (%s): refusing", actor_name, args, type(error).__name__)
            raise QueueUnavailable() from error
        # The row is committed; a broker outage must not turn into a 500 for the visitor. The job
        # stays in its state and is picked up again by re-enqueueing (admin "retry" / reconciler).
        logger.exception("could not enqueue %s%r", actor_name, args)


def enqueue_on_commit(actor_name: str, *args: ActorArg, required: bool = False) -> None:
    """Send after commit. With `required`, a failed send raises `QueueUnavailable` out of the
    commit (Django runs non-robust on_commit callbacks and lets their exception through)."""
    transaction.on_commit(lambda: _send(actor_name, args, required=required))
