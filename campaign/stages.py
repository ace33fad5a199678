"""The one table of who works on what: every actor's name, queue and time limit, and which stage
serves a job in each active state.

Services enqueue by actor name through the broker (`campaign.services.dispatch`), the actors in
`workers/` declare themselves from this table, and the lease, watchdog and reconciler code look stages
up here: a state, its actor, its queue and its time limit are written once.
"""

from __future__ import annotations

from dataclasses import dataclass

from campaign.models import JobState


@dataclass(frozen=True)
class ActorSpec:
    """An actor as the broker knows it: messages go to `queue`, a run is cut off after `time_limit_ms`."""

    name: str
    queue: str
    time_limit_ms: int


@dataclass(frozen=True)
class Stage:
    """One stage of a visitor's job: `name` prefixes its lease owner, `entered_field` stamps its start."""

    name: str
    actor: ActorSpec
    entered_field: str


CPU_QUEUE = "cpu"
GPU_QUEUE = "gpu"
# Editors' work (film ingest, poster-template preparation): its own queue and worker, so an upload in
# admin never delays visitors' posters on `cpu`.
INGEST_QUEUE = "ingest"

ANALYZE_JOB = ActorSpec("analyze_job", CPU_QUEUE, 120_000)
RENDER_POSTERS = ActorSpec("render_posters", CPU_QUEUE, 300_000)
RENDER_VIDEO = ActorSpec("render_video", GPU_QUEUE, 1_200_000)
INGEST_VARIANT = ActorSpec("ingest_variant", INGEST_QUEUE, 1_800_000)
PREPARE_POSTER = ActorSpec("prepare_poster", INGEST_QUEUE, 300_000)
RECONCILE_JOBS = ActorSpec("reconcile_jobs", CPU_QUEUE, 60_000)
RETENTION_SWEEP = ActorSpec("retention_sweep_periodic", CPU_QUEUE, 30 * 60 * 1000)

ACTORS = {
    spec.name: spec
    for spec in (
        ANALYZE_JOB,
        RENDER_POSTERS,
        RENDER_VIDEO,
        INGEST_VARIANT,
        PREPARE_POSTER,
        RECONCILE_JOBS,
        RETENTION_SWEEP,
    )
}

ANALYZE = Stage("analyze", ANALYZE_JOB, "analyzing_at")
POSTERS = Stage("posters", RENDER_POSTERS, "posters_at")
VIDEO = Stage("video", RENDER_VIDEO, "video_at")
STAGES = {stage.name: stage for stage in (ANALYZE, POSTERS, VIDEO)}

# The stage that serves a job in each active state. A queued job waits for the analyse stage.
STATE_STAGE: dict[str, Stage] = {
    JobState.QUEUED: ANALYZE,
    JobState.ANALYZING: ANALYZE,
    JobState.POSTERS: POSTERS,
    JobState.VIDEO: VIDEO,
}
# When a job entered its state: the clock for "waiting too long" (the reconciler).
STATE_SINCE: dict[str, str] = {
    JobState.QUEUED: "created_at",
    **{state: stage.entered_field for state, stage in STATE_STAGE.items() if state != JobState.QUEUED},
}
# The actor a job is handed to when it enters a state.
ENTER_STATE_ACTOR: dict[str, str] = {
    JobState.QUEUED: ANALYZE_JOB.name,
    JobState.POSTERS: RENDER_POSTERS.name,
    JobState.VIDEO: RENDER_VIDEO.name,
}
