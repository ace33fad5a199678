"""Stage leases on the Job row: who works on a job's current stage, until when (compare-and-set).

A stage claims the lease when it starts, renews it while it runs (a heartbeat thread and the
supervising watchdog, `workers.watchdog`) and releases it when it ends; a lease nobody renews expires
after `LEASE_TTL_S` and the reconciler (`campaign.services.recovery`) hands the job on. Every write is
a compare-and-set on the owner, so a stage that lost its lease to another worker can never take it back.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from campaign.models import ACTIVE_STATES, Job


def lease_ttl_s() -> float:
    """Seconds a lease lives without a heartbeat: the bound on noticing a dead worker."""
    return float(settings.LEASE_TTL_S)


def lease_acquire(*, job_id: str, stage: str, owner: str, ttl_s: float) -> bool:
    """Claim the job's lease for `stage`, compare-and-set. Free = none, expired, or another stage's.

    Another stage's lease is free because a stage enqueues the next one just before it returns: the
    next message may arrive while the previous stage still holds its lease for a few milliseconds.
    """
    now = timezone.now()
    free = (
        Q(lease_expires_at__isnull=True)
        | Q(lease_expires_at__lt=now)
        | ~Q(lease_owner__startswith=f"{stage}/")
    )
    return bool(
        Job.objects.filter(free, pk=job_id, state__in=ACTIVE_STATES).update(
            lease_owner=owner, lease_expires_at=now + timedelta(seconds=ttl_s)
        )
    )


def lease_renew(*, job_id: str, owner: str, ttl_s: float) -> bool:
    """Extend a lease we still own; False when it was taken over or released."""
    return bool(
        Job.objects.filter(pk=job_id, lease_owner=owner).update(
            lease_expires_at=timezone.now() + timedelta(seconds=ttl_s)
        )
    )


def lease_release(*, job_id: str, owner: str) -> None:
    """Give the lease up (the stage ended); a lease someone else holds by now is left alone."""
    Job.objects.filter(pk=job_id, lease_owner=owner).update(lease_owner="", lease_expires_at=None)


def lease_expire(*, job_id: str, owner: str) -> bool:
    """Make a lease look dead now (the watchdog killed its worker): the reconciler takes it next pass."""
    return bool(
        Job.objects.filter(pk=job_id, lease_owner=owner).update(
            lease_expires_at=timezone.now() - timedelta(seconds=1)
        )
    )


def lease_busy_elsewhere(*, job_id: str) -> str | None:
    """The owner of the live lease that kept us from claiming an active job; None when the job is not active."""
    row = Job.objects.filter(pk=job_id).values("state", "lease_owner").first()
    if row and row["state"] in ACTIVE_STATES:
        return str(row["lease_owner"])
    return None
