"""One client cannot fill the queue for everyone: its share is bounded, others are still admitted
(through the served ASGI app, real intake, in-process share counts; then the Redis script)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import redis
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart
from PIL import Image

from campaign.intake.device import DEVICE_COOKIE, device_id_new
from campaign.intake.fairshare import ClientShare, QueueShare, QueueShareExceeded
from tests.asgi_http import asgi_request
from tests.campaign.conftest import intake_campaign


def _photo() -> bytes:
    rng = np.random.default_rng(7)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (360, 480, 3), dtype=np.uint8)).save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


PHOTO = _photo()


def _upload(client: str) -> Any:
    """POST /api/jobs from `client` with a fresh signed device id, as a page reload would give."""
    upload = io.BytesIO(PHOTO)
    upload.name = "me.jpg"
    body = encode_multipart(
        BOUNDARY, {"photo": upload, "gender": "female", "consent": "true", "age_confirmation": "self"}
    )
    return asgi_request(
        "/api/jobs",
        method="POST",
        headers=[
            (b"content-type", MULTIPART_CONTENT.encode()),
            (b"content-length", str(len(body)).encode()),
            (b"cookie", f"{DEVICE_COOKIE}={device_id_new()}".encode()),
        ],
        body=body,
        client=(client, 40000),
    )


@pytest.fixture
def campaign(transactional_db: Any, settings: Any) -> Iterator[Any]:
    settings.RATELIMIT_ENABLED = True
    settings.API_CONN_MAX_AGE = 0
    # Capacity within the promise: 1 job/min (60 s film, one slot) x 10 min = 10 jobs.
    settings.DEFAULT_VIDEO_SECONDS = 60.0
    settings.GPU_WORKER_SLOTS = 1
    yield from intake_campaign(settings)


def test_one_address_with_fresh_devices_cannot_lock_everyone_else_out(campaign: Any) -> None:
    flood = [_upload("198.51.100.66") for _ in range(7)]
    neighbour = _upload("203.0.113.50")

    assert [a.status for a in flood] == [202] * 5 + [429, 429]  # half of the 10 places, no more
    assert json.loads(flood[5].body)["code"] == "queue_share"
    assert int(flood[5].headers["retry-after"]) == 300  # the oldest place frees when its promise ends
    assert neighbour.status == 202


def test_a_refused_photo_gives_its_place_back(campaign: Any, settings: Any) -> None:
    settings.ADMISSION_SHARE_IP = 0.0
    settings.ADMISSION_SHARE_MIN_JOBS = 1
    document = io.BytesIO(b"not a photo")
    document.name = "me.jpg"
    body = encode_multipart(
        BOUNDARY, {"photo": document, "gender": "female", "consent": "true", "age_confirmation": "self"}
    )
    refused = asgi_request(
        "/api/jobs",
        method="POST",
        headers=[
            (b"content-type", MULTIPART_CONTENT.encode()),
            (b"content-length", str(len(body)).encode()),
        ],
        body=body,
        client=("198.51.100.67", 40000),
    )

    assert refused.status == 415
    assert _upload("198.51.100.67").status == 202  # the one place was not kept by the refusal


def test_shares_are_counted_across_web_processes_in_redis(valkey: redis.Redis) -> None:
    first, second = QueueShare(valkey, prefix="share:t1"), QueueShare(valkey, prefix="share:t1")
    shares = [ClientShare("ip:198.51.100.1", 2, "ip"), ClientShare("d:device-0000000000000", 5, "device")]

    first.take(shares, window_s=60)
    ticket = second.take(shares, window_s=60)
    with pytest.raises(QueueShareExceeded) as refused:
        first.take(shares, window_s=60)
    second.release(ticket)

    assert (refused.value.limited_by, refused.value.status, refused.value.code) == ("ip", 429, "queue_share")
    assert 59 <= refused.value.retry_after_s <= 60
    first.take(shares, window_s=60)  # the released place is free again


def test_places_expire_after_the_window(valkey: redis.Redis) -> None:
    import time

    share = QueueShare(valkey, prefix="share:t2")
    one = [ClientShare("ip:198.51.100.2", 1, "ip")]
    share.take(one, window_s=0.2)
    with pytest.raises(QueueShareExceeded):
        share.take(one, window_s=0.2)

    time.sleep(0.3)

    share.take(one, window_s=0.2)
