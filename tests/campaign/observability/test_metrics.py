"""/metrics, /healthz, /livez and the JSON log format."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from django.test import Client


def test_metrics_report_jobs_by_state_failures_by_code_and_queue_depth(queued_job: Any) -> None:
    from campaign.models import Job
    from campaign.observability import metrics

    job, _token = queued_job
    Job.objects.filter(pk=job.pk).update(state="failed", failure_code="no_face")
    for collector in list(metrics.registry._collector_to_names):
        if isinstance(collector, metrics.CampaignCollector):
            collector._cached_at = 0.0

    response = Client().get("/metrics")

    text = response.content.decode()
    assert response.status_code == 200
    assert 'protagonist_jobs{state="failed"} 1.0' in text
    assert 'protagonist_jobs{state="queued"} 0.0' in text
    assert 'protagonist_job_failures{code="no_face"} 1.0' in text
    assert 'protagonist_queue_depth{kind="ready",queue="cpu"}' in text
    assert "protagonist_websocket_connections 0.0" in text


def test_metrics_token_is_required_when_configured(db: Any, settings: Any) -> None:
    settings.METRICS_TOKEN = "scrape-secret"

    assert Client().get("/metrics").status_code == 401
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-secret").status_code == 200


def test_healthz_checks_database_broker_and_storage(db: Any) -> None:
    response = Client().get("/healthz")

    body = response.json()
    assert response.status_code == 200
    assert set(body["checks"]) == {"database", "broker", "storage"}
    assert all(check["ok"] for check in body["checks"].values())


def test_healthz_is_503_naming_the_broken_dependency(db: Any, monkeypatch: Any) -> None:
    from campaign.observability import health

    def broker_down() -> None:
        raise ConnectionRefusedError("no broker")

    monkeypatch.setitem(health.CHECKS, "broker", broker_down)

    response = Client().get("/healthz")

    assert response.status_code == 503
    assert response.json()["checks"]["broker"] == {
        "ok": False,
        "error": "ConnectionRefusedError",
        "ms": response.json()["checks"]["broker"]["ms"],
    }
    assert Client().get("/livez").status_code == 200  # liveness never depends on others


def test_json_log_lines_carry_the_job_id_and_never_a_token_or_signature() -> None:
    from campaign.observability.logging import ContextFilter, JsonFormatter, log_context

    record = logging.LogRecord(
        "workers.actors",
        logging.INFO,
        __file__,
        1,
        "fetched %s",
        ("/media/jobs/x/poster-1.jpg?e=1767225600&s=0a1b2c3d4e5f token=abcDEF123 Bearer eyJhbGciOi",),
        None,
    )
    with log_context(job_id="3f0c", stage="posters"):
        ContextFilter().filter(record)
        line = JsonFormatter().format(record)

    payload = json.loads(line)
    assert payload["job_id"] == "3f0c" and payload["stage"] == "posters"
    assert payload["message"] == (
        "fetched /media/jobs/x/poster-1.jpg?e=1767225600&s=[redacted] token=[redacted] Bearer [redacted]"
    )


@pytest.mark.parametrize("header", ["", "req-from-lb-42"])
def test_every_response_carries_a_request_id(db: Any, header: str) -> None:
    response = Client().get("/livez", HTTP_X_REQUEST_ID=header) if header else Client().get("/livez")

    assert response["X-Request-ID"] == (header or response["X-Request-ID"])
    assert len(response["X-Request-ID"]) >= 10
