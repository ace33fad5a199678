"""The Dramatiq broker from `settings.BROKER_URL`, configured once per process on first import.

`redis://`/`rediss://` -> RedisBroker (embedded Valkey by default, Redis/Valkey in production),
`amqp://` -> RabbitmqBroker with publisher confirms, `stub://` -> in-process StubBroker (tests).

It lives in `campaign` because services enqueue by actor name (`campaign.services.dispatch`,
`campaign.stages`) without importing `workers`; the actors import it to declare themselves. Built on
first import rather than in the app config's `ready()`, so that a test run can choose the in-process
broker in its conftest after Django is set up and before anything enqueues.
"""

from __future__ import annotations

from typing import Any

import dramatiq
from django.conf import settings
from django.db import close_old_connections, connections
from dramatiq.broker import MessageProxy
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import CurrentMessage, Middleware
from dramatiq.worker import WorkerThread


class DjangoConnections(Middleware):
    """Drop stale database connections around each message, as Django does around each request."""

    def before_process_message(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        close_old_connections()

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: MessageProxy,
        *,
        result: Any | None = None,  # whatever the actor returned: Dramatiq's own signature
        exception: BaseException | None = None,
    ) -> None:
        close_old_connections()

    def after_skip_message(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        close_old_connections()

    def before_worker_thread_shutdown(self, broker: dramatiq.Broker, thread: WorkerThread) -> None:
        # Persistent connections (CONN_MAX_AGE) belong to the worker thread: close them with it, so a
        # stopped worker leaves no idle sessions behind on PostgreSQL.
        connections.close_all()


def broker_from_url(url: str) -> dramatiq.Broker:
    """Build the broker a URL names (also used by tests to point actors at a real embedded Valkey)."""
    if url.startswith(("redis://", "rediss://", "unix://")):
        import redis
        from dramatiq.brokers.redis import RedisBroker

        # A bounded socket timeout: a frozen broker fails a send within seconds, so intake can refuse
        # the job instead of answering 202 for a message that is nowhere (campaign.services.dispatch).
        timeout = float(settings.BROKER_SOCKET_TIMEOUT_S)
        pool = redis.ConnectionPool.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        broker: dramatiq.Broker = RedisBroker(connection_pool=pool)
    elif url.startswith(("amqp://", "amqps://")):
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        broker = RabbitmqBroker(url=url, confirm_delivery=True)
    elif url.startswith("stub://"):
        broker = StubBroker()
        broker.emit_after("process_boot")
    else:
        raise ValueError(f"BROKER_URL scheme not supported: {url.split(':', 1)[0]!r}")
    broker.add_middleware(CurrentMessage())
    broker.add_middleware(DjangoConnections())
    return broker


broker = broker_from_url(settings.BROKER_URL)
dramatiq.set_broker(broker)
