"""The watchdog's supervisor against the real database and the in-process broker: a stage whose worker
process died is handed on at once, not when its lease expires."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

OWNER = "analyze/host:1:1:abcd"


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


@pytest.fixture
def supervised_stage(queued_job: Any, tmp_path: Path) -> Callable[..., tuple[Any, Any, Path]]:
    """`check(pid=, lease_s=)`: the job's analyze stage leased to `OWNER` for `lease_s` more seconds and
    registered in the watch folder as process `pid`'s, then one pass of the supervisor; returns the job,
    the (flushed) stub broker and the watch folder."""
    import dramatiq

    from campaign.models import Job
    from workers import actors  # noqa: F401  (declares the actors on the stub broker)
    from workers.watchdog import Supervisor

    broker = dramatiq.get_broker()
    broker.flush_all()
    job, _token = queued_job
    watch = tmp_path / "watch"
    watch.mkdir()

    def check(*, pid: int, lease_s: float) -> tuple[Any, Any, Path]:
        Job.objects.filter(pk=job.pk).update(
            state="analyzing", lease_owner=OWNER, lease_expires_at=timezone.now() + timedelta(seconds=lease_s)
        )
        record = {"pid": pid, "job_id": str(job.pk), "stage": "analyze", "owner": OWNER, "deadline": 1e12}
        (watch / "1-1.json").write_text(json.dumps(record))
        Supervisor(["true"], watch_dir=watch, grace_s=1, restart_delay_s=0).check()
        return job, broker, watch

    return check


def test_stage_of_a_dead_worker_process_is_re_enqueued_at_once(supervised_stage: Any) -> None:
    import dramatiq

    from campaign.models import Job

    # A live lease for another 60 s, as a worker SIGKILLed a moment ago leaves it.
    job, broker, watch = supervised_stage(pid=_dead_pid(), lease_s=60)

    messages = [dramatiq.Message.decode(raw) for raw in broker.queues["cpu"].queue]
    assert [(m.actor_name, tuple(m.args)) for m in messages] == [("analyze_job", (str(job.pk),))]
    row = Job.objects.get(pk=job.pk)
    assert (row.recoveries, row.lease_owner, row.lease_expires_at) == (1, "", None)
    assert not list(watch.iterdir())


def test_stage_of_a_live_worker_process_keeps_its_lease(supervised_stage: Any) -> None:
    import os

    from campaign.models import Job

    job, broker, _watch = supervised_stage(pid=os.getpid(), lease_s=5)

    assert list(broker.queues["cpu"].queue) == []
    row = Job.objects.get(pk=job.pk)
    assert row.lease_owner == OWNER and row.lease_expires_at > timezone.now() + timedelta(seconds=30)
