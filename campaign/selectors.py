"""Reads: every lookup a visitor can trigger is scoped by job id AND token (no access by guessed id)."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import timedelta
from typing import Any

from django.db.models import Count, Q
from django.utils import timezone

from campaign.errors import JobGone, JobNotFound, NoCampaign
from campaign.models import (
    ACTIVE_STATES,
    Campaign,
    FilmVariant,
    IngestStatus,
    Job,
    JobState,
    PosterTemplate,
)
from campaign.services.storage import blob_signed_url, field_key
from campaign.services.tokens import token_matches

POSTER_COUNT = 5


def campaign_active_get() -> Campaign:
    """The campaign the H5 page shows: the newest running one."""
    now = timezone.now()
    campaign = (
        Campaign.objects.filter(is_active=True, starts_at__lte=now)
        .filter(Q(ends_at__isnull=True) | Q(ends_at__gt=now))
        .order_by("-starts_at")
        .first()
    )
    if campaign is None:
        raise NoCampaign("No campaign is running right now.")
    return campaign


def variant_ready_q() -> Q:
    """Variants whose film is active and ingested; `variants_ready` also requires five prepared posters."""
    return Q(ingest_status=IngestStatus.READY, film__is_active=True)


def variants_ready(*, campaign: Campaign) -> list[FilmVariant]:
    variants = (
        FilmVariant.objects.filter(variant_ready_q(), film__campaign=campaign)
        .select_related("film")
        .annotate(
            ready_posters=Count(
                "posters", filter=Q(posters__prepare_status=IngestStatus.READY), distinct=True
            )
        )
    )
    return [v for v in variants if v.ready_posters == POSTER_COUNT]


def films_for_page(*, campaign: Campaign) -> list[dict[str, Any]]:
    """The campaign's active films as the page offers them: title, real length, a cover, and for each
    gender whether a visitor can be cast now (`ready`) or the role is still being prepared.

    The length is the ingested film's own (ingest report), so the page never promises 15 s for a film
    that is not; `seconds` is None until a variant is ingested.
    """
    ready = {v.pk for v in variants_ready(campaign=campaign)}
    films = []
    for film in campaign.films.filter(is_active=True).prefetch_related("variants__posters"):
        variants = sorted(film.variants.all(), key=lambda v: v.gender != "female")
        lengths = [(v.ingest_report or {}).get("duration_s") for v in variants if v.pk in ready]
        covers = [p for v in variants for p in v.posters.all() if p.image]
        covers.sort(key=lambda p: (p.variant_id not in ready, p.position))
        trailers = [v for v in variants if v.pk in ready and v.template_video]
        films.append(
            {
                "slug": film.slug,
                "title": film.title,
                "title_en": film.title_en,
                "seconds": round(float(lengths[0]), 1) if lengths and lengths[0] else None,
                "cover_url": blob_signed_url(key=field_key(covers[0].image)) if covers else "",
                # The film itself, for a muted loop at the top of the page (only once it is ready).
                "trailer_url": blob_signed_url(key=field_key(trailers[0].template_video)) if trailers else "",
                "variants": [{"gender": v.gender, "ready": v.pk in ready} for v in variants],
            }
        )
    return films


def job_get_for_token(*, job_id: uuid.UUID | str, token: str, allow_deleted: bool = False) -> Job:
    """The job if the token matches; JobNotFound for unknown ids and wrong tokens alike."""
    try:
        job = Job.objects.select_related("variant__film").get(pk=job_id)
    except (Job.DoesNotExist, ValueError, TypeError) as exc:
        raise JobNotFound("No job with this id and token.") from exc
    if not token_matches(token=token, digest=job.token_hash):
        raise JobNotFound("No job with this id and token.")
    if job.state == JobState.DELETED and not allow_deleted:
        raise JobGone("This job and its photos were deleted.")
    return job


def queue_position(*, job: Job) -> int:
    """1 = next to start. Jobs already being worked on are not in the queue."""
    if job.state != JobState.QUEUED:
        return 0
    return Job.objects.filter(state=JobState.QUEUED, created_at__lt=job.created_at).count() + 1


def queue_eta_seconds(*, position: int) -> int:
    """Seconds until the posters of the job at `position` are ready, at the live pace (jobs completed
    per minute on the cpu queue, see campaign.intake.admission), the same figures intake admits by."""
    from campaign.intake.admission import eta_seconds_for_position

    return eta_seconds_for_position(position=position, queue="cpu")


def job_status(*, job: Job) -> dict[str, Any]:
    """What the page needs to draw a job, from the database: the same for snapshots, events and GET."""
    posters: list[dict[str, Any] | None] = []
    keys = list(job.poster_keys or [])
    for index in range(POSTER_COUNT):
        key = keys[index] if index < len(keys) else ""
        posters.append({"position": index + 1, "url": blob_signed_url(key=key)} if key else None)
    video = None
    if job.video_key:
        video = {
            "url": blob_signed_url(key=job.video_key),
            "cover_url": blob_signed_url(key=job.cover_key) if job.cover_key else None,
        }
    position = queue_position(job=job)
    return {
        "id": str(job.id),
        "state": job.state,
        "seq": job.event_seq,
        "progress": round(job.progress, 4),
        "stage_progress": round(job.stage_progress, 4),
        "queue_position": position,
        "eta_seconds": queue_eta_seconds(position=position) if position else None,
        "posters": posters,
        "video": video,
        "failure": {"code": job.failure_code, "message": job.failure_message} if job.failure_code else None,
        "warnings": list(job.warnings or []),
        "created_at": job.created_at.isoformat(),
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }


def poster_templates_ready(*, variant: FilmVariant) -> list[PosterTemplate]:
    return list(
        variant.posters.filter(prepare_status=IngestStatus.READY).exclude(prepared="").order_by("position")
    )


def _percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "n": 0}
    ordered = sorted(values)

    def pick(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)

    return {"p50": pick(0.5), "p95": pick(0.95), "n": len(ordered)}


def dashboard_stats(*, window: timedelta = timedelta(hours=1)) -> dict[str, Any]:
    """Numbers for the operators' dashboard: queue depths, throughput, stage durations, failures."""
    now = timezone.now()
    since = now - window
    by_state = dict(Job.objects.values_list("state").annotate(n=Count("id")).values_list("state", "n"))
    finished = Job.objects.filter(finished_at__gte=since)
    done_last_10m = Job.objects.filter(
        state=JobState.DONE, finished_at__gte=now - timedelta(minutes=10)
    ).count()
    durations: dict[str, list[float]] = {"wait": [], "analyze": [], "posters": [], "video": []}
    for job in finished.only("created_at", "analyzing_at", "posters_at", "video_at", "finished_at", "state")[
        :2000
    ]:
        for stage, seconds in job.stage_seconds.items():
            if seconds is not None:
                durations[stage].append(seconds)
    failures = Counter(
        Job.objects.filter(state=JobState.FAILED, finished_at__gte=since).values_list(
            "failure_code", flat=True
        )
    )
    return {
        "jobs_by_state": {state: by_state.get(state, 0) for state in JobState.values},
        "waiting_cpu": sum(
            by_state.get(s, 0) for s in (JobState.QUEUED, JobState.ANALYZING, JobState.POSTERS)
        ),
        "waiting_gpu": by_state.get(JobState.VIDEO, 0),
        # Editors' queue (film ingest, poster-template preparation): variants and templates not done.
        "waiting_ingest": FilmVariant.objects.filter(
            ingest_status__in=(IngestStatus.PENDING, IngestStatus.RUNNING)
        ).count()
        + PosterTemplate.objects.filter(
            prepare_status__in=(IngestStatus.PENDING, IngestStatus.RUNNING)
        ).count(),
        "active": sum(by_state.get(s, 0) for s in ACTIVE_STATES),
        "jobs_per_minute": round(done_last_10m / 10.0, 2),
        "stage_seconds": {stage: _percentiles(values) for stage, values in durations.items()},
        "failures_by_code": dict(failures.most_common()),
        "window_minutes": int(window.total_seconds() // 60),
    }
