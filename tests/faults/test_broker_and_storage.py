"""Broker restarted with jobs queued, broker that lost its data, storage gone for a while: real
Valkey, real workers, real reconciler."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

from tests.faults.conftest import REPO, USE_SERVICES, Stack, wait_for

pytestmark = pytest.mark.slow

needs_embedded_broker = pytest.mark.skipif(
    USE_SERVICES, reason="restarts the broker: needs the embedded Valkey, not the machine's Redis"
)


def _states(job_ids: list[object]) -> list[str]:
    from campaign.models import Job

    return [Job.objects.get(pk=job_id).state for job_id in job_ids]


def _all_past_analysis(job_ids: list[object]) -> bool:
    from campaign.models import Job

    return all(
        job.posters_at is not None or job.state == "failed" for job in Job.objects.filter(pk__in=job_ids)
    )


def _queue_length(stack: Stack) -> int:
    assert stack.valkey is not None
    return int(stack.valkey.client().llen("dramatiq:cpu"))


JOB_STAGE_ACTORS = {"analyze_job", "render_posters", "render_video"}


def _queued_job_messages(stack: Stack) -> Counter[str]:
    """Job ids of the job-stage messages waiting in the broker's queues, with their multiplicity.

    Other messages (the self-rescheduling retention and reconcile chains) may be queued beside them.
    """
    assert stack.valkey is not None
    client = stack.valkey.client()
    found: Counter[str] = Counter()
    for queue in ("cpu", "gpu"):
        for raw in client.hvals(f"dramatiq:{queue}.msgs"):
            message = json.loads(raw)
            if message["actor_name"] in JOB_STAGE_ACTORS:
                found[message["args"][0]] += 1
    return found


@needs_embedded_broker
def test_jobs_queued_in_an_append_only_broker_survive_its_restart(procs: Stack, make_job) -> None:  # type: ignore[no-untyped-def]
    from campaign.models import Job

    assert procs.valkey is not None
    jobs = [make_job() for _ in range(3)]
    for job in jobs:
        procs.enqueue("analyze_job", str(job.pk))
    assert _queue_length(procs) == 3

    procs.valkey.stop(signal.SIGTERM)  # a clean restart (deploy, node drain): AOF flushed on shutdown
    procs.valkey.start(appendonly=True)

    assert _queue_length(procs) == 3  # the messages themselves survived, no reconciler involved
    procs.worker("worker-after-restart")
    wait_for(lambda: _all_past_analysis([j.pk for j in jobs]), timeout=120, what="queued jobs to run")
    assert all(job.posters_at is not None for job in Job.objects.filter(pk__in=[j.pk for j in jobs]))
    assert [job.recoveries for job in Job.objects.filter(pk__in=[j.pk for j in jobs])] == [0, 0, 0]


@needs_embedded_broker
def test_reconciler_re_enqueues_every_queued_job_from_the_database_when_the_broker_lost_its_data(
    procs: Stack, make_job
) -> None:  # type: ignore[no-untyped-def]
    from campaign.models import ACTIVE_STATES, Job

    assert procs.valkey is not None
    once = [sys.executable, "manage.py", "reconcile", "--once"]
    subprocess.run(once, cwd=REPO, env=procs.env, check=True, capture_output=True)  # marks the epoch
    jobs = [make_job() for _ in range(3)]
    for job in jobs:
        procs.enqueue("analyze_job", str(job.pk))

    procs.valkey.stop(signal.SIGKILL)  # crash of a broker that had no persistence: data gone
    for path in procs.valkey.data_dir.glob("appendonly*"):
        if path.is_dir():
            for part in path.iterdir():
                part.unlink()
            path.rmdir()
        else:
            path.unlink()
    procs.valkey.start(appendonly=True)
    assert _queue_length(procs) == 0

    report = subprocess.run(once, cwd=REPO, env=procs.env, check=True, capture_output=True, text=True)
    outcome = json.loads(report.stdout.strip().splitlines()[-1])
    # Every active job without a live lease, including earlier tests' jobs stranded in later stages.
    waiting = {str(pk) for pk in Job.objects.filter(state__in=ACTIVE_STATES).values_list("pk", flat=True)}
    assert outcome["broker_lost"] is True
    assert {str(j.pk) for j in jobs} <= set(outcome["requeued"])
    assert sorted(outcome["requeued"]) == sorted(waiting)
    assert _queued_job_messages(procs) == Counter(waiting)  # each waiting job in the broker exactly once

    again = subprocess.run(once, cwd=REPO, env=procs.env, check=True, capture_output=True, text=True)
    assert json.loads(again.stdout.strip().splitlines()[-1])["requeued"] == []  # marker is back: no flood

    procs.worker("worker-after-loss")
    wait_for(lambda: _all_past_analysis([j.pk for j in jobs]), timeout=120, what="re-enqueued jobs to run")
    assert all(job.posters_at is not None for job in Job.objects.filter(pk__in=[j.pk for j in jobs]))


def test_storage_outage_is_a_delay_not_a_failure(procs: Stack, make_job) -> None:  # type: ignore[no-untyped-def]
    """The media volume disappears (a lost mount) for 5 s while a job is queued: the stage fails to
    read the photo, Dramatiq retries with backoff, and the job goes through once storage is back."""
    from campaign.models import Job

    media = procs.root / "media"
    job = make_job()
    parked = procs.root / "media-parked"
    media.rename(parked)
    media.symlink_to(procs.root / "nowhere")  # every read and write now fails with an OSError
    try:
        procs.worker("worker-storage")
        procs.enqueue("analyze_job", str(job.pk))
        log = procs.root / "worker-storage.log"
        wait_for(lambda: b"Retrying message" in log.read_bytes(), timeout=30, what="a retry")
        time.sleep(2)
    finally:
        media.unlink()
        parked.rename(media)
    wait_for(
        lambda: (
            Job.objects.get(pk=job.pk).posters_at is not None or Job.objects.get(pk=job.pk).state == "failed"
        ),
        timeout=90,
        what="the job after storage came back",
    )
    done = Job.objects.get(pk=job.pk)
    # Analysis went through once storage was back (this fixture's variant has no poster templates,
    # so the posters stage may already have failed it for that reason: not a storage failure).
    assert done.posters_at is not None
    assert done.failure_code in ("", "template_no_posters"), done.failure_code
    assert (media / "jobs" / str(job.pk) / "face.asset").exists()
    assert "FileNotFoundError" in log.read_text() or "OSError" in log.read_text()
    assert os.path.isdir(media)
