"""The actors: load what a stage needs, call the engine, save through services, publish.

Run a worker per queue: `dramatiq workers.actors --queues cpu` (visitors: analysis, posters),
`dramatiq workers.actors --queues ingest` (editors: film ingest, poster-template preparation) and, with
`dramatiq_queue_prefetch=1`, `dramatiq workers.actors --queues gpu --threads 1` (one video at a time per
GPU). Editor work has its own queue and worker because one film ingest takes about a minute of CPU per
variant: on the `cpu` queue every visitor queued behind it would wait that long for their posters.

Every actor is idempotent. It re-reads the Job row, returns early when the job has moved past its
stage (or is gone), skips results already recorded under their fixed keys, and moves the job on with a
compare-and-set transition: a message delivered twice does its work at most once. Bad input (a photo
the engine refuses, an unusable template) fails the job at once with its code and message; anything
else is treated as transient and retried a few times with backoff; the last failed attempt records an
internal error on the job, so a visitor never waits for a job nobody works on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from dramatiq.middleware import CurrentMessage, TimeLimitExceeded

from campaign import stages
from campaign.broker import broker  # configures the broker before actors declare
from campaign.errors import TransitionConflict
from campaign.models import FilmVariant, Job, JobState, PosterTemplate
from campaign.selectors import poster_templates_ready
from campaign.services import films as film_services
from campaign.services.jobs import (
    JobCancelled,
    job_advance,
    job_face_asset_set,
    job_fail,
    job_key,
    job_poster_add,
    job_progress_report,
    job_refuse,
    job_video_set,
)
from campaign.services.private_blobs import private_blob_get, private_blob_put
from campaign.services.scratch import render_scratch
from campaign.services.storage import (
    blob_exists,
    blob_get,
    blob_local_path,
    blob_put,
    blob_put_file,
    field_key,
    storage_is_local,
)
from campaign.sharing import poster_template_for_campaign
from swap.errors import PhotoRejected, TemplateError
from workers.middleware import EngineWarmup, RenderScratchSweep, stage_actor, stage_lease

if TYPE_CHECKING:  # at run time the stages import the engine themselves (and EngineWarmup at boot)
    from swap.asset import FaceAsset
    from swap.film import FilmTrack
    from swap.poster import PosterTemplate as EnginePosterTemplate

logger = logging.getLogger(__name__)
broker.add_middleware(EngineWarmup())  # the engine imported before messages
broker.add_middleware(RenderScratchSweep())  # dead workers' plaintext partial films removed

MAX_RETRIES = 3
RETRY_OPTIONS: dict[str, Any] = {"max_retries": MAX_RETRIES, "min_backoff": 2_000, "max_backoff": 60_000}
INTERNAL_ERROR_MESSAGE = "Something went wrong on our side. Please try again in a few minutes."


def _final_attempt() -> bool:
    """Is this the message's last try (the count Dramatiq's `Retries` middleware keeps)?

    Why not `Retries`' ``on_retry_exhausted``: it sends a *new message* to another actor once the
    retries are spent, so failing the job would depend on one more send and delivery succeeding, and
    that callback gets the message and the retry count but not the exception (the ingest path tells
    editors its type and text). Failing here, in the attempt that raised and before Dramatiq acks it,
    needs no second message.
    """
    message = CurrentMessage.get_current_message()
    if message is None:
        return True
    limit = message.options.get("max_retries", MAX_RETRIES)
    return int(message.options.get("retries", 0)) >= int(limit)


def _run_stage(job_id: str, stage: str, body: Callable[[Job], None]) -> None:
    """Shared error policy of the job stages (see the module docstring)."""
    job = Job.objects.select_related("variant").filter(pk=job_id).first()
    if job is None:
        logger.info("job %s: gone, nothing to do for %s", job_id, stage)
        return
    try:
        with stage_lease(job_id=job_id, stage=stage) as lease:  # workers.middleware: heartbeat/lease
            if lease.busy_elsewhere:
                return
            body(job)
    except (JobCancelled, TransitionConflict) as exc:
        logger.info("job %s: %s stopped: %s", job_id, stage, exc)
    except PhotoRejected as exc:
        job_refuse(job_id=job_id, code=exc.code, message=exc.message)  # the photo is deleted at once
    except TemplateError as exc:
        # The campaign's template is broken, not the visitor's photo: say so, and tell operators.
        logger.error("job %s: template error in %s: %s %s", job_id, stage, exc.code, exc.message)
        job_fail(job_id=job_id, code=f"template_{exc.code}", message=INTERNAL_ERROR_MESSAGE)
    except (Exception, TimeLimitExceeded):
        if _final_attempt():
            logger.exception("job %s: %s failed for good", job_id, stage)
            job_fail(job_id=job_id, code="internal_error", message=INTERNAL_ERROR_MESSAGE)
        raise


def _claim(job: Job, stage: str, previous: str) -> bool:
    """Enter `stage` from `previous` (or find it already there after a redelivery)."""
    if job.state == previous:
        job_advance(job_id=job.pk, from_state=previous, to_state=stage)
        return True
    return job.state == stage


@stage_actor(stages.ANALYZE_JOB, throws=(PhotoRejected,), **RETRY_OPTIONS)
def analyze_job(job_id: str) -> None:
    """Analyse the photo and build the face asset; then posters. The original photo is then deleted."""

    def body(job: Job) -> None:
        if not _claim(job, JobState.ANALYZING, JobState.QUEUED):
            return
        asset_key = job_key(job.pk, "face.asset")
        if not (job.face_asset_key and blob_exists(key=job.face_asset_key)):
            from swap.analysis import analyze_photo
            from swap.asset import build_face_asset

            job_progress_report(job_id=job.pk, stage=JobState.ANALYZING, done=0, total=3)
            analysis = analyze_photo(private_blob_get(key=job.photo_key))  # decrypted in memory only
            job_progress_report(job_id=job.pk, stage=JobState.ANALYZING, done=1, total=3)
            face_asset = build_face_asset(analysis)
            job_progress_report(job_id=job.pk, stage=JobState.ANALYZING, done=2, total=3)
            private_blob_put(key=asset_key, data=face_asset.to_bytes())
            # the asset's warnings: the analysis's and what the texture showed (glasses in the photo)
            job_face_asset_set(job_id=job.pk, face_asset_key=asset_key, warnings=list(face_asset.warnings))
        job_advance(job_id=job.pk, from_state=JobState.ANALYZING, to_state=JobState.POSTERS)

    _run_stage(job_id, "analyze", body)


@lru_cache(maxsize=32)
def _poster_template(poster_id: int, generation: int, prepared_key: str) -> EnginePosterTemplate:
    """Prepared templates are immutable per generation: load each once per worker process."""
    from swap.poster import PosterTemplate as EnginePosterTemplate

    return EnginePosterTemplate.from_bytes(blob_get(key=prepared_key))


def _face_asset(key: str) -> FaceAsset:
    """Decrypted in memory for one stage and not cached: a deleted job's face must not linger in a worker."""
    from swap.asset import FaceAsset

    return FaceAsset.from_bytes(private_blob_get(key=key))


