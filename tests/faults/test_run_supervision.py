"""`scripts/run` supervises what it starts: a SIGKILLed embedded Valkey is started again (logged, with
backoff) instead of the whole platform stopping, and SIGINT afterwards still leaves no process behind.
The real script, real processes, a throwaway data dir and free ports."""

from __future__ import annotations

import os
import signal
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.faults.conftest import REPO, wait_for

pytestmark = pytest.mark.slow


def _processes_of(var_dir: Path) -> list[int]:
    """Our processes whose environment names this run's data dir: everything the run started."""
    marker = f"PROTAGONIST_VAR={var_dir}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def _valkey_pid(port: int) -> int | None:
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        # Valkey rewrites its title to "valkey-server 127.0.0.1:<port>".
        if b"valkey-server" in cmdline and f"127.0.0.1:{port}".encode() in cmdline:
            return int(entry.name)
    return None


def _pong(port: int) -> bool:
    import redis

    try:
        return bool(redis.Redis(port=port, socket_timeout=0.5).ping())
    except redis.RedisError:
        return False


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path, int, int]]:
    var_dir = tmp_path / "var"
    web_port, valkey_port = free_port(), free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("BROKER_URL", "CHANNEL_REDIS_URL", "DATABASE_URL", "MEDIA_ROOT", "LOCAL_CACHE_DIR")
    }
    env.update(
        PROTAGONIST_VAR=str(var_dir),
        PORT=str(web_port),
        EMBEDDED_VALKEY_PORT=str(valkey_port),
        SEED_DEMO="0",
        DJANGO_SETTINGS_MODULE="campaign.settings",
    )
    output = (tmp_path / "run.out").open("wb")
    runner = subprocess.Popen(
        ["bash", "scripts/run"],
        cwd=REPO,
        env=env,
        stdout=output,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        # a shell cannot trap a signal ignored on entry: under a background CI job SIGINT is
        # ignored, and Ctrl-C as a terminal sends it must reach the script
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        yield runner, var_dir, web_port, valkey_port
    finally:
        if runner.poll() is None:
            os.killpg(runner.pid, signal.SIGINT)
            runner.wait(timeout=60)
        for pid in _processes_of(var_dir):
            os.kill(pid, signal.SIGKILL)


def test_killed_valkey_is_restarted_and_sigint_still_stops_everything(platform) -> None:  # type: ignore[no-untyped-def]
    runner, var_dir, web_port, valkey_port = platform
    out = var_dir.parent / "run.out"
    wait_for(
        lambda: b"Ctrl-C stops everything" in out.read_bytes() or runner.poll() is not None,
        timeout=240,
        interval=0.5,
        what="scripts/run to start everything",
    )
    assert runner.poll() is None, out.read_text()[-3000:]
    first = _valkey_pid(valkey_port)
    assert first is not None

    os.kill(first, signal.SIGKILL)
    wait_for(lambda: b"valkey restarted" in out.read_bytes(), timeout=30, what="the restart log line")
    wait_for(lambda: _pong(valkey_port), timeout=30, what="Valkey to answer again")
    assert runner.poll() is None  # the platform did not stop
    second = _valkey_pid(valkey_port)
    assert second is not None and second != first
    log = (var_dir / "log" / "supervisor.log").read_text()
    assert f"valkey (pid {first}) exited with status 137" in log
    assert "restarting in 1 s" in log

    def web_up() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/livez", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    wait_for(web_up, timeout=60, interval=0.5, what="the web server")

    os.killpg(runner.pid, signal.SIGINT)  # as Ctrl-C sends it
    assert runner.wait(timeout=60) != 0
    wait_for(lambda: not _processes_of(var_dir), timeout=10, what="every process of the run to end")
    assert not _pong(valkey_port)
