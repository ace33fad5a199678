"""A worker SIGKILLed mid-stage, a long stage outliving its lease TTL, a duplicate delivery, and a
stage stuck in uninterruptible code: real worker processes, real broker, real database."""

from __future__ import annotations

import signal
import sys
import time
from typing import Any

import pytest

from tests.faults.conftest import USE_RABBITMQ, Stack, analysis_calls, video_calls, wait_for

# Who brings a dead worker's message back: RabbitMQ redelivers a dropped consumer's unacked message
# at once, so the replacement runs it (0 reconciler recoveries) unless it arrives while the dead
# worker's lease is still live and is dropped, in which case the reconciler re-enqueues once; Redis and
# Valkey only requeue after heartbeat timeouts, so there the reconciler always re-enqueues, once.
RECONCILER_RECOVERIES = {0, 1} if USE_RABBITMQ else {1}

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
    assert done.recoveries in RECONCILER_RECOVERIES  # at most one re-enqueue by the reconciler
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


def _ready_variant(procs: Stack) -> Any:
    """A variant with a real (short, small) film ingested and five posters prepared by the cpu worker."""
    import tempfile
    from pathlib import Path

    from django.core.files.base import ContentFile

    from campaign import demo
    from campaign.models import Campaign, Film, FilmVariant, IngestStatus, PosterTemplate

    campaign = Campaign.objects.create(slug="video-kill", title="Video kill")
    film = Film.objects.create(campaign=campaign, slug="short", title="Short")
    variant = FilmVariant(film=film, gender="female")
    with tempfile.TemporaryDirectory() as tmp:
        clip = demo.build_demo_film(Path(tmp) / "short.mp4", seconds=3, size=(180, 320))
        variant.template_video.save("short.mp4", ContentFile(clip.read_bytes()), save=False)
    variant.save()
    for index in range(5):
        poster = PosterTemplate(variant=variant, position=index + 1)
        poster.image.save(f"short-{index}.jpg", ContentFile(demo.build_demo_poster(index)), save=False)
        poster.save()
        procs.enqueue("prepare_poster", poster.pk, poster.generation)
    procs.enqueue("ingest_variant", variant.pk, variant.ingest_generation)

    def ready() -> bool:
        row = FilmVariant.objects.get(pk=variant.pk)
        assert row.ingest_status != IngestStatus.FAILED, row.ingest_error
        posters = PosterTemplate.objects.filter(variant=variant, prepare_status=IngestStatus.READY).count()
        return row.ingest_status == IngestStatus.READY and posters == 5

    wait_for(ready, timeout=120, interval=0.5, what="film ingest and poster preparation")
    return variant


def test_gpu_worker_killed_mid_video_finishes_the_film_once_after_a_worker_comes_back(  # type: ignore[no-untyped-def]
    procs: Stack, make_job
) -> None:
    from campaign.models import Job

    procs.worker("worker-cpu")
    variant = _ready_variant(procs)
    job = make_job()
    Job.objects.filter(pk=job.pk).update(variant=variant)
    gpu = procs.worker("worker-gpu-a", queue="gpu", FAULT_VIDEO_BATCH_DELAY_S="2")
    procs.reconciler()
    procs.enqueue("analyze_job", str(job.pk))

    wait_for(
        lambda: _job(job.pk).state == "video" and _job(job.pk).stage_progress > 0,
        timeout=120,
        what="the film to be part-rendered",
    )
    part = _job(job.pk)
    procs.kill(gpu, signal.SIGKILL)
    killed_at = time.monotonic()
    procs.worker("worker-gpu-b", queue="gpu")
    wait_for(lambda: _job(job.pk).state in ("done", "failed"), timeout=120, what="the film after recovery")
    recovery_s = time.monotonic() - killed_at

    done = _job(job.pk)
    assert done.state == "done", (done.failure_code, done.failure_message)
    assert done.recoveries in RECONCILER_RECOVERIES
    assert video_calls(procs, job.pk) == 2  # the killed render and one recovery render
    assert 0 < part.stage_progress < 1 and done.progress == 1.0
    assert [key.rsplit("/", 1)[1] for key in done.poster_keys] == [f"poster-{i}.jpg" for i in range(1, 6)]
    job_dir = procs.root / "media" / "jobs" / str(job.pk)
    assert sorted(p.name for p in job_dir.iterdir()) == sorted(
        ["face.asset", "film.mp4", "cover.jpg", *(f"poster-{i}.jpg" for i in range(1, 6))]
    )  # fixed keys: nothing duplicated by the second render
    assert (job_dir / "film.mp4").stat().st_size > 1000
    # The killed render's plaintext partial film was swept when the replacement worker started.
    from pathlib import Path

    assert list((Path(procs.env["LOCAL_CACHE_DIR"]) / "renders").iterdir()) == []
    print(f"recovery after SIGKILL mid-video: {recovery_s:.1f} s")
    assert recovery_s < 90


