"""`/healthz` (readiness): database, broker and storage answer; `/livez` (liveness): the process runs.

A load balancer or Kubernetes readiness probe takes a web pod out of rotation while any dependency it
needs is unreachable, so visitors get another pod instead of a 500. Liveness deliberately checks none
of them: restarting every web pod because the database blinked would turn a blip into an outage.
Each check has a short timeout and reports its own latency; nothing secret is returned.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from django.core.files.base import ContentFile
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache


def check_database() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def check_broker() -> None:
    """PING the Dramatiq broker (Redis/Valkey) or open a connection to it (RabbitMQ)."""
    import dramatiq

    from campaign import broker as _configured  # noqa: F401  (configures the broker in this process)

    broker = dramatiq.get_broker()
    client = getattr(broker, "client", None)
    if client is not None:
        if not client.ping():
            raise ConnectionError("broker did not answer PING")
        return
    from dramatiq.brokers.rabbitmq import RabbitmqBroker

    if isinstance(broker, RabbitmqBroker):
        import pika

        parameters = broker.parameters[0] if isinstance(broker.parameters, list) else broker.parameters
        parameters.socket_timeout = 2
        parameters.blocked_connection_timeout = 2
        pika.BlockingConnection(parameters).close()


def check_storage() -> None:
    """Write, read back and delete a small object: proves credentials, bucket and network at once."""
    from django.core.files.storage import default_storage

    key = f"healthz/{uuid.uuid4().hex}.txt"
    payload = b"ok"
    saved = default_storage.save(key, ContentFile(payload))
    try:
        with default_storage.open(saved, "rb") as handle:
            if handle.read() != payload:
                raise OSError("storage returned different bytes")
    finally:
        default_storage.delete(saved)


CHECKS: dict[str, Callable[[], None]] = {
    "database": check_database,
    "broker": check_broker,
    "storage": check_storage,
}


def run_checks() -> tuple[bool, dict[str, Any]]:
    results: dict[str, Any] = {}
    healthy = True
    for name, check in CHECKS.items():
        started = time.perf_counter()
        try:
            check()
            results[name] = {"ok": True}
        except Exception as exc:  # any failure means "not ready"; the type tells operators which
            healthy = False
            results[name] = {"ok": False, "error": type(exc).__name__}
        results[name]["ms"] = round((time.perf_counter() - started) * 1000, 1)
    return healthy, results


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    healthy, results = run_checks()
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable", "checks": results}, status=200 if healthy else 503
    )


@never_cache
def livez(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})