@stage_actor(stages.RENDER_POSTERS, **RETRY_OPTIONS)
def render_posters(job_id: str) -> None:
    """Render the five posters, each pushed to the page as soon as it is stored; then the video."""

    def body(job: Job) -> None:
        if job.state != JobState.POSTERS:
            return
        from swap.poster import render_poster
        from swap.render import FaceRenderer

        face_asset = _face_asset(job.face_asset_key)
        renderer: FaceRenderer | None = None  # one per job: the visitor's detail texture is made once
        templates = poster_templates_ready(variant=job.variant)
        if not templates:
            raise TemplateError("no_posters", f"variant {job.variant_id} has no prepared poster templates")
        existing = list(job.poster_keys or [])
        for template in templates:
            index = template.position - 1
            key = job_key(job.pk, f"poster-{template.position}.jpg")
            if index < len(existing) and existing[index] and blob_exists(key=existing[index]):
                continue  # rendered by an earlier delivery of this message
            engine_template = poster_template_for_campaign(  # + QR code and the campaign's AI label
                _poster_template(template.pk, template.generation, template.prepared.name),
                campaign=job.campaign,
                qr_corner=template.qr_corner,
            )
            renderer = renderer or FaceRenderer(face_asset)
            rendered = render_poster(face_asset, engine_template, label=None, renderer=renderer)
            blob_put(key=key, data=rendered.jpeg)
            job_poster_add(job_id=job.pk, position=template.position, key=key)
        job_advance(job_id=job.pk, from_state=JobState.POSTERS, to_state=JobState.VIDEO)

    _run_stage(job_id, "posters", body)


