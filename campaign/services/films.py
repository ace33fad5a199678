"""Editor-side work: ingesting a film variant and preparing poster templates, run in workers.

Each request bumps a generation counter; a worker's results are only recorded when the generation it
worked on is still current, so an editor replacing a file mid-ingest never gets the old track.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from campaign.models import FilmVariant, IngestStatus, PosterTemplate
from campaign.services.dispatch import enqueue_on_commit
from campaign.stages import INGEST_VARIANT, PREPARE_POSTER

logger = logging.getLogger(__name__)


def variant_ingest_request(*, variant: FilmVariant) -> int:
    """Mark the variant's film as needing ingest and enqueue it after commit; returns the generation."""
    FilmVariant.objects.filter(pk=variant.pk).update(
        ingest_status=IngestStatus.PENDING,
        ingest_progress=0.0,
        ingest_error="",
        ingest_report={},
        ingest_started_at=None,
        ingest_finished_at=None,
        ingest_generation=F("ingest_generation") + 1,
    )
    variant.refresh_from_db()
    enqueue_on_commit(INGEST_VARIANT.name, variant.pk, variant.ingest_generation)
    return variant.ingest_generation


def variant_ingest_start(*, variant_id: int, generation: int) -> FilmVariant | None:
    """Claim the ingest; None when the request is stale or already finished (nothing to do)."""
    changed = FilmVariant.objects.filter(
        pk=variant_id,
        ingest_generation=generation,
        ingest_status__in=[IngestStatus.PENDING, IngestStatus.RUNNING],
    ).update(ingest_status=IngestStatus.RUNNING, ingest_started_at=timezone.now(), ingest_progress=0.0)
    if not changed:
        return None
    return FilmVariant.objects.select_related("film").get(pk=variant_id)


_ingest_last: dict[int, float] = {}


def variant_ingest_progress(*, variant_id: int, generation: int, done: int, total: int) -> None:
    now = time.monotonic()
    if done < total and now - _ingest_last.get(variant_id, 0.0) < settings.PROGRESS_MIN_INTERVAL_S * 2:
        return
    _ingest_last[variant_id] = now
    FilmVariant.objects.filter(pk=variant_id, ingest_generation=generation).update(
        ingest_progress=0.0 if total <= 0 else min(1.0, done / total)
    )


def variant_ingest_finish(
    *, variant_id: int, generation: int, track_key: str, report: dict[str, Any], preview_key: str = ""
) -> bool:
    changed = FilmVariant.objects.filter(pk=variant_id, ingest_generation=generation).update(
        ingest_status=IngestStatus.READY,
        preview=preview_key,
        ingest_progress=1.0,
        film_track=track_key,
        ingest_report=report,
        ingest_error="",
        ingest_finished_at=timezone.now(),
    )
    logger.info("variant %s ingested (generation %s): %s", variant_id, generation, report)
    return bool(changed)


def variant_ingest_fail(*, variant_id: int, generation: int, error: str) -> None:
    FilmVariant.objects.filter(pk=variant_id, ingest_generation=generation).update(
        ingest_status=IngestStatus.FAILED, ingest_error=error, ingest_finished_at=timezone.now()
    )
    logger.warning("variant %s ingest failed: %s", variant_id, error)


def poster_template_prepare_request(*, poster: PosterTemplate) -> int:
    PosterTemplate.objects.filter(pk=poster.pk).update(
        prepare_status=IngestStatus.PENDING, prepare_error="", generation=F("generation") + 1
    )
    poster.refresh_from_db()
    enqueue_on_commit(PREPARE_POSTER.name, poster.pk, poster.generation)
    return poster.generation


def poster_template_prepare_finish(
    *, poster_id: int, generation: int, prepared_key: str, preview_key: str
) -> bool:
    return bool(
        PosterTemplate.objects.filter(pk=poster_id, generation=generation).update(
            prepare_status=IngestStatus.READY, prepared=prepared_key, preview=preview_key, prepare_error=""
        )
    )


def poster_template_prepare_fail(*, poster_id: int, generation: int, error: str) -> None:
    PosterTemplate.objects.filter(pk=poster_id, generation=generation).update(
        prepare_status=IngestStatus.FAILED, prepare_error=error
    )
