"""Live progress of one job over a websocket: `ws/jobs/<id>/`.

The client proves it owns the job with its token in the first message (`{"type": "auth", "token":
...}`); a token in the query string is not read (query strings end up in access and proxy logs).
A frame that is not a small JSON text is closed with 4400, never an unhandled error.
It then gets a snapshot of the job from the database, followed by live events from the job's group.
Events carry the job's sequence number; anything not newer than what was sent is dropped, so a
snapshot racing an event never moves the page backwards. `{"type": "ping"}` answers `pong`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from campaign.errors import JobGone, JobNotFound
from campaign.observability.metrics import websocket_closed, websocket_opened
from campaign.selectors import job_get_for_token, job_status
from campaign.services.events import QUEUE_GROUP, job_group_name

logger = logging.getLogger(__name__)

CLOSE_BAD_TOKEN = 4403
CLOSE_GONE = 4410
CLOSE_AUTH_TIMEOUT = 4408
CLOSE_BAD_FRAME = 4400
MAX_FRAME_CHARS = 4096  # auth and ping are tiny; anything larger is not our client


@database_sync_to_async  # type: ignore[untyped-decorator]  # channels ships no types
def _snapshot(job_id: str, token: str) -> tuple[dict[str, Any], float]:
    job = job_get_for_token(job_id=job_id, token=token, allow_deleted=True)
    return job_status(job=job), job.created_at.timestamp()


class JobProgressConsumer(AsyncJsonWebsocketConsumer):
    job_id: str
    group: str | None = None
    last_seq: int = -1
    status: dict[str, Any] | None = None
    created_ts: float = 0.0
    in_queue_group: bool = False
    auth_timer: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        self.job_id = str(self.scope["url_route"]["kwargs"]["job_id"])
        await self.accept()
        websocket_opened()
        self.auth_timer = asyncio.create_task(self._auth_deadline())

    async def receive(
        self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: object
    ) -> None:
        """Only small JSON text frames; anything else closes the socket with 4400 (bad frame)."""
        if text_data is None or len(text_data) > MAX_FRAME_CHARS:
            await self.close(code=CLOSE_BAD_FRAME)
            return
        try:
            content = json.loads(text_data)
        except ValueError:
            await self.close(code=CLOSE_BAD_FRAME)
            return
        await self.receive_json(content, **kwargs)

    async def _auth_deadline(self) -> None:
        await asyncio.sleep(settings.WEBSOCKET_AUTH_TIMEOUT_S)
        if self.group is None:
            await self.close(code=CLOSE_AUTH_TIMEOUT)

    async def _authenticate(self, token: str) -> None:
        if self.auth_timer is not None:
            self.auth_timer.cancel()
        try:
            # Join first, read second: an event published in between is not lost, and the seq filter
            # drops it if the snapshot already includes it.
            group = job_group_name(self.job_id)
            await self.channel_layer.group_add(group, self.channel_name)
            self.group = group
            snapshot, self.created_ts = await _snapshot(self.job_id, token)
        except (JobNotFound, JobGone):
            await self._leave()
            await self.send_json(
                {"type": "error", "code": "not_found", "detail": "No job with this id and token."}
            )
            await self.close(code=CLOSE_BAD_TOKEN)
            return
        if snapshot["state"] == "deleted":
            await self._leave()
            await self.send_json({"type": "error", "code": "deleted", "detail": "This job was deleted."})
            await self.close(code=CLOSE_GONE)
            return
        self.last_seq = snapshot["seq"]
        self.status = snapshot
        if snapshot["state"] == "queued":
            await self.channel_layer.group_add(QUEUE_GROUP, self.channel_name)
            self.in_queue_group = True
        await self.send_json({"type": "snapshot", "seq": snapshot["seq"], "job": snapshot})

    async def receive_json(self, content: Any, **kwargs: object) -> None:  # content: decoded JSON
        kind = content.get("type") if isinstance(content, dict) else None
        if self.group is None:
            # Until the token is shown, the only message that makes sense is the token itself.
            if kind == "auth" and isinstance(content.get("token"), str):
                await self._authenticate(content["token"])
            else:
                await self.close(code=CLOSE_BAD_TOKEN)
        elif kind == "ping":
            await self.send_json({"type": "pong"})

    async def job_event(self, message: dict[str, Any]) -> None:
        event = message["event"]
        if event["seq"] <= self.last_seq:
            return
        self.last_seq = event["seq"]
        self.status = event["job"]
        if self.in_queue_group and event["job"]["state"] != "queued":
            await self.channel_layer.group_discard(QUEUE_GROUP, self.channel_name)
            self.in_queue_group = False
        await self.send_json({"type": event["kind"], **event})
        if event["job"]["state"] == "deleted":
            await self.close(code=CLOSE_GONE)

    async def queue_moved(self, message: dict[str, Any]) -> None:
        """An older job left the queue: move up one place (same seq; the page takes equal seqs)."""
        status = self.status
        if status is None or status["state"] != "queued" or message["left_created_ts"] >= self.created_ts:
            return
        old_position = status["queue_position"] or 1
        position = max(1, old_position - 1)
        if position == old_position:
            return
        eta = status.get("eta_seconds")
        status = {
            **status,
            "queue_position": position,
            "eta_seconds": round(eta * position / old_position) if eta else eta,
        }
        self.status = status
        await self.send_json({"type": "queue", "seq": self.last_seq, "job": status})

    async def _leave(self) -> None:
        if self.in_queue_group:
            await self.channel_layer.group_discard(QUEUE_GROUP, self.channel_name)
            self.in_queue_group = False
        if self.group is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)
            self.group = None

    async def disconnect(self, code: int) -> None:
        websocket_closed()
        if self.auth_timer is not None:
            self.auth_timer.cancel()
        await self._leave()
