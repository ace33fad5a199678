"""Reconciler rules (campaign.services.recovery) against the real database and the in-process broker: who
is re-enqueued, once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone


@pytest.fixture
def cpu_queue() -> Any:
    import dramatiq

    from workers import actors  # noqa: F401  (declares the actors on the stub broker)

    broker = dramatiq.get_broker()
    broker.flush_all()
    return lambda: list(broker.queues["cpu"].queue)


@pytest.fixture
def ingest_queue(cpu_queue: Any) -> Any:
    import dramatiq

    broker = dramatiq.get_broker()
    return lambda: list(broker.queues["ingest"].queue)


def _messages(queue: Any) -> list[tuple[str, tuple[Any, ...]]]:
    import dramatiq

    decoded = [raw if isinstance(raw, dramatiq.Message) else dramatiq.Message.decode(raw) for raw in queue()]
    return [(m.actor_name, tuple(m.args)) for m in decoded]


def _expire(job: Any, owner: str = "analyze/dead-host:1:1:abcd") -> None:
    from campaign.models import Job

    Job.objects.filter(pk=job.pk).update(
        state="analyzing", lease_owner=owner, lease_expires_at=timezone.now() - timedelta(seconds=5)
    )


def test_expired_lease_is_re_enqueued_once_even_with_two_reconcilers(queued_job: Any, cpu_queue: Any) -> None:
    from campaign.models import Job
    from campaign.services.recovery import reconcile_pass

    job, _token = queued_job
    cpu_queue_before = len(_messages(cpu_queue))
    _expire(job)

    first = reconcile_pass()
    second = reconcile_pass()  # a second reconciler (or the next pass) sees no expired lease

    assert first.recovered == [str(job.pk)]
    assert second.recovered == []
    assert _messages(cpu_queue)[cpu_queue_before:] == [("analyze_job", (str(job.pk),))]
    row = Job.objects.get(pk=job.pk)
    assert (row.recoveries, row.lease_owner, row.lease_expires_at) == (1, "", None)


def test_expired_lease_after_a_broker_loss_is_re_enqueued_once_not_twice(
    queued_job: Any, cpu_queue: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a lost broker makes the pass re-send every waiting job; one whose expired lease the same pass
    # just recovered was sent by the recovery already (seen once in CI as a duplicate message)
    from campaign.services import recovery

    job, _token = queued_job
    before = len(_messages(cpu_queue))
    _expire(job)
    monkeypatch.setattr(recovery, "broker_epoch_check", lambda: True)

    report = recovery.reconcile_pass()

    assert report.broker_lost and report.recovered == [str(job.pk)]
    assert str(job.pk) not in report.requeued
    assert _messages(cpu_queue)[before:] == [("analyze_job", (str(job.pk),))]


def test_live_lease_is_left_alone(queued_job: Any, cpu_queue: Any) -> None:
    from campaign.models import Job
    from campaign.services.recovery import reconcile_pass

    job, _token = queued_job
    Job.objects.filter(pk=job.pk).update(
        state="analyzing", lease_owner="analyze/x", lease_expires_at=timezone.now() + timedelta(seconds=30)
    )

    report = reconcile_pass()

    assert report.recovered == [] and report.requeued == []


def test_job_that_keeps_killing_its_worker_is_failed_with_stage_timeout(
    queued_job: Any, cpu_queue: Any, settings: Any
) -> None:
    from campaign.models import Job
    from campaign.services.recovery import reconcile_pass

    settings.MAX_RECOVERIES = 2
    job, _token = queued_job
    for _ in range(2):
        _expire(job)
        assert reconcile_pass().recovered == [str(job.pk)]
    _expire(job)

    report = reconcile_pass()

    assert report.failed == [str(job.pk)]
    row = Job.objects.get(pk=job.pk)
    assert (row.state, row.failure_code, row.recoveries) == ("failed", "stage_timeout", 3)
    assert "took far longer" in row.failure_message


def test_waiting_job_is_re_enqueued_only_after_the_deadline_and_not_every_pass(
    queued_job: Any, cpu_queue: Any, settings: Any
) -> None:
    from campaign.models import Job
    from campaign.services.recovery import reconcile_pass

    settings.RECONCILE_WAITING_AFTER_S = 60
    job, _token = queued_job
    assert reconcile_pass().requeued == []  # just accepted: its message is in the queue

    Job.objects.filter(pk=job.pk).update(created_at=timezone.now() - timedelta(seconds=61))
    assert reconcile_pass().requeued == [str(job.pk)]  # e.g. the broker was down at intake
    assert reconcile_pass().requeued == []  # not again until another deadline has passed


def test_posters_stage_waiting_is_re_enqueued_to_the_posters_actor(
    queued_job: Any, cpu_queue: Any, settings: Any
) -> None:
    from campaign.models import Job
    from campaign.services.recovery import reconcile_pass

    settings.RECONCILE_WAITING_AFTER_S = 60
    job, _token = queued_job
    long_ago = timezone.now() - timedelta(minutes=5)
    Job.objects.filter(pk=job.pk).update(state="posters", posters_at=long_ago, created_at=long_ago)
    before = len(_messages(cpu_queue))

    assert reconcile_pass().requeued == [str(job.pk)]
    assert _messages(cpu_queue)[before:] == [("render_posters", (str(job.pk),))]


def test_film_ingest_left_running_by_a_dead_worker_is_sent_again(
    ready_campaign: Any, ingest_queue: Any, settings: Any
) -> None:
    from campaign.models import FilmVariant
    from campaign.services.recovery import reconcile_pass

    settings.RECONCILE_INGEST_AFTER_S = 600
    variant = FilmVariant.objects.get(film__campaign=ready_campaign, gender="male")
    FilmVariant.objects.filter(pk=variant.pk).update(
        ingest_status="running", ingest_generation=4, ingest_started_at=timezone.now() - timedelta(minutes=11)
    )
    before = len(_messages(ingest_queue))

    assert reconcile_pass().ingests == [variant.pk]
    assert _messages(ingest_queue)[before:] == [("ingest_variant", (variant.pk, 4))]
