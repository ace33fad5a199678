"""Websocket handshakes and frames through the served ASGI app: unrouted paths are refused cleanly
(they were HTTP 500), a bad first frame closes with 4400 (it was an unhandled JSONDecodeError), and
the Origin must be this site with its scheme and port (any port was accepted)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator

from campaign.asgi import application
from campaign.security.websocket import origin_allowed

pytestmark = pytest.mark.django_db(transaction=True)
SITE = [(b"origin", b"http://testserver"), (b"host", b"testserver")]


def run(test: Callable[[], Awaitable[None]]) -> None:
    async_to_sync(test)()


async def _handshake(path: str, headers: list[tuple[bytes, bytes]], **scope: Any) -> bool:
    ws = WebsocketCommunicator(application, path, headers=headers)
    ws.scope.update(scope)
    connected, _ = await ws.connect(timeout=5)
    if connected:
        await ws.disconnect()
    return bool(connected)


@pytest.mark.parametrize(
    "path", ["/", "/ws/", "/ws/jobs/", "/ws/jobs/not-a-uuid/", "/ws/jobs/../../etc/passwd", "/admin/"]
)
def test_unrouted_websocket_paths_are_refused_cleanly(path: str) -> None:
    async def scenario() -> None:
        assert await _handshake(path, SITE) is False  # denied (HTTP 403), no router error

    run(scenario)


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "websocket.receive", "text": "not json"},
        {"type": "websocket.receive", "text": '{"type": "auth", '},
        {"type": "websocket.receive", "bytes": b"\x00\x01binary"},
        {"type": "websocket.receive", "text": '{"type": "auth", "token": "' + "a" * 5000 + '"}'},
    ],
)
def test_a_first_frame_that_is_not_small_json_text_closes_with_4400(
    queued_job: Any, frame: dict[str, Any]
) -> None:
    job, _ = queued_job

    async def scenario() -> None:
        ws = WebsocketCommunicator(application, f"/ws/jobs/{job.id}/", headers=SITE)
        assert (await ws.connect())[0]
        await ws.send_input(frame)
        assert await ws.receive_output(timeout=5) == {"type": "websocket.close", "code": 4400}

    run(scenario)


@pytest.mark.parametrize("text", ['{"type": "auth", "token": 12345}', "[1, 2, 3]", '"auth"', "null"])
def test_json_that_is_not_an_auth_message_closes_with_4403(queued_job: Any, text: str) -> None:
    job, _ = queued_job

    async def scenario() -> None:
        ws = WebsocketCommunicator(application, f"/ws/jobs/{job.id}/", headers=SITE)
        assert (await ws.connect())[0]
        await ws.send_to(text_data=text)
        assert await ws.receive_output(timeout=5) == {"type": "websocket.close", "code": 4403}

    run(scenario)


@pytest.mark.parametrize(
    ("origin", "scheme", "accepted"),
    [
        ("http://testserver", "ws", True),
        ("http://testserver:9999", "ws", False),  # another port: another site
        ("https://testserver", "ws", False),  # another scheme
        ("http://testserver.evil.example", "ws", False),
        ("null", "ws", False),
        ("https://testserver", "wss", True),
        ("http://testserver", "wss", False),
    ],
)
def test_the_origin_must_be_this_site_with_scheme_and_port(
    queued_job: Any, origin: str, scheme: str, accepted: bool
) -> None:
    job, _ = queued_job
    headers = [(b"origin", origin.encode()), (b"host", b"testserver")]

    async def scenario() -> None:
        assert await _handshake(f"/ws/jobs/{job.id}/", headers, scheme=scheme) is accepted

    run(scenario)


def test_a_handshake_without_origin_or_with_a_foreign_host_is_refused(queued_job: Any) -> None:
    job, _ = queued_job

    async def scenario() -> None:
        assert await _handshake(f"/ws/jobs/{job.id}/", [(b"host", b"testserver")]) is False
        evil_host = [(b"origin", b"http://evil.example"), (b"host", b"evil.example")]
        assert await _handshake(f"/ws/jobs/{job.id}/", evil_host) is False  # not in ALLOWED_HOSTS

    run(scenario)


def test_origin_rules() -> None:
    hosts = ["h5.example.com", "127.0.0.1"]

    def allowed(origin: str, host: str, scheme: str = "wss", trusted: tuple[str, ...] = ()) -> bool:
        return origin_allowed(
            origin=origin, scheme=scheme, host=host, allowed_hosts=hosts, trusted=list(trusted)
        )

    assert allowed("https://h5.example.com", "h5.example.com")
    assert allowed("https://h5.example.com:443", "h5.example.com")  # the default port spelled out
    assert allowed("http://127.0.0.1:8000", "127.0.0.1:8000", scheme="ws")
    assert not allowed("http://127.0.0.1:9999", "127.0.0.1:8000", scheme="ws")
    assert not allowed("https://h5.example.com/path", "h5.example.com")
    assert allowed("https://preview.example.org", "h5.example.com", trusted=("https://preview.example.org",))
    assert not allowed(
        "https://preview.example.org:8443", "h5.example.com", trusted=("https://preview.example.org",)
    )
