"""The served ASGI app starts quietly: it answers the lifespan protocol, the media view streams files with
an async iterator (no "must consume synchronous iterators" warning, no file read whole), and uvicorn's
`--no-access-log` holds although Django configures uvicorn's loggers."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import warnings
from pathlib import Path
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from campaign.services.storage import blob_signed_url
from tests.asgi_http import asgi_request

pytestmark = pytest.mark.django_db(transaction=True)
REPO = Path(__file__).resolve().parents[2]


def test_lifespan_startup_and_shutdown_are_acknowledged() -> None:
    from campaign.asgi import application

    sent: list[dict[str, Any]] = []
    incoming = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]

    async def receive() -> dict[str, Any]:
        return incoming.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def run() -> None:
        await asyncio.wait_for(
            application({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send), 5
        )

    asyncio.run(run())
    assert sent == [{"type": "lifespan.startup.complete"}, {"type": "lifespan.shutdown.complete"}]


def test_media_streams_a_whole_file_under_asgi_without_a_sync_iterator_warning() -> None:
    payload = bytes(range(256)) * 1000  # 256 kB: several chunks
    key = default_storage.save("jobs/00000000-0000-4000-8000-000000000000/film.mp4", ContentFile(payload))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Django's "must consume synchronous iterators" is a Warning
        path, query = _path_and_query(blob_signed_url(key=key))
        answer = asgi_request(path, query_string=query)
    assert answer.status == 200
    assert answer.headers["content-length"] == str(len(payload))
    assert answer.headers["accept-ranges"] == "bytes"
    assert answer.body == payload


def test_media_streams_a_range_under_asgi_without_a_sync_iterator_warning() -> None:
    payload = bytes(range(256)) * 40
    key = default_storage.save("jobs/00000000-0000-4000-8000-000000000000/film.mp4", ContentFile(payload))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        path, query = _path_and_query(blob_signed_url(key=key))
        answer = asgi_request(path, query_string=query, headers=[(b"range", b"bytes=100-199")])
    assert answer.status == 206
    assert answer.headers["content-range"] == f"bytes 100-199/{len(payload)}"
    assert answer.body == payload[100:200]


def _path_and_query(url: str) -> tuple[str, bytes]:
    path, _, query = url.partition("?")
    return path, query.encode()


@pytest.mark.slow
def test_uvicorn_as_scripts_run_starts_it_logs_no_lifespan_or_access_lines(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "campaign.settings",
        "PROTAGONIST_VAR": str(tmp_path / "var"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "LOG_LEVEL": "INFO",
    }
    command = [sys.executable, "-m", "uvicorn", "campaign.asgi:application", "--port", str(port)]
    command += ["--ws", "websockets-sansio", "--no-access-log", "--no-proxy-headers"]  # as in scripts/run
    with (tmp_path / "web.log").open("wb") as log:
        web = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/livez", timeout=1) as answer:
                    assert answer.status == 200
                    break
            except OSError:
                assert web.poll() is None and time.monotonic() < deadline, (tmp_path / "web.log").read_text()
                time.sleep(0.2)
    finally:
        web.send_signal(signal.SIGINT)
        web.wait(timeout=20)
    output = (tmp_path / "web.log").read_text()

    assert "Application startup complete." in output
    assert "Application shutdown complete." in output
    assert "lifespan" not in output
    assert "GET /livez" not in output
