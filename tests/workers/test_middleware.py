"""Stage leases (workers.middleware.stage_lease) against the real database."""

from __future__ import annotations

from typing import Any


def test_stage_lease_skips_a_duplicate_while_the_first_holds_it(queued_job: Any) -> None:
    from campaign.models import Job
    from workers.middleware import stage_lease

    job, _token = queued_job
    with stage_lease(job_id=str(job.pk), stage="analyze", ttl_s=30) as first:
        assert first.held and not first.busy_elsewhere
        assert Job.objects.get(pk=job.pk).lease_owner == first.owner
        with stage_lease(job_id=str(job.pk), stage="analyze", ttl_s=30) as duplicate:
            assert duplicate.busy_elsewhere and not duplicate.held
        with stage_lease(job_id=str(job.pk), stage="posters", ttl_s=30) as next_stage:
            assert next_stage.held  # the next stage never waits for the previous one's release
    assert Job.objects.get(pk=job.pk).lease_owner == ""
