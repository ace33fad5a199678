"""Actors against the in-process StubBroker and a Worker thread, with the real engine.

Bad input fails the job once, without retries; transient faults are retried and the last attempt
records the failure; redelivered messages for jobs that moved on do nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import dramatiq
import pytest
from django.core.files.storage import default_storage

from campaign.broker import broker
from campaign.models import Job, JobState
from campaign.services.jobs import job_advance, job_create, job_delete
from tests.campaign.conftest import jpeg_bytes
from workers import actors

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def worker() -> Iterator[dramatiq.Worker]:
    broker.flush_all()
    worker = dramatiq.Worker(broker, worker_timeout=50, worker_threads=1)
    worker.start()
    yield worker
    worker.stop()
    broker.flush_all()


def _drain() -> None:
    broker.join("cpu", fail_fast=False, timeout=60_000)


def test_photo_without_a_face_fails_the_job_with_the_engine_code_and_no_retry(
    ready_campaign: Any, worker: dramatiq.Worker
) -> None:
    from skimage import data

    ticket = job_create(
        campaign=ready_campaign, gender="female", photo=jpeg_bytes(data.coffee()), consent=True
    )
    _drain()
    job = Job.objects.get(pk=ticket.job.id)
    assert job.state == JobState.FAILED
    assert job.failure_code == "no_face"
    assert job.failure_message
    assert job.analyzing_at is not None and job.posters_at is None
    assert broker.dead_letters == []  # handled, not retried or dead-lettered
    assert not broker.queues["cpu"].qsize()  # no posters stage was enqueued


def test_refused_photo_is_deleted_when_it_is_refused(ready_campaign: Any, worker: dramatiq.Worker) -> None:
    from skimage import data

    ticket = job_create(
        campaign=ready_campaign, gender="female", photo=jpeg_bytes(data.coffee()), consent=True
    )
    photo_key = ticket.job.photo_key
    assert default_storage.exists(photo_key)  # encrypted original stored at intake
    _drain()
    job = Job.objects.get(pk=ticket.job.id)
    assert job.state == JobState.FAILED
    assert job.failure_code == "no_face"
    assert job.photo_key == ""
    assert not default_storage.exists(photo_key)  # at once, not at the retention sweep


def test_glasses_in_the_photo_reach_the_job_as_a_warning(ready_campaign: Any) -> None:
    from swap.imageio import encode_jpeg
    from tests.swap.render_fixtures import framed_astronaut

    _bare, framed = framed_astronaut()
    ticket = job_create(
        campaign=ready_campaign, gender="female", photo=encode_jpeg(framed.rgb, 95), consent=True
    )
    actors.analyze_job.fn(str(ticket.job.id))
    job = Job.objects.get(pk=ticket.job.id)
    assert job.state == JobState.POSTERS and job.face_asset_key
    assert "glasses" in job.warnings and "face_small" in job.warnings  # the asset's and the analysis's


def test_transient_fault_is_retried_then_recorded_on_the_job(
    queued_job: Any, worker: dramatiq.Worker
) -> None:
    job, _ = queued_job
    broker.flush_all()  # the intake's own message; we send ours with a short retry policy
    default_storage.delete(job.photo_key)  # reading the photo fails: not the visitor's fault
    actors.analyze_job.send_with_options(args=(str(job.id),), max_retries=1, min_backoff=10, max_backoff=20)
    _drain()
    job.refresh_from_db()
    assert (job.state, job.failure_code) == (JobState.FAILED, "internal_error")
    assert "try again" in job.failure_message
    assert len(broker.dead_letters) == 1  # the one message, after its one retry


def test_redelivered_analysis_of_a_job_past_analysis_does_nothing(queued_job: Any) -> None:
    job, _ = queued_job
    job_advance(job_id=job.id, from_state=JobState.QUEUED, to_state=JobState.ANALYZING)
    job_advance(job_id=job.id, from_state=JobState.ANALYZING, to_state=JobState.POSTERS)
    broker.flush_all()
    before = Job.objects.get(pk=job.id)
    actors.analyze_job.fn(str(job.id))
    after = Job.objects.get(pk=job.id)
    assert (after.state, after.event_seq, after.face_asset_key) == (JobState.POSTERS, before.event_seq, "")
    assert broker.queues["cpu"].qsize() == 0


def test_stages_skip_deleted_and_unknown_jobs(queued_job: Any) -> None:
    job, _ = queued_job
    job_delete(job_id=job.id)
    broker.flush_all()
    actors.analyze_job.fn(str(job.id))
    actors.render_posters.fn(str(job.id))
    actors.render_video.fn(str(job.id))
    actors.analyze_job.fn("00000000-0000-4000-8000-000000000000")
    assert Job.objects.get(pk=job.id).state == JobState.DELETED
    assert broker.queues["cpu"].qsize() == 0


def test_actors_run_on_their_queues_with_bounded_retries() -> None:
    stages = (
        actors.analyze_job,
        actors.render_posters,
        actors.render_video,
        actors.ingest_variant,
        actors.prepare_poster,
    )
    assert {a.actor_name: a.queue_name for a in stages} == {
        "analyze_job": "cpu",
        "render_posters": "cpu",
        "render_video": "gpu",
        "ingest_variant": "ingest",  # editors' work never queues ahead of visitors on cpu
        "prepare_poster": "ingest",
    }
    for actor in (actors.analyze_job, actors.render_posters, actors.render_video, actors.ingest_variant):
        assert actor.options["max_retries"] == 3
        assert actor.options["time_limit"] <= 1_800_000
