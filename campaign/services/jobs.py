"""The job's life: intake, the state machine, progress, results, failure, retry and deletion.

Transitions are compare-and-set (`UPDATE ... WHERE state = <expected>`): two workers that both got the
same message cannot both move a job, and a redelivered message finds the job already moved and does
nothing. Setting the state a job already has is a no-op; an edge the machine lacks raises.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from campaign.errors import IllegalTransition, TransitionConflict, VariantUnavailable
from campaign.intake.admission import admission_release, admission_request
from campaign.intake.memo import intake_memo
from campaign.intake.uploads import sanitize_upload
from campaign.models import Campaign, FilmVariant, Gender, Job, JobId, JobState
from campaign.selectors import POSTER_COUNT, variants_ready
from campaign.services.dispatch import QueueUnavailable, enqueue_on_commit
from campaign.services.events import job_event_publish, queue_moved_publish
from campaign.services.private_blobs import private_blob_put
from campaign.services.scratch import render_scratch_sweep
from campaign.services.storage import blob_delete
from campaign.services.tokens import token_new
from campaign.stages import ANALYZE_JOB, ENTER_STATE_ACTOR

logger = logging.getLogger(__name__)

TRANSITIONS: dict[str, frozenset[str]] = {
    JobState.QUEUED: frozenset({JobState.ANALYZING, JobState.FAILED, JobState.DELETED}),
    JobState.ANALYZING: frozenset({JobState.POSTERS, JobState.FAILED, JobState.DELETED}),
    JobState.POSTERS: frozenset({JobState.VIDEO, JobState.FAILED, JobState.DELETED}),
    JobState.VIDEO: frozenset({JobState.DONE, JobState.FAILED, JobState.DELETED}),
    JobState.DONE: frozenset({JobState.DELETED}),
    JobState.FAILED: frozenset({JobState.QUEUED, JobState.DELETED}),  # queued again = operator retry
    JobState.DELETED: frozenset(),
}

# Share of the whole job each stage covers, for one progress bar across stages.
STAGE_SPAN: dict[str, tuple[float, float]] = {
    JobState.QUEUED: (0.0, 0.0),
    JobState.ANALYZING: (0.0, 0.1),
    JobState.POSTERS: (0.1, 0.35),
    JobState.VIDEO: (0.35, 1.0),
    JobState.DONE: (1.0, 1.0),
}

_STAMP_FIELD: dict[str, str] = {
    JobState.ANALYZING: "analyzing_at",
    JobState.POSTERS: "posters_at",
    JobState.VIDEO: "video_at",
    JobState.DONE: "finished_at",
    JobState.FAILED: "finished_at",
    JobState.DELETED: "deleted_at",
}


def job_key(job_id: JobId, name: str) -> str:
    """The fixed storage key of one of a job's files (fixed keys make stages idempotent)."""
    return f"jobs/{job_id}/{name}"


@dataclass(frozen=True)
class JobTicket:
    """What intake hands back once: the token exists nowhere else in plain text."""

    job: Job
    token: str
    queue_position: int
    eta_seconds: int


def job_create(
    *,
    campaign: Campaign,
    gender: str,
    photo: bytes,
    consent: bool,
    film_slug: str | None = None,
    consent_version: str = "",
    age_confirmation: str = "",
) -> JobTicket:
    """Accept a visitor's photo: check it, store it, write the Job row, enqueue analysis on commit.

    `consent_version`/`age_confirmation` are what the visitor agreed to (campaign.consent checks them at
    the API); they are recorded on the job.
    """
    from campaign.errors import PhotoInvalid

    if not consent:
        raise PhotoInvalid(
            "Please tick the consent box: we need your permission to process your face photo.",
            code="consent_required",
        )
    if gender not in Gender.values:
        raise PhotoInvalid("Please choose female or male.", code="invalid_gender")
    ready = intake_memo(("variants", campaign.pk), lambda: variants_ready(campaign=campaign))
    variants = [v for v in ready if v.gender == gender]
    if film_slug:
        variants = [v for v in variants if v.film.slug == film_slug]
    if not variants:
        raise VariantUnavailable("This film is not available for the chosen gender right now.")
    variant = variants[0]

    # Live-throughput admission (campaign.intake.admission): ServiceBusy (503 + Retry-After) beyond
    # the campaign's promised wait; a refused photo gives its place back.
    admission = admission_request(campaign=campaign)
    position, eta = admission.queue_position, admission.eta_seconds
    try:
        clean_photo = sanitize_upload(photo).jpeg_bytes
    except PhotoInvalid:
        admission_release()
        raise
    job_id = uuid.uuid4()
    photo_key = private_blob_put(key=job_key(job_id, "photo.jpg"), data=clean_photo, campaign=campaign.slug)
    token, digest = token_new()
    try:
        job = _job_insert(
            job_id=job_id,
            token_hash=digest,
            campaign=campaign,
            variant=variant,
            gender=gender,
            photo_key=photo_key,
            position=position,
            eta=eta,
            consent_version=consent_version,
            age_confirmation=age_confirmation,
        )
    except QueueUnavailable:
        # Never 202 and silence: the message is not in the broker, so the job is not accepted. A
        # message the frozen broker takes late finds no row and does nothing.
        Job.objects.filter(pk=job_id).delete()
        blob_delete(key=photo_key)
        admission_release()
        raise
    logger.info("job %s accepted (variant %s, position %d)", job.id, variant.pk, position)
    return JobTicket(job=job, token=token, queue_position=position, eta_seconds=eta)


