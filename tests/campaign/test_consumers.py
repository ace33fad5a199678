"""The progress websocket: token check, snapshot from the database first, then live events."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from campaign.asgi import application
from campaign.models import JobState
from campaign.services.jobs import job_advance, job_poster_add

pytestmark = pytest.mark.django_db(transaction=True)
ORIGIN = [(b"origin", b"http://testserver"), (b"host", b"testserver")]


def run(test: Callable[[], Awaitable[None]]) -> None:
    async_to_sync(test)()


def _to_posters(job_id: Any) -> None:
    job_advance(job_id=job_id, from_state=JobState.QUEUED, to_state=JobState.ANALYZING)
    job_advance(job_id=job_id, from_state=JobState.ANALYZING, to_state=JobState.POSTERS)


def test_late_connect_gets_the_current_state_as_a_snapshot(queued_job: Any) -> None:
    job, token = queued_job
    _to_posters(job.id)
    job_poster_add(job_id=job.id, position=1, key=f"jobs/{job.id}/poster-1.jpg")

    async def scenario() -> None:
        ws = WebsocketCommunicator(application, f"/ws/jobs/{job.id}/", headers=ORIGIN)
        connected, _ = await ws.connect()
        assert connected
        await ws.send_json_to({"type": "auth", "token": token})
        message = await ws.receive_json_from(timeout=5)
        assert message["type"] == "snapshot"
        assert message["job"]["state"] == "posters"
        assert message["seq"] == 3
        assert message["job"]["posters"][0]["url"].startswith(f"/media/jobs/{job.id}/poster-1.jpg?")
        assert message["job"]["posters"][1:] == [None] * 4
        await ws.disconnect()

    run(scenario)


def test_events_follow_the_snapshot_in_sequence(queued_job: Any) -> None:
    job, token = queued_job

    async def scenario() -> None:
        ws = WebsocketCommunicator(application, f"/ws/jobs/{job.id}/", headers=ORIGIN)
        await ws.connect()
        await ws.send_json_to({"type": "auth", "token": token})
        snapshot = await ws.receive_json_from(timeout=5)
        assert (snapshot["type"], snapshot["job"]["state"], snapshot["seq"]) == ("snapshot", "queued", 0)
        await database_sync_to_async(_to_posters)(job.id)
        first = await ws.receive_json_from(timeout=5)
        second = await ws.receive_json_from(timeout=5)
        assert [(first["type"], first["job"]["state"]), (second["type"], second["job"]["state"])] == [
            ("state", "analyzing"),
            ("state", "posters"),
        ]
        assert second["seq"] > first["seq"] > snapshot["seq"]
        await database_sync_to_async(job_poster_add)(job_id=job.id, position=4, key="jobs/k/poster-4.jpg")
        poster = await ws.receive_json_from(timeout=5)
        assert poster["type"] == "poster"
        assert poster["position"] == 4
        assert poster["job"]["posters"][3]["url"].startswith("/media/jobs/k/poster-4.jpg?")
        await ws.send_json_to({"type": "ping"})
        assert await ws.receive_json_from(timeout=5) == {"type": "pong"}
        await ws.disconnect()

    run(scenario)


def test_token_in_the_query_string_is_not_read(queued_job: Any) -> None:
    job, token = queued_job

    async def scenario() -> None:
        ws = WebsocketCommunicator(application, f"/ws/jobs/{job.id}/?token={token}", headers=ORIGIN)
        connected, _ = await ws.connect()
        assert connected
        await ws.send_json_to({"type": "ping"})  # not authenticated: the URL's token counts for nothing
        assert await ws.receive_output(timeout=5) == {"type": "websocket.close", "code": 4403}

    run(scenario)


def test_wrong_token_closes_the_connection(queued_job: Any) -> None:
    job, _ = queued_job

    async def scenario() -> None:
        ws = WebsocketCommunicator(application, f"/ws/jobs/{job.id}/", headers=ORIGIN)
        await ws.connect()
        await ws.send_json_to({"type": "auth", "token": "not-the-token"})
        error = await ws.receive_json_from(timeout=5)
        assert error["code"] == "not_found"
        closed = await ws.receive_output(timeout=5)
        assert closed == {"type": "websocket.close", "code": 4403}

    run(scenario)


def test_messages_before_authentication_close_the_connection(queued_job: Any) -> None:
    job, _ = queued_job

    async def scenario() -> None:
        ws = WebsocketCommunicator(application, f"/ws/jobs/{job.id}/", headers=ORIGIN)
        await ws.connect()
        await ws.send_json_to({"type": "ping"})
        assert await ws.receive_output(timeout=5) == {"type": "websocket.close", "code": 4403}

    run(scenario)


def test_foreign_origin_is_refused(queued_job: Any) -> None:
    job, _token = queued_job

    async def scenario() -> None:
        ws = WebsocketCommunicator(
            application,
            f"/ws/jobs/{job.id}/",
            headers=[(b"origin", b"https://evil.example"), (b"host", b"testserver")],
        )
        connected, _ = await ws.connect()
        assert connected is False

    run(scenario)


def test_queued_socket_moves_up_when_an_older_job_starts(ready_campaign: Any, astronaut_jpeg: bytes) -> None:
    from campaign.services.jobs import job_create

    older = job_create(campaign=ready_campaign, gender="female", photo=astronaut_jpeg, consent=True)
    mine = job_create(campaign=ready_campaign, gender="female", photo=astronaut_jpeg, consent=True)

    async def scenario() -> None:
        ws = WebsocketCommunicator(application, f"/ws/jobs/{mine.job.id}/", headers=ORIGIN)
        await ws.connect()
        await ws.send_json_to({"type": "auth", "token": mine.token})
        snapshot = await ws.receive_json_from(timeout=5)
        assert snapshot["job"]["queue_position"] == 2
        await database_sync_to_async(job_advance)(
            job_id=older.job.id, from_state=JobState.QUEUED, to_state=JobState.ANALYZING
        )
        moved = await ws.receive_json_from(timeout=5)
        assert moved["type"] == "queue"
        assert (moved["job"]["state"], moved["job"]["queue_position"], moved["seq"]) == (
            "queued",
            1,
            snapshot["seq"],
        )
        # Our own start ends the queue display: the state event, and no further queue moves.
        await database_sync_to_async(job_advance)(
            job_id=mine.job.id, from_state=JobState.QUEUED, to_state=JobState.ANALYZING
        )
        started = await ws.receive_json_from(timeout=5)
        assert (started["type"], started["job"]["state"]) == ("state", "analyzing")
        assert await ws.receive_nothing(timeout=0.5)
        await ws.disconnect()

    run(scenario)
