"""A frozen broker (Valkey stopped with SIGSTOP: the socket accepts, nothing answers) never gets a
visitor a 202 for a job whose message is nowhere: intake answers 503 within seconds and keeps nothing
(real uvicorn, real Valkey process, SQLite)."""

from __future__ import annotations

import io
import json
import signal
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import free_port
from tests.faults.conftest import Stack, wait_for

pytestmark = pytest.mark.slow


def _jpeg() -> bytes:
    import numpy as np
    from PIL import Image

    buffer = io.BytesIO()
    pixels = np.random.default_rng(3).integers(0, 255, (360, 480, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


def _ready_campaign() -> Any:
    from campaign.models import Campaign, Film, FilmVariant, IngestStatus, PosterTemplate

    campaign, _ = Campaign.objects.get_or_create(
        slug="frozen", defaults={"title": "Frozen", "max_wait_seconds": 3600, "max_queued_jobs": 1000}
    )
    film, _ = Film.objects.get_or_create(campaign=campaign, slug="film", defaults={"title": "Film"})
    variant, _ = FilmVariant.objects.get_or_create(
        film=film,
        gender="female",
        defaults={"template_video": "films/none.mp4", "ingest_status": IngestStatus.READY},
    )
    for position in range(1, 6):
        PosterTemplate.objects.get_or_create(
            variant=variant,
            position=position,
            defaults={"image": f"posters/{position}.jpg", "prepare_status": IngestStatus.READY},
        )
    return campaign


@pytest.fixture
def web(procs: Stack) -> Iterator[int]:
    if procs.valkey is None:
        pytest.skip("needs the embedded Valkey process to pause")
    _ready_campaign()
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
        RATELIMIT_ANONYMOUS_BURST="1000",
        RATELIMIT_ANONYMOUS_PER_MIN="1000",
        ADMISSION_SNAPSHOT_TTL_S="0",
    )

    def up() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/livez", timeout=1) as response:
                return response.status == 200
        except OSError:
            return False

    wait_for(up, timeout=60, interval=0.2, what="uvicorn")
    yield port
    if procs.valkey.process is not None:
        procs.valkey.process.send_signal(signal.SIGCONT)  # never leave the module's broker frozen


def _upload(port: int) -> tuple[int, dict[str, Any], float]:
    from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart

    photo = io.BytesIO(_jpeg())
    photo.name = "me.jpg"
    body = encode_multipart(
        BOUNDARY, {"photo": photo, "gender": "female", "consent": "true", "age_confirmation": "self"}
    )
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/jobs", data=body, headers={"Content-Type": MULTIPART_CONTENT}
    )
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read()), time.monotonic() - started
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read()), time.monotonic() - started


def test_frozen_broker_gets_a_503_and_no_job_instead_of_a_silent_202(procs: Stack, web: int) -> None:
    from campaign.models import Job

    assert procs.valkey is not None and procs.valkey.process is not None
    before = _upload(web)
    assert before[0] == 202, before
    jobs_before = Job.objects.count()
    media = procs.root / "media" / "jobs"
    files_before = sorted(str(p) for p in media.rglob("*") if p.is_file())

    procs.valkey.process.send_signal(signal.SIGSTOP)
    status, answer, seconds = _upload(web)
    procs.valkey.process.send_signal(signal.SIGCONT)

    assert (status, answer["code"]) == (503, "queue_unavailable"), answer
    assert answer["retry_after"] == 10
    assert seconds < 6  # the broker's 2 s socket timeout, plus the limiter's own short ones
    assert Job.objects.count() == jobs_before  # nothing kept for a job nobody will work on
    assert sorted(str(p) for p in media.rglob("*") if p.is_file()) == files_before  # its photo too
    after = _upload(web)
    assert after[0] == 202, after  # the thawed broker takes jobs again
    messages = procs.valkey.client().hvals("dramatiq:cpu.msgs")
    queued_ids = {json.loads(message)["args"][0] for message in messages}
    existing = {str(pk) for pk in Job.objects.filter(pk__in=queued_ids).values_list("pk", flat=True)}
    # The frozen broker may still take the refused send when it thaws: that message finds no row
    # (the actor returns early), every accepted job has its message.
    assert existing == {before[1]["id"], after[1]["id"]}
    assert len(queued_ids - existing) <= 1