def _job_insert(
    *,
    job_id: uuid.UUID,
    token_hash: str,
    campaign: Campaign,
    variant: FilmVariant,
    gender: str,
    photo_key: str,
    position: int,
    eta: int,
    consent_version: str,
    age_confirmation: str,
) -> Job:
    """Write the row and send its first message once it commits (QueueUnavailable if that fails)."""
    with transaction.atomic():
        job = Job.objects.create(
            id=job_id,
            token_hash=token_hash,
            campaign=campaign,
            variant=variant,
            gender=gender,
            photo_key=photo_key,
            poster_keys=[""] * POSTER_COUNT,
            queue_position_at_intake=position,
            eta_seconds_at_intake=eta,
            consent_version=consent_version,
            age_confirmation=age_confirmation,
        )
        enqueue_on_commit(ANALYZE_JOB.name, str(job.id), required=True)
    return job


def _transition(*, job_id: JobId, from_state: str, to_state: str, updates: dict[str, Any]) -> bool:
    if to_state not in TRANSITIONS[from_state]:
        raise IllegalTransition(f"job {job_id}: no transition {from_state} -> {to_state}")
    fields: dict[str, Any] = {"state": to_state, "event_seq": F("event_seq") + 1, **updates}
    if to_state in _STAMP_FIELD:
        fields.setdefault(_STAMP_FIELD[to_state], timezone.now())
    if to_state in STAGE_SPAN:
        fields.setdefault("progress", STAGE_SPAN[to_state][0])
        fields.setdefault("stage_progress", 1.0 if to_state == JobState.DONE else 0.0)
    changed = Job.objects.filter(pk=job_id, state=from_state).update(**fields)
    if not changed:
        actual = Job.objects.filter(pk=job_id).values_list("state", flat=True).first()
        if actual == to_state:
            return False
        raise TransitionConflict(job_id, from_state, str(actual))
    _progress_last.pop(str(job_id), None)
    job = Job.objects.get(pk=job_id)
    actor = ENTER_STATE_ACTOR.get(to_state)
    if actor:
        enqueue_on_commit(actor, str(job_id))
    transaction.on_commit(lambda: job_event_publish(job=job, kind="state"))
    if from_state == JobState.QUEUED:
        # Everyone queued behind this job moved up one place: one broadcast, not one event per job.
        created_ts = job.created_at.timestamp()
        transaction.on_commit(lambda: queue_moved_publish(left_created_ts=created_ts))
    return True


def job_advance(*, job_id: JobId, from_state: str, to_state: str) -> bool:
    """Move a job one edge of the state machine, compare-and-set.

    Returns True when this call moved it, False when it was already in `to_state` (a redelivered
    message). Raises IllegalTransition for an edge the machine lacks and TransitionConflict when the
    job is somewhere else (e.g. the visitor deleted it meanwhile). Entering a stage enqueues its actor
    after commit.
    """
    if from_state == to_state:
        return False
    return _transition(job_id=job_id, from_state=from_state, to_state=to_state, updates={})


def job_fail(*, job_id: JobId, code: str, message: str) -> bool:
    """Record why a job cannot finish. Posters already made stay available to the visitor."""
    current = Job.objects.filter(pk=job_id).values_list("state", flat=True).first()
    if current is None or current in (JobState.DONE, JobState.DELETED):
        return False
    if current == JobState.FAILED:
        return False
    logger.info("job %s failed: %s", job_id, code)
    try:
        return _transition(
            job_id=job_id,
            from_state=current,
            to_state=JobState.FAILED,
            updates={"failure_code": code[:40], "failure_message": message},
        )
    except TransitionConflict:
        return False


def job_refuse(*, job_id: JobId, code: str, message: str) -> bool:
    """Fail a job whose photo the analysis refused, and delete the encrypted original at once.

    A refusal is final (a retry would refuse the same photo again), so nothing needs the photo any
    more: the page promises it is deleted when refused, not at the retention sweep minutes later.
    """
    failed = job_fail(job_id=job_id, code=code, message=message)
    photo_key = Job.objects.filter(pk=job_id).values_list("photo_key", flat=True).first()
    if photo_key:
        Job.objects.filter(pk=job_id, photo_key=photo_key).update(photo_key="")
        blob_delete(key=photo_key)
    blob_delete(key=job_key(job_id, "photo.jpg"))
    return failed


def job_retry(*, job_id: JobId) -> bool:
    """Operator action: run a failed job again; each stage skips the results it already has."""
    return _transition(
        job_id=job_id,
        from_state=JobState.FAILED,
        to_state=JobState.QUEUED,
        updates={"failure_code": "", "failure_message": "", "finished_at": None, "progress": 0.0},
    )


