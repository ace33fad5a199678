"""Retention: originals deleted as soon as nothing needs them, everything else after the campaign's period.

Run by a periodic Dramatiq actor (`workers.retention`, every ``RETENTION_SWEEP_INTERVAL_S``) and by
``manage.py retention_sweep`` (cron, or by hand after changing a campaign's retention). Both call
`retention_sweep`, which is idempotent and safe to run concurrently with workers and with itself:

1. **Originals** (the visitor's photo, encrypted): analysis turns it into the face asset and deletes
   it at once (`job_face_asset_set`). The sweep catches what that path cannot: photos of jobs that
   failed (deleted at once when the photo itself was refused, since retrying cannot help; after
   ``ORIGINAL_PHOTO_GRACE_HOURS`` for other failures, which an operator may retry), and photos left
   behind by a crash between storing the face asset and deleting the original.
2. **Expiry**: every job whose campaign retention (``Campaign.retention_days``) has passed since it
   finished (or since it was created, for a job that never finished) is deleted through the same
   service as the visitor's own "delete my data" (`job_delete`): photo, face asset, posters, film and
   cover are removed from storage and the row keeps no keys (the API answers 410 Gone).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from swap.errors import PHOTO_REFUSAL_CODES

if TYPE_CHECKING:
    import redis

    from campaign.models import JobId

logger = logging.getLogger(__name__)

# Refusals of the photo itself (the engine's codes and the upload checks'): a retry cannot change them.
FINAL_PHOTO_FAILURES = PHOTO_REFUSAL_CODES | {"corrupt_image", "animated_image"}


@dataclass(frozen=True)
class RetentionReport:
    originals_deleted: int
    jobs_expired: int


def _original_delete(job_id: JobId, photo_key: str, state: str) -> bool:
    from campaign.models import Job
    from campaign.services.storage import blob_delete

    # Compare-and-set: only if the job is still where we saw it, so a retried job that is being
    # analysed right now keeps its photo.
    cleared = Job.objects.filter(pk=job_id, state=state, photo_key=photo_key).update(photo_key="")
    if cleared:
        blob_delete(key=photo_key)
    return bool(cleared)


def originals_sweep(*, now: datetime, batch: int = 500) -> int:
    """Delete original photos no stage needs any more; returns how many were deleted."""
    from campaign.models import Job, JobState

    grace = timedelta(hours=float(settings.ORIGINAL_PHOTO_GRACE_HOURS))
    after_analysis = Q(state__in=(JobState.POSTERS, JobState.VIDEO, JobState.DONE, JobState.DELETED))
    failed_for_good = Q(state=JobState.FAILED) & (
        Q(failure_code__in=FINAL_PHOTO_FAILURES) | Q(finished_at__lt=now - grace)
    )
    deleted = 0
    while True:
        due = list(
            Job.objects.exclude(photo_key="")
            .filter(after_analysis | failed_for_good)
            .values_list("pk", "photo_key", "state")[:batch]
        )
        changed = sum(_original_delete(job_id, key, state) for job_id, key, state in due)
        deleted += changed
        if len(due) < batch or changed == 0:
            return deleted


def expired_sweep(*, now: datetime, batch: int = 500) -> int:
    """Delete every job (and its files) whose campaign's retention period has passed."""
    from campaign.models import Campaign, Job, JobState
    from campaign.services.jobs import job_delete

    expired = 0
    for campaign in Campaign.objects.only("pk", "retention_days"):
        cutoff = now - timedelta(days=campaign.retention_days)
        due = (
            Job.objects.filter(campaign=campaign)
            .exclude(state=JobState.DELETED)
            .filter(Q(finished_at__lt=cutoff) | Q(finished_at__isnull=True, created_at__lt=cutoff))
        )
        while True:
            job_ids = list(due.values_list("pk", flat=True)[:batch])
            for job_id in job_ids:
                if job_delete(job_id=job_id):
                    expired += 1
            if len(job_ids) < batch:
                break
    return expired


def retention_sweep(*, now: datetime | None = None) -> RetentionReport:
    """One pass of both rules; logs counts only (never keys, photos or tokens)."""
    now = now or timezone.now()
    report = RetentionReport(originals_deleted=originals_sweep(now=now), jobs_expired=expired_sweep(now=now))
    if report.originals_deleted or report.jobs_expired:
        logger.info(
            "retention: %d original photos deleted, %d expired jobs deleted",
            report.originals_deleted,
            report.jobs_expired,
        )
    return report


# --------------------------------------------------------------------------------- periodic scheduling

LOCK_KEY = "protagonist:retention:lock"


def sweep_slot_acquire(redis_client: redis.Redis, interval_s: float) -> bool:
    """Whether this run of the self-rescheduling chain may sweep and reschedule.

    Every worker boot starts a chain (so the sweep survives restarts and lost messages); the lock,
    held for 90 % of the interval, lets exactly one chain survive: a second chain finds the lock taken
    and ends instead of rescheduling.
    """
    return bool(redis_client.set(LOCK_KEY, "1", nx=True, px=max(1, int(interval_s * 900))))
