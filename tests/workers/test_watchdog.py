"""The watchdog's supervisor against the real database and the in-process broker: a stage whose worker
process died is handed on at once, not when its lease expires."""

from __future__ import annotations

import json
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.utils import timezone


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_stage_of_a_dead_worker_process_is_re_enqueued_at_once(queued_job: Any, tmp_path: Path) -> None:
    import dramatiq

    from campaign.models import Job
    from workers import actors  # noqa: F401  (declares the actors on the stub broker)
    from workers.watchdog import Supervisor

    broker = dramatiq.get_broker()
    broker.flush_all()
    job, _token = queued_job
    owner = "analyze/host:1:1:abcd"
    # A live lease for another 60 s, as a worker SIGKILLed a moment ago leaves it.
    Job.objects.filter(pk=job.pk).update(
        state="analyzing", lease_owner=owner, lease_expires_at=timezone.now() + timedelta(seconds=60)
    )
    watch = tmp_path / "watch"
    watch.mkdir()
    record = {"pid": _dead_pid(), "job_id": str(job.pk), "stage": "analyze", "owner": owner, "deadline": 1e12}
    (watch / "1-1.json").write_text(json.dumps(record))

    Supervisor(["true"], watch_dir=watch, grace_s=1, restart_delay_s=0).check()

    messages = [dramatiq.Message.decode(raw) for raw in broker.queues["cpu"].queue]
    assert [(m.actor_name, tuple(m.args)) for m in messages] == [("analyze_job", (str(job.pk),))]
    row = Job.objects.get(pk=job.pk)
    assert (row.recoveries, row.lease_owner, row.lease_expires_at) == (1, "", None)
    assert not list(watch.iterdir())


def test_stage_of_a_live_worker_process_keeps_its_lease(queued_job: Any, tmp_path: Path) -> None:
    import os

    import dramatiq

    from campaign.models import Job
    from workers import actors  # noqa: F401
    from workers.watchdog import Supervisor

    broker = dramatiq.get_broker()
    broker.flush_all()
    job, _token = queued_job
    owner = "analyze/host:1:1:abcd"
    Job.objects.filter(pk=job.pk).update(
        state="analyzing", lease_owner=owner, lease_expires_at=timezone.now() + timedelta(seconds=5)
    )
    watch = tmp_path / "watch"
    watch.mkdir()
    record = {"pid": os.getpid(), "job_id": str(job.pk), "stage": "analyze", "owner": owner, "deadline": 1e12}
    (watch / "1-1.json").write_text(json.dumps(record))

    Supervisor(["true"], watch_dir=watch, grace_s=1, restart_delay_s=0).check()

    assert list(broker.queues["cpu"].queue) == []
    row = Job.objects.get(pk=job.pk)
    assert row.lease_owner == owner and row.lease_expires_at > timezone.now() + timedelta(seconds=30)
