"""The operators' dashboard (`campaign.admin_views`): queues, throughput, durations and failures; staff only;
the broker's figures keep scheduled maintenance apart from waiting jobs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dramatiq
import pytest
from django.test import Client

from campaign.services.jobs import job_fail


def test_dashboard_shows_queues_throughput_durations_and_failures(
    editor_client: Client, queued_job: Any
) -> None:
    job, _ = queued_job
    job_fail(job_id=job.id, code="too_dark", message="x")
    response = editor_client.get("/admin/dashboard/")
    assert response.status_code == 200
    stats = response.context["stats"]
    assert stats["failures_by_code"] == {"too_dark": 1}
    assert stats["jobs_by_state"]["failed"] == 1
    assert set(stats["stage_seconds"]) == {"wait", "analyze", "posters", "video"}
    assert "too_dark" in response.content.decode()


def test_dashboard_needs_staff(db: Any) -> None:
    assert Client().get("/admin/dashboard/").status_code == 302


def test_dashboard_broker_figures_keep_scheduled_maintenance_apart_from_waiting_jobs(
    editor_client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An idle platform (only the reconciler's delayed self-scheduling messages on cpu) shows 0 waiting."""
    from campaign import broker as broker_module
    from tests.conftest import free_port
    from tests.faults.conftest import Valkey

    valkey = Valkey(tmp_path / "valkey", free_port())
    valkey.start(appendonly=False)
    try:
        redis_broker = broker_module.broker_from_url(valkey.url)
        for actor_name in ("reconcile_tick", "retention_tick"):
            redis_broker.enqueue(dramatiq.Message("cpu", actor_name, (), {}, {}), delay=60_000)
        monkeypatch.setattr(broker_module, "broker", redis_broker)
        idle = editor_client.get("/admin/dashboard/")
        redis_broker.enqueue(dramatiq.Message("cpu", "analyze_job", ("j",), {}, {}))
        busy = editor_client.get("/admin/dashboard/")
        redis_broker.close()
    finally:
        valkey.stop()

    assert idle.context["queue_rows"][0][2] == {
        "waiting": 0,
        "taken": 0,
        "scheduled": 2,
        "scheduled_actors": "reconcile_tick, retention_tick",
    }
    assert "reconcile_tick, retention_tick" in idle.content.decode()
    assert busy.context["queue_rows"][0][2]["waiting"] == 1
    assert busy.context["queue_rows"][1][2] == {
        "waiting": 0,
        "taken": 0,
        "scheduled": 0,
        "scheduled_actors": "",
    }