@stage_actor(stages.RENDER_VIDEO, **RETRY_OPTIONS)
def render_video(job_id: str) -> None:
    """Render the film with the visitor's face (CUDA when present), store it and its cover; done."""

    def body(job: Job) -> None:
        if job.state != JobState.VIDEO:
            return
        video_key = job_key(job.pk, "film.mp4")
        cover_key = job_key(job.pk, "cover.jpg")
        if not (job.video_key and blob_exists(key=job.video_key)):
            from swap.film import FilmTrack, render_film

            variant = job.variant
            if not variant.film_track:
                raise TemplateError("not_ingested", f"variant {variant.pk} has no film track")
            film_path = blob_local_path(key=field_key(variant.template_video))
            track = FilmTrack.load(blob_local_path(key=field_key(variant.film_track)))
            with render_scratch(job_id=job.pk) as scratch:  # removed however the render ends
                out_path = scratch / "film.mp4"

                def progress(done: int, total: int) -> None:
                    job_progress_report(job_id=job.pk, stage=JobState.VIDEO, done=done, total=total)

                campaign = job.campaign
                result = render_film(
                    _face_asset(job.face_asset_key),
                    film_path,
                    track,
                    out_path,
                    progress,
                    label=campaign.ai_label_text or None,  # visible AI label in every frame
                    label_position=campaign.ai_label_position,
                    metadata={"title": campaign.title},
                    glasses=variant.glasses,  # the editor's choice for the actor's glasses
                )
                blob_put_file(key=video_key, path=Path(result.path))
                blob_put(key=cover_key, data=result.cover_jpeg)
            job_video_set(job_id=job.pk, video_key=video_key, cover_key=cover_key)
        job_advance(job_id=job.pk, from_state=JobState.VIDEO, to_state=JobState.DONE)

    _run_stage(job_id, "video", body)


# Editors' work: on its own queue (campaign.stages.INGEST_QUEUE), never ahead of visitors on `cpu`.


@contextmanager
def _template_failures_recorded(fail: Callable[[str], None]) -> Iterator[None]:
    """Tell the editor why a template failed: at once for a bad template (no retry), on the last
    attempt for anything else (retried first, as transient)."""
    try:
        yield
    except TemplateError as exc:
        fail(f"{exc.code}: {exc.message}")
        raise
    except (Exception, TimeLimitExceeded) as exc:
        if _final_attempt():
            fail(f"internal error: {type(exc).__name__}: {exc}")
        raise


@stage_actor(stages.INGEST_VARIANT, throws=(TemplateError,), **RETRY_OPTIONS)
def ingest_variant(variant_id: int, generation: int) -> None:
    """Track the protagonist through the template film once; store the film track beside the film."""
    variant = film_services.variant_ingest_start(variant_id=variant_id, generation=generation)
    if variant is None:
        logger.info("variant %s generation %s: stale or finished ingest request", variant_id, generation)
        return
    from swap.film import ingest_film

    def progress(done: int, total: int) -> None:
        film_services.variant_ingest_progress(
            variant_id=variant_id, generation=generation, done=done, total=total
        )

    def fail(error: str) -> None:
        film_services.variant_ingest_fail(variant_id=variant_id, generation=generation, error=error)

    with _template_failures_recorded(fail):
        film_key = field_key(variant.template_video)
        film_path = blob_local_path(key=film_key)
        track = ingest_film(film_path, progress, glasses=variant.glasses)
        track_path = _track_path_beside(film_path)
        track_key = str(PurePosixPath(film_key).parent / track_path.name)
        if not storage_is_local():  # object storage: upload the track computed on the cached copy
            blob_put_file(key=track_key, path=track_path)
        film_services.variant_ingest_finish(
            variant_id=variant_id,
            generation=generation,
            track_key=track_key,
            report=_jsonable(track.report),
            preview_key=_film_preview(variant, generation, film_path, track),
        )