def job_delete(*, job_id: JobId) -> bool:
    """The visitor's "delete my data": wipe photo, face asset and results; the job answers 410 after.

    The row stays (with no keys) so that links to it can answer 410 Gone instead of 404 and the
    dashboard keeps its counts. A stage still running notices at its next progress report.
    """
    job = Job.objects.filter(pk=job_id).first()
    if job is None or job.state == JobState.DELETED:
        return False
    changed = False
    for _ in range(3):  # the state may move under us while a worker runs; retry the CAS
        try:
            changed = _transition(
                job_id=job_id,
                from_state=job.state,
                to_state=JobState.DELETED,
                updates={
                    "photo_key": "",
                    "face_asset_key": "",
                    "poster_keys": [],
                    "video_key": "",
                    "cover_key": "",
                },
            )
            break
        except TransitionConflict:
            job.refresh_from_db()
            if job.state == JobState.DELETED:
                return False
    keys = [job.photo_key, job.face_asset_key, job.video_key, job.cover_key, *(job.poster_keys or [])]
    for key in (k for k in keys if k):
        blob_delete(key=key)
    for name in (
        "photo.jpg",
        "face.asset",
        "film.mp4",
        "cover.jpg",
        *(f"poster-{i}.jpg" for i in range(1, 6)),
    ):
        blob_delete(key=job_key(job_id, name))  # results written after our read of the row
    # A render killed on this machine left its partial film in plaintext; a live one removes its own.
    render_scratch_sweep(job_id=job_id)
    logger.info("job %s deleted by its owner", job_id)
    return changed


def job_face_asset_set(*, job_id: JobId, face_asset_key: str, warnings: list[str]) -> None:
    """Record the face asset and drop the original photo: nothing after analysis needs it.

    Results are only recorded on a job still in their stage; a job deleted meanwhile gets its new
    file removed again (JobCancelled), so nothing of a deleted job outlives the deletion.
    """
    job = Job.objects.get(pk=job_id)
    recorded = Job.objects.filter(pk=job_id, state=JobState.ANALYZING).update(
        face_asset_key=face_asset_key, warnings=warnings, photo_key=""
    )
    if not recorded:
        blob_delete(key=face_asset_key)
        raise JobCancelled(f"job {job_id} left analysis before its face asset was recorded")
    if job.photo_key:
        blob_delete(key=job.photo_key)


def job_poster_add(*, job_id: JobId, position: int, key: str) -> None:
    """Record poster `position` (1-based) and push it to the page at once (fast feedback)."""
    with transaction.atomic():
        job = Job.objects.select_for_update().get(pk=job_id)
        if job.state != JobState.POSTERS:
            blob_delete(key=key)
            raise JobCancelled(f"job {job_id} left the posters stage ({job.state})")
        keys = list(job.poster_keys or [""] * POSTER_COUNT)
        keys += [""] * (POSTER_COUNT - len(keys))
        keys[position - 1] = key
        done = sum(1 for k in keys if k)
        low, high = STAGE_SPAN[JobState.POSTERS]
        Job.objects.filter(pk=job_id).update(
            poster_keys=keys,
            stage_progress=done / POSTER_COUNT,
            progress=low + (high - low) * done / POSTER_COUNT,
            event_seq=F("event_seq") + 1,
        )
    job.refresh_from_db()
    transaction.on_commit(lambda: job_event_publish(job=job, kind="poster", extra={"position": position}))


def job_video_set(*, job_id: JobId, video_key: str, cover_key: str) -> None:
    recorded = Job.objects.filter(pk=job_id, state=JobState.VIDEO).update(
        video_key=video_key, cover_key=cover_key
    )
    if not recorded:
        blob_delete(key=video_key)
        blob_delete(key=cover_key)
        raise JobCancelled(f"job {job_id} left the video stage before its film was recorded")


class JobCancelled(Exception):
    """Raised from a progress callback when the job left the stage (deleted): the engine stops early."""


_progress_last: dict[str, tuple[float, float]] = {}


def job_progress_report(*, job_id: JobId, stage: str, done: int, total: int) -> None:
    """Engine progress -> DB row + channel event, at most every PROGRESS_MIN_INTERVAL_S per job.

    Raises JobCancelled when the job is no longer in `stage` (deleted or failed meanwhile), which stops
    a long render instead of finishing work nobody will see.
    """
    fraction = 0.0 if total <= 0 else max(0.0, min(1.0, done / total))
    now = time.monotonic()
    last = _progress_last.get(str(job_id))
    if last is not None and fraction < 1.0 and now - last[0] < settings.PROGRESS_MIN_INTERVAL_S:
        return
    _progress_last[str(job_id)] = (now, fraction)
    low, high = STAGE_SPAN.get(stage, (0.0, 1.0))
    changed = Job.objects.filter(pk=job_id, state=stage).update(
        stage_progress=fraction, progress=low + (high - low) * fraction, event_seq=F("event_seq") + 1
    )
    if not changed:
        raise JobCancelled(f"job {job_id} left stage {stage}")
    job = Job.objects.get(pk=job_id)
    job_event_publish(job=job, kind="progress")
