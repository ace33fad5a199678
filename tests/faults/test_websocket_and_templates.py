"""A websocket dropped mid-job catches up from the database (real uvicorn, real channel layer on the
stack's Valkey); a bad film template gives editors a clear ingest error and never receives a job."""

from __future__ import annotations

import io
import json
import sys
import urllib.request
from typing import Any

import pytest

from tests.conftest import free_port
from tests.faults.conftest import Stack, wait_for

pytestmark = pytest.mark.slow


def _jpeg() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 120, 80)).save(buffer, format="JPEG")
    return buffer.getvalue()


@pytest.fixture
def web(procs: Stack) -> Any:
    """The ASGI app in a real uvicorn process; the test process publishes on the same channel layer."""
    import channels.layers
    from django.test.utils import override_settings

    port = free_port()
    procs.spawn(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "campaign.asgi:application",
            "--port",
            str(port),
            "--no-access-log",
        ],
        "web",
    )

    def up() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/livez", timeout=1) as response:
                return response.status == 200
        except OSError:
            return False

    wait_for(up, timeout=60, interval=0.2, what="uvicorn")
    layers = override_settings(
        CHANNEL_LAYERS={
            "default": {
                "BACKEND": "channels_redis.core.RedisChannelLayer",
                "CONFIG": {"hosts": [procs.channel_url]},
            }
        }
    )
    with layers:
        channels.layers.channel_layers.backends = {}
        yield port
    channels.layers.channel_layers.backends = {}


def _receive(ws: Any) -> dict[str, Any]:
    return json.loads(ws.recv(timeout=10))


def test_websocket_dropped_mid_job_catches_up_from_the_database_on_reconnect(
    procs: Stack, make_job, web
) -> None:  # type: ignore[no-untyped-def]
    from websockets.sync.client import connect

    from campaign.models import Job, JobState
    from campaign.services.jobs import job_advance, job_key, job_poster_add, job_video_set
    from campaign.services.storage import blob_put
    from campaign.services.tokens import token_new

    token, digest = token_new()
    job = make_job(token_hash=digest)
    url = f"ws://127.0.0.1:{web}/ws/jobs/{job.pk}/"
    origin = f"http://127.0.0.1:{web}"

    with connect(url, origin=origin) as ws:  # type: ignore[arg-type]
        ws.send(json.dumps({"type": "auth", "token": token}))
        first = _receive(ws)
        assert first["type"] == "snapshot" and first["job"]["state"] == "queued"
        job_advance(job_id=job.pk, from_state=JobState.QUEUED, to_state=JobState.ANALYZING)
        live = _receive(ws)  # published by this process, delivered by the web process
        assert live["type"] == "state" and live["job"]["state"] == "analyzing"
        assert live["seq"] > first["seq"]
    # Connection gone (a phone in a lift). The job finishes meanwhile; every event is missed.
    job_advance(job_id=job.pk, from_state=JobState.ANALYZING, to_state=JobState.POSTERS)
    for position in range(1, 6):
        key = blob_put(key=job_key(job.pk, f"poster-{position}.jpg"), data=_jpeg())
        job_poster_add(job_id=job.pk, position=position, key=key)
    job_advance(job_id=job.pk, from_state=JobState.POSTERS, to_state=JobState.VIDEO)
    video = blob_put(key=job_key(job.pk, "film.mp4"), data=b"\x00\x00\x00\x18ftypmp42")
    cover = blob_put(key=job_key(job.pk, "cover.jpg"), data=_jpeg())
    job_video_set(job_id=job.pk, video_key=video, cover_key=cover)
    job_advance(job_id=job.pk, from_state=JobState.VIDEO, to_state=JobState.DONE)

    with connect(url, origin=origin) as ws:  # type: ignore[arg-type]
        ws.send(json.dumps({"type": "auth", "token": token}))
        caught_up = _receive(ws)

    final = Job.objects.get(pk=job.pk)
    assert caught_up["type"] == "snapshot"
    assert caught_up["job"]["state"] == "done"
    assert caught_up["seq"] == final.event_seq
    assert [p["position"] for p in caught_up["job"]["posters"]] == [1, 2, 3, 4, 5]
    assert caught_up["job"]["video"]["url"]
    request = urllib.request.Request(
        f"http://127.0.0.1:{web}/api/jobs/{job.pk}", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        over_http = json.loads(response.read())
    assert over_http["state"] == "done"  # the final result is reachable over plain HTTP as well
    with urllib.request.urlopen(f"http://127.0.0.1:{web}{over_http['posters'][0]['url']}", timeout=10) as r:
        assert r.read() == _jpeg()


def test_health_and_metrics_of_a_real_web_process_see_database_broker_and_storage(procs: Stack, web) -> None:  # type: ignore[no-untyped-def]
    with urllib.request.urlopen(f"http://127.0.0.1:{web}/healthz", timeout=20) as response:
        health = json.loads(response.read())
    with urllib.request.urlopen(f"http://127.0.0.1:{web}/metrics", timeout=20) as response:
        metrics = response.read().decode()

    assert health["status"] == "ok"
    assert {name: check["ok"] for name, check in health["checks"].items()} == {
        "database": True,
        "broker": True,
        "storage": True,
    }
    assert "protagonist_broker_up 1.0" in metrics
    assert 'protagonist_queue_depth{kind="ready",queue="cpu"}' in metrics
    assert 'protagonist_jobs{state="done"}' in metrics


@pytest.mark.parametrize(
    ("content", "code"),
    [(b"this is not a video at all" * 100, "corrupt_video")],
)
def test_bad_film_template_fails_ingest_clearly_and_receives_no_jobs(
    procs: Stack, content: bytes, code: str
) -> None:  # type: ignore[no-untyped-def]
    from campaign.errors import VariantUnavailable
    from campaign.models import Campaign, Film, FilmVariant, IngestStatus, PosterTemplate
    from campaign.selectors import variants_ready
    from campaign.services.films import variant_ingest_request
    from campaign.services.jobs import job_create
    from campaign.services.storage import blob_put

    campaign = Campaign.objects.create(slug="bad-film", title="Bad film")
    film = Film.objects.create(campaign=campaign, slug="broken", title="Broken")
    key = blob_put(key="films/broken.mp4", data=content)
    variant = FilmVariant.objects.create(film=film, gender="male", template_video=key)
    for position in range(1, 6):  # posters ready: only the film is wrong
        PosterTemplate.objects.create(
            variant=variant, position=position, image=f"posters/{position}.jpg", prepare_status="ready"
        )
    generation = variant_ingest_request(variant=variant)  # the admin upload path (send fails: no broker here)
    procs.worker("worker-ingest")
    procs.enqueue("ingest_variant", variant.pk, generation)

    wait_for(
        lambda: FilmVariant.objects.get(pk=variant.pk).ingest_status == IngestStatus.FAILED,
        timeout=90,
        what="ingest to fail",
    )
    failed = FilmVariant.objects.get(pk=variant.pk)
    assert failed.ingest_error.startswith(f"{code}: ")
    assert len(failed.ingest_error) > len(code) + 10  # a sentence an editor can act on
    assert variants_ready(campaign=campaign) == []
    with pytest.raises(VariantUnavailable):
        job_create(campaign=campaign, gender="male", photo=_jpeg(), consent=True)
    assert not campaign.jobs.exists()
