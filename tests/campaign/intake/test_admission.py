"""Admission control: queue while the promise holds, refuse with Retry-After beyond it, from live figures."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from campaign.errors import ServiceBusy
from campaign.intake.admission import (
    Admission,
    QueueLoad,
    admission_decide,
    admission_release,
    admission_request,
    admission_reset,
    queue_loads_measure,
)


def test_jobs_are_queued_while_the_estimated_wait_keeps_the_promise() -> None:
    queues = [QueueLoad("cpu", depth=50, per_minute=30.0), QueueLoad("gpu", depth=59, per_minute=6.0)]

    admission = admission_decide(queues=queues, pending_local=0, max_wait_s=600, max_queued=10_000)

    # The gpu queue is the bottleneck: 60 jobs at 6 per minute = 10 minutes, exactly the promise.
    assert admission == Admission(queue_position=60, eta_seconds=600)


def test_job_beyond_the_promise_is_refused_with_the_time_until_it_fits() -> None:
    queues = [QueueLoad("cpu", depth=50, per_minute=30.0), QueueLoad("gpu", depth=60, per_minute=6.0)]

    with pytest.raises(ServiceBusy) as refused:
        admission_decide(queues=queues, pending_local=0, max_wait_s=600, max_queued=10_000)

    assert refused.value.status == 503
    assert refused.value.retry_after_s == 10  # one job over at 6 per minute


def test_jobs_admitted_since_the_snapshot_count_against_the_promise() -> None:
    queues = [QueueLoad("gpu", depth=58, per_minute=6.0)]

    assert (
        admission_decide(queues=queues, pending_local=1, max_wait_s=600, max_queued=10_000).queue_position
        == 60
    )
    with pytest.raises(ServiceBusy):
        admission_decide(queues=queues, pending_local=2, max_wait_s=600, max_queued=10_000)


def test_hard_cap_on_waiting_jobs_refuses_even_with_fast_workers() -> None:
    queues = [QueueLoad("cpu", depth=100, per_minute=10_000.0)]

    with pytest.raises(ServiceBusy) as refused:
        admission_decide(queues=queues, pending_local=0, max_wait_s=600, max_queued=100)

    assert refused.value.retry_after_s == 5  # the minimum: the queue drains one job in 6 ms


def test_no_throughput_at_all_refuses_with_the_longest_retry() -> None:
    with pytest.raises(ServiceBusy) as refused:
        admission_decide(queues=[QueueLoad("gpu", 0, 0.0)], pending_local=0, max_wait_s=600, max_queued=100)

    assert refused.value.retry_after_s == 300


@pytest.fixture
def campaign_with_variant(db):  # type: ignore[no-untyped-def]
    from campaign.models import Campaign, Film, FilmVariant

    campaign = Campaign.objects.create(slug="c", title="C", max_wait_seconds=600, max_queued_jobs=10_000)
    film = Film.objects.create(campaign=campaign, slug="f", title="F")
    variant = FilmVariant.objects.create(film=film, gender="female", template_video="films/x.mp4")
    return campaign, variant


def _job(campaign, variant, **fields):  # type: ignore[no-untyped-def]
    from campaign.models import Job

    return Job.objects.create(
        campaign=campaign, variant=variant, gender="female", token_hash="x" * 64, **fields
    )


def test_live_throughput_comes_from_recent_completions(campaign_with_variant, settings) -> None:  # type: ignore[no-untyped-def]
    settings.DEFAULT_STAGE_SECONDS = 600.0  # priors far slower than what was measured
    settings.DEFAULT_VIDEO_SECONDS = 600.0
    campaign, variant = campaign_with_variant
    now = timezone.now()
    for minute in range(20):  # 20 jobs finished in the last 5 minutes: 4 per minute
        start = now - timedelta(minutes=4, seconds=30) + timedelta(seconds=13 * minute)
        _job(
            campaign,
            variant,
            state="done",
            analyzing_at=start - timedelta(seconds=120),
            video_at=start - timedelta(seconds=20),
            finished_at=start,
        )
    for _ in range(7):
        _job(campaign, variant, state="queued")
    _job(campaign, variant, state="video")

    cpu, gpu = queue_loads_measure()

    assert (cpu.depth, gpu.depth) == (7, 8)
    assert gpu.per_minute == pytest.approx(4.0)  # beats the 20 s median service time (3/min)
    assert cpu.per_minute == pytest.approx(4.0)  # beats the 100 s median service time (0.6/min)


def test_intake_admission_uses_the_cached_snapshot_and_releases_unused_places(
    campaign_with_variant,
    settings,
    django_assert_max_num_queries,  # type: ignore[no-untyped-def]
) -> None:
    settings.ADMISSION_SNAPSHOT_TTL_S = 60.0
    settings.CPU_WORKER_SLOTS = 1
    settings.GPU_WORKER_SLOTS = 1
    settings.DEFAULT_STAGE_SECONDS = 60.0
    settings.DEFAULT_VIDEO_SECONDS = 60.0
    campaign, _ = campaign_with_variant
    campaign.max_wait_seconds = 180  # one job a minute: three places
    admission_reset()

    first = admission_request(campaign=campaign)
    with django_assert_max_num_queries(0):
        second = admission_request(campaign=campaign)
        admission_release()  # e.g. its photo was refused
        third = admission_request(campaign=campaign)
        fourth = admission_request(campaign=campaign)
        with pytest.raises(ServiceBusy):
            admission_request(campaign=campaign)

    assert [a.queue_position for a in (first, second, third, fourth)] == [1, 2, 2, 3]
    assert [a.eta_seconds for a in (first, second, fourth)] == [60, 120, 180]
    admission_reset()


def test_page_eta_uses_the_live_cpu_throughput(campaign_with_variant, settings) -> None:  # type: ignore[no-untyped-def]
    from campaign.intake.admission import eta_seconds_for_position

    settings.ADMISSION_SNAPSHOT_TTL_S = 0.0
    settings.CPU_WORKER_SLOTS = 2
    settings.DEFAULT_STAGE_SECONDS = 30.0  # no history yet: 2 slots x 2 jobs a minute = 4 per minute
    admission_reset()

    assert eta_seconds_for_position(position=3) == 45
    admission_reset()
