"""The job state machine: compare-and-set transitions, no-ops, illegal edges, conflicts; intake keeps only
the token's digest."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.storage import default_storage

from campaign.errors import IllegalTransition, TransitionConflict
from campaign.models import Job, JobState
from campaign.services.jobs import (
    JobCancelled,
    job_advance,
    job_delete,
    job_fail,
    job_poster_add,
    job_progress_report,
    job_retry,
)
from campaign.services.tokens import token_digest


def test_intake_stores_only_the_token_digest_and_a_random_uuid4_id(queued_job: Any) -> None:
    job, token = queued_job
    assert job.state == JobState.QUEUED
    assert job.id.version == 4
    assert job.token_hash == token_digest(token)
    assert token not in job.token_hash
    assert len(token) >= 43  # 32 random bytes, urlsafe base64
    assert job.photo_key == f"jobs/{job.id}/photo.jpg"
    assert default_storage.exists(job.photo_key)


def test_advance_moves_the_job_and_stamps_the_stage(queued_job: Any) -> None:
    job, _ = queued_job
    assert job_advance(job_id=job.id, from_state=JobState.QUEUED, to_state=JobState.ANALYZING) is True
    job.refresh_from_db()
    assert job.state == JobState.ANALYZING
    assert job.analyzing_at is not None
    assert job.event_seq == 1


def test_advancing_again_to_the_same_state_is_a_noop(queued_job: Any) -> None:
    job, _ = queued_job
    job_advance(job_id=job.id, from_state=JobState.QUEUED, to_state=JobState.ANALYZING)
    stamped = Job.objects.get(pk=job.id).analyzing_at
    # A redelivered message repeats the same transition: nothing changes, no error.
    assert job_advance(job_id=job.id, from_state=JobState.QUEUED, to_state=JobState.ANALYZING) is False
    assert job_advance(job_id=job.id, from_state=JobState.ANALYZING, to_state=JobState.ANALYZING) is False
    again = Job.objects.get(pk=job.id)
    assert again.analyzing_at == stamped
    assert again.event_seq == 1


def test_a_transition_the_machine_lacks_raises(queued_job: Any) -> None:
    job, _ = queued_job
    with pytest.raises(IllegalTransition):
        job_advance(job_id=job.id, from_state=JobState.QUEUED, to_state=JobState.DONE)
    with pytest.raises(IllegalTransition):
        job_advance(job_id=job.id, from_state=JobState.DONE, to_state=JobState.ANALYZING)
    assert Job.objects.get(pk=job.id).state == JobState.QUEUED


def test_compare_and_set_refuses_when_the_job_is_elsewhere(queued_job: Any) -> None:
    job, _ = queued_job
    job_delete(job_id=job.id)
    with pytest.raises(TransitionConflict) as caught:
        job_advance(job_id=job.id, from_state=JobState.QUEUED, to_state=JobState.ANALYZING)
    assert caught.value.actual == JobState.DELETED
    assert Job.objects.get(pk=job.id).state == JobState.DELETED


def test_fail_records_code_and_message_once(queued_job: Any) -> None:
    job, _ = queued_job
    assert job_fail(job_id=job.id, code="no_face", message="No face found.") is True
    assert job_fail(job_id=job.id, code="internal_error", message="later") is False
    job.refresh_from_db()
    assert (job.state, job.failure_code, job.failure_message) == (
        JobState.FAILED,
        "no_face",
        "No face found.",
    )
    assert job.finished_at is not None


def test_retry_requeues_a_failed_job_and_clears_the_failure(queued_job: Any) -> None:
    job, _ = queued_job
    job_fail(job_id=job.id, code="internal_error", message="x")
    assert job_retry(job_id=job.id) is True
    job.refresh_from_db()
    assert (job.state, job.failure_code, job.finished_at) == (JobState.QUEUED, "", None)


def test_delete_wipes_every_file_and_keys(queued_job: Any) -> None:
    job, _ = queued_job
    job_advance(job_id=job.id, from_state=JobState.QUEUED, to_state=JobState.ANALYZING)
    job_advance(job_id=job.id, from_state=JobState.ANALYZING, to_state=JobState.POSTERS)
    default_storage.save(f"jobs/{job.id}/poster-1.jpg", _content(b"poster"))
    job_poster_add(job_id=job.id, position=1, key=f"jobs/{job.id}/poster-1.jpg")
    assert job_delete(job_id=job.id) is True
    job.refresh_from_db()
    assert job.state == JobState.DELETED
    assert (job.photo_key, job.poster_keys, job.video_key) == ("", [], "")
    assert not default_storage.exists(f"jobs/{job.id}/photo.jpg")
    assert not default_storage.exists(f"jobs/{job.id}/poster-1.jpg")
    assert job_delete(job_id=job.id) is False


def test_poster_add_fills_its_slot_and_moves_progress(queued_job: Any) -> None:
    job, _ = queued_job
    job_advance(job_id=job.id, from_state=JobState.QUEUED, to_state=JobState.ANALYZING)
    job_advance(job_id=job.id, from_state=JobState.ANALYZING, to_state=JobState.POSTERS)
    job_poster_add(job_id=job.id, position=3, key="jobs/x/poster-3.jpg")
    job.refresh_from_db()
    assert job.poster_keys == ["", "", "jobs/x/poster-3.jpg", "", ""]
    assert job.stage_progress == pytest.approx(0.2)
    assert job.progress == pytest.approx(0.1 + 0.25 * 0.2)


def test_progress_is_throttled_but_the_last_report_always_lands(queued_job: Any, settings: Any) -> None:
    settings.PROGRESS_MIN_INTERVAL_S = 60.0
    job, _ = queued_job
    job_advance(job_id=job.id, from_state=JobState.QUEUED, to_state=JobState.ANALYZING)
    job_advance(job_id=job.id, from_state=JobState.ANALYZING, to_state=JobState.POSTERS)
    job_advance(job_id=job.id, from_state=JobState.POSTERS, to_state=JobState.VIDEO)
    job_progress_report(job_id=job.id, stage=JobState.VIDEO, done=10, total=100)
    job_progress_report(job_id=job.id, stage=JobState.VIDEO, done=50, total=100)  # within the interval
    assert Job.objects.get(pk=job.id).stage_progress == pytest.approx(0.1)
    job_progress_report(job_id=job.id, stage=JobState.VIDEO, done=100, total=100)
    assert Job.objects.get(pk=job.id).stage_progress == pytest.approx(1.0)


def test_progress_of_a_deleted_job_stops_the_stage(queued_job: Any) -> None:
    job, _ = queued_job
    job_advance(job_id=job.id, from_state=JobState.QUEUED, to_state=JobState.ANALYZING)
    job_delete(job_id=job.id)
    with pytest.raises(JobCancelled):
        job_progress_report(job_id=job.id, stage=JobState.ANALYZING, done=1, total=3)


def _content(data: bytes) -> Any:
    from django.core.files.base import ContentFile

    return ContentFile(data)


def test_a_result_finished_after_deletion_is_removed_not_recorded(queued_job: Any) -> None:
    job, _ = queued_job
    job_advance(job_id=job.id, from_state=JobState.QUEUED, to_state=JobState.ANALYZING)
    job_advance(job_id=job.id, from_state=JobState.ANALYZING, to_state=JobState.POSTERS)
    job_delete(job_id=job.id)
    key = default_storage.save(f"jobs/{job.id}/poster-1.jpg", _content(b"late poster"))
    with pytest.raises(JobCancelled):
        job_poster_add(job_id=job.id, position=1, key=key)
    assert not default_storage.exists(key)
    assert Job.objects.get(pk=job.id).poster_keys == []