@stage_actor(stages.PREPARE_POSTER, throws=(TemplateError,), **RETRY_OPTIONS)
def prepare_poster(poster_id: int, generation: int) -> None:
    """Find the face in a poster template once (landmarks, light map) and render a preview."""
    poster = PosterTemplate.objects.filter(pk=poster_id, generation=generation).first()
    if poster is None:
        return
    from swap.poster import prepare_poster_template

    def fail(error: str) -> None:
        film_services.poster_template_prepare_fail(poster_id=poster_id, generation=generation, error=error)

    with _template_failures_recorded(fail):
        overlay = blob_get(key=field_key(poster.overlay)) if poster.overlay else None
        template = prepare_poster_template(blob_get(key=field_key(poster.image)), overlay)
        prepared_key = f"posters/prepared/{poster.pk}-{generation}.bin"
        blob_put(key=prepared_key, data=template.to_bytes())
        preview_key = _poster_preview(poster.pk, generation, template)
        film_services.poster_template_prepare_finish(
            poster_id=poster_id, generation=generation, prepared_key=prepared_key, preview_key=preview_key
        )


def _track_path_beside(film_path: Path) -> Path:
    """The track file the engine wrote beside the film (`film.mp4.track.npz`)."""
    candidates = [Path(str(film_path) + ".track.npz"), film_path.with_suffix(".track.npz")]
    for candidate in candidates:
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"ingest wrote no track file beside {film_path.name}")


def _film_preview(variant: FilmVariant, generation: int, film_path: Path, track: FilmTrack) -> str:
    """The first swapped frame from 40 % of the film on, with the sample face ("" when no frame is
    swapped). Editors judge a new film, and its glasses choice, by it before visitors see it: it is
    drawn by the film path itself (`swap.film.render.render_film_frame`), so it shows the real result."""
    import io

    import numpy as np
    from PIL import Image

    from swap.film import render_film_frame

    covered = np.flatnonzero(track.covered)
    if not len(covered):
        return ""
    later = covered[covered >= int(track.frames * 0.4)]
    index = int(later[0] if len(later) else covered[-1])
    rgb = render_film_frame(_sample_face_asset(), film_path, track, index, glasses=variant.glasses)
    if rgb is None:
        logger.info("variant %s: no preview, frame %s could not be decoded", variant.pk, index)
        return ""
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="JPEG", quality=90)
    key = f"films/previews/{variant.pk}-{generation}.jpg"
    blob_put(key=key, data=buffer.getvalue())
    return key


def _poster_preview(poster_id: int, generation: int, template: EnginePosterTemplate) -> str:
    """A preview of the template with a sample face (scikit-image's astronaut), for editors."""
    from swap.poster import render_poster

    rendered = render_poster(_sample_face_asset(), template)
    key = f"posters/previews/{poster_id}-{generation}.jpg"
    blob_put(key=key, data=rendered.jpeg)
    return key


@lru_cache(maxsize=1)
def _sample_face_asset() -> FaceAsset:
    import io

    from PIL import Image
    from skimage import data as skimage_data

    from swap.analysis import analyze_photo
    from swap.asset import build_face_asset

    buffer = io.BytesIO()
    Image.fromarray(skimage_data.astronaut()).save(buffer, format="JPEG", quality=92)
    return build_face_asset(analyze_photo(buffer.getvalue()))


def _jsonable(value: object) -> Any:  # JSON of whatever shape the report has
    """Film reports hold numpy scalars; the JSONField needs plain numbers."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item"):
        return value.item()
    return value


__all__ = [
    "FilmVariant",
    "analyze_job",
    "ingest_variant",
    "prepare_poster",
    "render_posters",
    "render_video",
]


from workers import retention  # noqa: E402,F401  (registers the periodic retention sweep)
