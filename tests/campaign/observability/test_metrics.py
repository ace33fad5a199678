"""/metrics: jobs by state, failures by code, queue depths; the token when one is configured."""

from __future__ import annotations

from typing import Any

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
