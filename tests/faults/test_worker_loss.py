"""A worker SIGKILLed mid-stage, a long stage outliving its lease TTL, a duplicate delivery, and a
stage stuck in uninterruptible code: real worker processes, real broker, real database."""

from __future__ import annotations

import signal
import sys
import time

import pytest

from tests.faults.conftest import Stack, analysis_calls, wait_for

pytestmark = pytest.mark.slow


def _job(job_id: object):  # type: ignore[no-untyped-def]
    from campaign.models import Job

    return Job.objects.get(pk=job_id)


def _past_analysis(job_id: object) -> bool:
    job = _job(job_id)
    return job.posters_at is not None or job.state == "failed"


def test_job_of_a_killed_worker_completes_its_stage_after_a_worker_comes_back(procs: Stack, make_job) -> None:  # type: ignore[no-untyped-def]
    from campaign.services.storage import blob_exists

    job = make_job()
    worker = procs.worker("worker-a", FAULT_ANALYZE_DELAY_S="30")
    procs.reconciler()
    procs.enqueue("analyze_job", str(job.pk))
    wait_for(lambda: analysis_calls(procs, job.pk) == 1, timeout=30, what="analysis to start")
    running = _job(job.pk)
    assert running.state == "analyzing"
    assert running.lease_owner.startswith("analyze/")

    procs.kill(worker, signal.SIGKILL)  # the whole worker: main and child processes, no cleanup
    killed_at = time.monotonic()
    procs.worker("worker-b")  # the replacement (Kubernetes restarts the pod), no artificial delay
    wait_for(lambda: _past_analysis(job.pk), timeout=90, what="the job to leave analysis")
    recovery_s = time.monotonic() - killed_at

    done = _job(job.pk)
    assert done.failure_code == "" or done.failure_code != "stage_timeout"
    assert done.posters_at is not None  # analysis finished and the job moved on to posters
    assert done.recoveries == 1  # exactly one re-enqueue by the reconciler
    assert analysis_calls(procs, job.pk) == 2  # the killed run and one recovery run, no more
    assert done.face_asset_key == f"jobs/{job.pk}/face.asset" and blob_exists(key=done.face_asset_key)
    assert done.photo_key == ""  # the original was deleted once the face asset existed
    assets = list((procs.root / "media" / "jobs" / str(job.pk)).glob("face*"))
    assert [p.name for p in assets] == ["face.asset"]  # fixed key: no duplicate result files
    # Bounded by the lease (2 s) + reconcile interval (0.5 s) + worker start + one analysis.
    print(f"recovery after SIGKILL: {recovery_s:.1f} s")
    assert recovery_s < 60


def test_long_stage_keeps_its_lease_and_a_duplicate_delivery_does_nothing(procs: Stack, make_job) -> None:  # type: ignore[no-untyped-def]
    job = make_job()
    # The stage runs 3x the lease TTL: only heartbeats keep the reconciler from handing it to others.
    procs.worker("worker-dup", threads=2, FAULT_ANALYZE_DELAY_S="6")
    procs.reconciler()
    procs.enqueue("analyze_job", str(job.pk))
    wait_for(lambda: analysis_calls(procs, job.pk) == 1, timeout=30, what="analysis to start")
    procs.enqueue("analyze_job", str(job.pk))  # a redelivery while the first run is alive

    wait_for(lambda: _past_analysis(job.pk), timeout=90, what="the job to leave analysis")

    done = _job(job.pk)
    assert done.posters_at is not None
    assert done.recoveries == 0
    assert analysis_calls(procs, job.pk) == 1
    log = procs.root.joinpath("worker-dup.log").read_text()
    assert f"job {job.pk}: analyze already running elsewhere" in log


def test_stage_stuck_in_native_code_is_cut_off_and_failed_with_a_clear_message(
    procs: Stack, make_job
) -> None:  # type: ignore[no-untyped-def]
    job = make_job()
    # The analyse stage blocks in one C call for 600 s; its time limit is 2 s, which Dramatiq cannot
    # enforce there. The supervising watchdog kills the worker, the reconciler retries once
    # (MAX_RECOVERIES=1), the retry gets stuck the same way, and the job is failed.
    supervisor = procs.worker(
        "worker-stuck",
        supervised=True,
        FAULT_ANALYZE_BLOCK_S="600",
        FAULT_ANALYZE_TIME_LIMIT_MS="2000",
        MAX_RECOVERIES="1",
        GRACE="1",
    )
    procs.spawn(
        [sys.executable, "manage.py", "reconcile", "--interval", "0.5"],
        "reconciler-stuck",
        MAX_RECOVERIES="1",
    )
    started = time.monotonic()
    procs.enqueue("analyze_job", str(job.pk))

    wait_for(lambda: _job(job.pk).state == "failed", timeout=120, what="the stuck job to be failed")
    elapsed = time.monotonic() - started

    failed = _job(job.pk)
    assert failed.failure_code == "stage_timeout"
    assert "took far longer than it should" in failed.failure_message
    assert failed.recoveries == 2
    assert analysis_calls(procs, job.pk) == 2  # first run and one retry, both cut off
    assert supervisor.poll() is None  # the supervisor itself survives and keeps a worker running
    log = procs.root.joinpath("worker-stuck.log").read_text()
    assert log.count("overran its time limit") == 2
    print(f"stuck stage failed after {elapsed:.1f} s")
    assert elapsed < 100