def test_periodic_reconcile_actor_recovers_a_dead_workers_job_without_the_reconciler_process(  # type: ignore[no-untyped-def]
    procs: Stack, make_job
) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from campaign.models import Job

    job = make_job()
    # A worker died holding the analysis: its lease ran out a moment ago and no message is queued.
    Job.objects.filter(pk=job.pk).update(
        state="analyzing",
        analyzing_at=timezone.now(),
        lease_owner="analyze/lost-node:1:1:dead",
        lease_expires_at=timezone.now() - timedelta(seconds=1),
    )
    procs.worker("worker-periodic", threads=2, modules=("workers.reconciler",), RECONCILE_INTERVAL_S="1")

    wait_for(lambda: _past_analysis(job.pk), timeout=90, what="the periodic actor to recover the job")

    done = _job(job.pk)
    assert done.posters_at is not None and done.recoveries == 1
    log = procs.root.joinpath("worker-periodic.log").read_text()
    assert "lease of analyzing (analyze/lost-node:1:1:dead) expired" in log


def test_watchdog_hands_on_a_killed_workers_job_at_once_and_a_worker_start_sweeps_dead_renders(  # type: ignore[no-untyped-def]
    procs: Stack, make_job
) -> None:
    import os
    import subprocess
    from pathlib import Path

    # A render folder of a worker that was killed mid-film: its partial film is plaintext.
    finished = subprocess.Popen(["true"])
    finished.wait()
    abandoned = Path(procs.env["LOCAL_CACHE_DIR"]) / "renders" / f"{make_job().pk}.{finished.pid}.x1y2z3"
    abandoned.mkdir(parents=True)
    (abandoned / "film.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 partial")

    job = make_job()
    # A 60 s lease and no reconciler process: only the watchdog can bring the job back quickly.
    procs.worker("worker-watched", supervised=True, FAULT_ANALYZE_DELAY_S="30", LEASE_TTL_S="60", GRACE="30")
    assert not abandoned.exists()  # swept before the worker took its first message
    procs.enqueue("analyze_job", str(job.pk))
    wait_for(lambda: analysis_calls(procs, job.pk) == 1, timeout=30, what="analysis to start")
    pid = int(Path(procs.env["FAULT_CALLS_FILE"]).read_text().split()[1])

    os.kill(pid, signal.SIGKILL)  # the worker process running the stage, nothing else
    killed_at = time.monotonic()
    wait_for(lambda: analysis_calls(procs, job.pk) == 2, timeout=50, interval=0.2, what="the retry to start")
    recovery_s = time.monotonic() - killed_at

    running = _job(job.pk)
    assert running.recoveries == 1
    log = procs.root.joinpath("worker-watched.log").read_text()
    assert f"worker pid {pid} died in job {job.pk} stage analyze; releasing its lease now" in log
    print(f"retry after SIGKILL under the watchdog: {recovery_s:.1f} s (lease TTL 60 s)")
    assert recovery_s < 45  # the lease would have held the job for 60 s
