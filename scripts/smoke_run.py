#!/usr/bin/env python3
"""Smoke run of the README's run command, the way a new user meets it (called by scripts/test).

A clean `git clone` of HEAD in a temporary folder, where no ../shared exists and PROTAGONIST_SHARED_MEDIA
is unset, then `bash scripts/run` exactly as the README says: it builds its own .venv with no extras,
seeds the demo campaign and starts every process on free ports. Then one visitor through the public
API: wait until the demo campaign is ready, upload the demo's own face photo, wait for five posters
and the film, download them and check they are a JPEG and an MP4 of plausible size. Finally SIGINT,
as Ctrl-C would, and check that no process of the run is left and its ports are free.

Any failed step exits non-zero with the tail of every log. Only the standard library is used: the
clone's venv is the one under test. The clone is removed afterwards; `--keep` leaves it for a look.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

ROOT = Path(__file__).resolve().parents[1]
READY_TIMEOUT_S = 600  # fresh venv (~2-3 min from local wheels), demo film, ingest on 2 cores
JOB_TIMEOUT_S = 300
STOP_TIMEOUT_S = 60
POSTERS = 5


class SmokeFailure(Exception):
    """A step of the run did not do what the README promises."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def port_in_use(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def http_json(url: str, *, data: bytes | None = None, headers: dict[str, str] | None = None) -> Any:
    request = urllib.request.Request(url, data=data, headers=headers or {})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def multipart(fields: dict[str, str], photo: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = io.BytesIO()
    for name, value in fields.items():
        body.write(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        )
    body.write(
        f'--{boundary}\r\nContent-Disposition: form-data; name="photo"; filename="me.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n".encode()
    )
    body.write(photo + f"\r\n--{boundary}--\r\n".encode())
    return body.getvalue(), f"multipart/form-data; boundary={boundary}"


def run_processes(clone: Path) -> list[int]:
    """Processes started by this run: their command line or working directory lies in the clone."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if str(clone) in cmdline or cwd == str(clone) or cwd.startswith(f"{clone}/"):
            found.append(int(entry.name))
    return found


def wait_until(what: str, timeout_s: float, check: Any, runner: subprocess.Popen[bytes]) -> Any:
    deadline = time.monotonic() + timeout_s
    last_error = ""
    while time.monotonic() < deadline:
        if runner.poll() is not None:
            raise SmokeFailure(f"scripts/run exited with {runner.returncode} while waiting for {what}")
        try:
            value = check()
        except (OSError, urllib.error.URLError, ValueError) as exc:
            last_error = f" (last error: {exc})"
            value = None
        if value:
            return value
        time.sleep(2)
    raise SmokeFailure(f"timed out after {timeout_s:.0f} s waiting for {what}{last_error}")


def visitor(base: str, clone: Path, runner: subprocess.Popen[bytes]) -> None:
    started = time.monotonic()

    def female_ready() -> bool:
        campaign = http_json(f"{base}/api/campaign")
        return "female" in campaign["genders"]

    wait_until("the demo campaign's female variant to be ready", READY_TIMEOUT_S, female_ready, runner)
    print(f"smoke run: demo campaign ready after {time.monotonic() - started:.0f} s", flush=True)
    # The face the demo itself is made from, written by the clone's own venv (no sample media exists).
    photo = subprocess.run(
        [str(clone / ".venv/bin/python"), "-c", "from campaign import demo; demo.write_sample_photo()"],
        cwd=clone,
        check=True,
        capture_output=True,
    ).stdout
    body, content_type = multipart({"gender": "female", "consent": "true", "age_confirmation": "self"}, photo)
    try:
        ticket = http_json(f"{base}/api/jobs", data=body, headers={"Content-Type": content_type})
    except urllib.error.HTTPError as exc:
        raise SmokeFailure(f"POST /api/jobs answered {exc.code}: {exc.read()[:300]!r}") from exc
    auth = {"Authorization": f"Bearer {ticket['token']}"}
    job_started = time.monotonic()

    def finished() -> dict[str, Any] | None:
        status = http_json(f"{base}/api/jobs/{ticket['id']}", headers=auth)
        return status if status["state"] in ("done", "failed") else None

    status = wait_until("the job to finish", JOB_TIMEOUT_S, finished, runner)
    if status["state"] != "done":
        raise SmokeFailure(f"the job failed: {status['failure']}")
    print(f"smoke run: job done after {time.monotonic() - job_started:.0f} s", flush=True)
    urls = [poster["url"] for poster in status["posters"] if poster]
    if len(urls) != POSTERS or not status["video"]:
        raise SmokeFailure(f"expected {POSTERS} posters and a film, got {status}")
    for url in urls:
        check_download(urljoin(base, url), magic_at=0, magic=b"\xff\xd8\xff", min_bytes=20_000)
    check_download(urljoin(base, status["video"]["url"]), magic_at=4, magic=b"ftyp", min_bytes=200_000)


def check_download(url: str, *, magic_at: int, magic: bytes, min_bytes: int) -> None:
    with urllib.request.urlopen(url, timeout=60) as response:
        data = response.read()
    if data[magic_at : magic_at + len(magic)] != magic or len(data) < min_bytes:
        raise SmokeFailure(
            f"{url.split('?')[0]}: {len(data)} bytes starting {data[:12]!r}, "
            f"expected {magic!r} at byte {magic_at} and at least {min_bytes} bytes"
        )
    print(f"smoke run: downloaded {url.split('?')[0].rsplit('/', 1)[-1]} ({len(data)} bytes)", flush=True)


def stop(runner: subprocess.Popen[bytes], clone: Path, ports: tuple[int, ...]) -> None:
    """SIGINT as Ctrl-C sends it (to the script's process group), then nothing may be left."""
    if runner.poll() is None:
        os.killpg(runner.pid, signal.SIGINT)
        try:
            runner.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired as exc:
            raise SmokeFailure(f"scripts/run still running {STOP_TIMEOUT_S} s after SIGINT") from exc
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (run_processes(clone) or any(map(port_in_use, ports))):
        time.sleep(0.5)
    left = run_processes(clone)
    busy = [port for port in ports if port_in_use(port)]
    if left or busy:
        raise SmokeFailure(f"after SIGINT, processes left: {left}, ports still answering: {busy}")


def kill_leftovers(clone: Path) -> None:
    for pid in run_processes(clone):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def print_logs(clone: Path, run_log: Path) -> None:
    logs = [run_log, *sorted((clone / "var" / "log").glob("*.log"))]
    for log in logs:
        if log.exists():
            lines = log.read_text(errors="replace").splitlines()[-40:]
            print(f"----- tail of {log.name} -----", file=sys.stderr)
            print("\n".join(lines), file=sys.stderr)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="leave the clone in place")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="protagonist-smoke-"))
    clone = workdir / "protagonist"
    run_log = workdir / "run.log"
    subprocess.run(["git", "clone", "-q", "--no-hardlinks", str(ROOT), str(clone)], check=True)
    if (clone.parent / "shared").exists():
        raise SystemExit(f"{clone.parent / 'shared'} exists: the run would find sample media")
    web, valkey = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("PROTAGONIST_SHARED_MEDIA", "VIRTUAL_ENV")}
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep) if not p.startswith(str(ROOT))
    )
    env.update({"PORT": str(web), "EMBEDDED_VALKEY_PORT": str(valkey)})
    base = f"http://127.0.0.1:{web}"
    started = time.monotonic()
    print(f"smoke run: bash scripts/run in {clone} (web :{web}, valkey :{valkey})", flush=True)
    with run_log.open("wb") as log:
        runner = subprocess.Popen(
            ["bash", "scripts/run"],
            cwd=clone,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: SIGINT reaches it as Ctrl-C would
            # a shell cannot trap a signal ignored on entry (a background CI job ignores SIGINT)
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
    try:
        visitor(base, clone, runner)
        stop(runner, clone, (web, valkey))
    except (SmokeFailure, subprocess.CalledProcessError, KeyError) as exc:
        print(f"smoke run FAILED: {exc}", file=sys.stderr)
        print_logs(clone, run_log)
        if runner.poll() is None:
            os.killpg(runner.pid, signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                runner.wait(timeout=STOP_TIMEOUT_S)
        kill_leftovers(clone)
        return 1
    finally:
        if not args.keep:  # the clone's venv is ~2.4 GB
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"smoke run: passed in {time.monotonic() - started:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
