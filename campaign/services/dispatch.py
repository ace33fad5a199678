"""Enqueue work only after the transaction that created it commits (the row is the source of truth).

A message sent inside an open transaction can reach a worker before the row is visible, or survive a
rollback and point at nothing; `on_commit` rules both out. Workers live in `workers.actors`, imported
lazily here so the web process configures the broker only when it first enqueues.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

logger = logging.getLogger(__name__)


def _send(actor_name: str, args: tuple[Any, ...]) -> None:
    from workers import actors

    try:
        getattr(actors, actor_name).send(*args)
    except Exception:
        # The row is committed; a broker outage must not turn into a 500 for the visitor. The job
        # stays in its state and is picked up again by re-enqueueing (admin "retry" / reconciler).
        logger.exception("could not enqueue %s%r", actor_name, args)


def enqueue_on_commit(actor_name: str, *args: Any) -> None:
    transaction.on_commit(lambda: _send(actor_name, args))
