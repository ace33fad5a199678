"""Traffic simulation: many visitors through the real flow, against the platform with real workers.

    .venv/bin/python bench/simulate.py [--visitors 16] [--rate 0.5] [--cpu-processes 2]
        [--web-processes 2] [--film-seconds 2] [--film-size 270x480] [--bad-photo-share 0.25]
        [--kill-worker-at SECONDS] [--out var/simulation]

What it does, in `<out>/stack` (nothing else of var/ is touched):
1. starts the embedded Valkey (append-only), migrates a fresh SQLite database (or `--database-url`),
   and starts the platform as in production: uvicorn with `--web-processes` processes sharing one port,
   a cpu worker (`--cpu-processes` processes) and a gpu worker (CPU rendering here), both under the
   watchdog supervisor, and the reconciler;
2. seeds a campaign whose film is the generated astronaut clip (`--film-seconds`, `--film-size`: the
   real engine renders every frame, so a shorter, smaller clip keeps a run within minutes on two
   cores) and five posters; ingest and poster preparation run in the ingest worker like an editor upload;
3. sends `--visitors` visitors with exponential inter-arrival times (mean rate `--rate` per second).
   Each: loads the page, uploads a photo (multipart, own device cookie; `429/503` honoured with
   `Retry-After` like the page does), follows progress on the websocket (token as first message,
   reconnecting if dropped), then fetches the status over HTTP and downloads every poster and the film;
   `--bad-photo-share` of them upload a photo without a face, which must fail *with a reason*;
4. samples queue depth (broker) and jobs by state (database) every second;
5. `--kill-worker-at S` SIGKILLs the cpu worker's processes S seconds into the run (the watchdog
   restarts it, the reconciler re-enqueues): a fault under load;
6. writes `<out>/report.json`, `<out>/report.md` and `<out>/simulation.png` (queue depth and jobs by
   state over time, cumulative arrivals/completions, latency per stage), and checks
   accepted = completed + failed-with-reason (lost = 0). Exit status 1 when anything was lost.
"""

from __future__ import annotations

import argparse
import contextlib
import http.cookiejar
import io
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
sys.path.insert(0, str(REPO))

from bench.media import media_root  # noqa: E402


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(predicate: Any, timeout: float, what: str, interval: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise SystemExit(f"timed out after {timeout:.0f} s waiting for {what}")


# ------------------------------------------------------------------------------------- the stack


class Platform:
    """The processes of one simulation run, started and stopped in order."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.root = root
        self.env = env
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def spawn(self, name: str, argv: list[str], **env: str) -> subprocess.Popen[bytes]:
        log = (self.root / f"{name}.log").open("ab")
        process = subprocess.Popen(
            argv,
            cwd=REPO,
            env={**self.env, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes[name] = process
        return process

    def stop(self) -> None:
        for name in reversed(list(self.processes)):
            process = self.processes[name]
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()


def _photos(bad_share: float) -> tuple[list[tuple[str, bytes]], list[tuple[str, bytes]]]:
    """Good photos (astronaut + ../shared/media photos when present) and photos without a face."""
    from PIL import Image
    from skimage import data

    def jpeg(rgb: Any) -> bytes:
        buffer = io.BytesIO()
        Image.fromarray(rgb).convert("RGB").save(buffer, format="JPEG", quality=90)
        return buffer.getvalue()

    good = [("astronaut.jpg", jpeg(data.astronaut()))]
    shared = media_root() / "photos"
    for name in ("obama_official_portrait.jpg", "business_woman.png", "man_curly_hair_glasses.jpg"):
        path = shared / name
        if path.exists():
            with Image.open(path) as image:
                image.thumbnail((1280, 1280))
                good.append((name, jpeg(__import__("numpy").asarray(image.convert("RGB")))))
    bad = [("coffee.jpg", jpeg(data.coffee())), ("rocket.jpg", jpeg(data.rocket()))] if bad_share > 0 else []
    return good, bad


def _seed(film_seconds: int, film_size: tuple[int, int]) -> Any:
    """A running campaign with one film variant per gender, ingested by the ingest worker."""
    import tempfile

    from django.core.files.base import ContentFile
    from django.db import transaction

    from campaign import demo
    from campaign.models import Campaign, Film, FilmVariant, Gender, PosterTemplate
    from campaign.services.films import poster_template_prepare_request, variant_ingest_request

    with tempfile.TemporaryDirectory() as tmp, transaction.atomic():
        campaign = Campaign.objects.create(
            slug="simulation", title="Simulation", max_wait_seconds=3600, max_queued_jobs=100_000
        )
        film = Film.objects.create(campaign=campaign, slug="astronaut", title="Star Lead")
        for gender in (Gender.FEMALE, Gender.MALE):
            mirrored = gender == Gender.MALE
            clip = demo.build_demo_film(
                Path(tmp) / f"{gender}.mp4", mirrored=mirrored, seconds=film_seconds, size=film_size
            )
            variant = FilmVariant(film=film, gender=gender)
            variant.template_video.save(f"sim-{gender}.mp4", ContentFile(clip.read_bytes()), save=False)
            variant.save()
            for index in range(5):
                poster = PosterTemplate(variant=variant, position=index + 1)
                poster.image.save(
                    f"sim-{gender}-{index + 1}.jpg",
                    ContentFile(demo.build_demo_poster(index, mirrored=mirrored)),
                    save=False,
                )
                poster.save()
                poster_template_prepare_request(poster=poster)
            variant_ingest_request(variant=variant)
    return campaign


def _campaign_ready() -> bool:
    from campaign.models import FilmVariant, IngestStatus, PosterTemplate

    failed = list(
        FilmVariant.objects.filter(ingest_status=IngestStatus.FAILED).values_list("ingest_error", flat=True)
    )
    failed += list(
        PosterTemplate.objects.filter(prepare_status=IngestStatus.FAILED).values_list(
            "prepare_error", flat=True
        )
    )
    if failed:
        raise SystemExit(f"template preparation failed: {failed}")
    return (
        FilmVariant.objects.exclude(ingest_status=IngestStatus.READY).count() == 0
        and PosterTemplate.objects.exclude(prepare_status=IngestStatus.READY).count() == 0
    )


# ------------------------------------------------------------------------------------- visitors


@dataclass
class Visit:
    """One simulated visitor: what it did and when (seconds since the run started)."""

    index: int
    photo: str
    expect_face: bool
    arrived: float = 0.0
    page_ms: float | None = None
    upload_ms: float | None = None
    refusals: list[str] = field(default_factory=list)
    job_id: str | None = None
    accepted_at: float | None = None
    started_at: float | None = None  # first event past "queued"
    first_poster_at: float | None = None
    posters_at: float | None = None  # all five
    finished_at: float | None = None
    final_state: str | None = None
    failure_code: str | None = None
    ws_events: int = 0
    ws_reconnects: int = 0
    fetch_ms: float | None = None
    fetched_bytes: int = 0
    error: str | None = None


def _multipart(fields: dict[str, str], photo_name: str, photo: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        )
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="photo"; filename="{photo_name}"\r\n'
        "Content-Type: image/jpeg\r\n\r\n".encode()
        + photo
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def run_visitor(visit: Visit, base: str, photo: bytes, t0: float, gender: str, timeout: float) -> None:
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    now = lambda: time.monotonic() - t0  # noqa: E731
    try:
        started = time.monotonic()
        with opener.open(f"{base}/", timeout=30) as response:
            response.read()
        visit.page_ms = (time.monotonic() - started) * 1000
        body, content_type = _multipart(
            {"gender": gender, "consent": "true", "age_confirmation": "self"}, visit.photo, photo
        )
        ticket: dict[str, Any] | None = None
        for _attempt in range(6):
            request = urllib.request.Request(
                f"{base}/api/jobs", data=body, headers={"Content-Type": content_type}, method="POST"
            )
            started = time.monotonic()
            try:
                with opener.open(request, timeout=60) as response:
                    ticket = json.loads(response.read())
                visit.upload_ms = (time.monotonic() - started) * 1000
                break
            except urllib.error.HTTPError as error:
                payload = json.loads(error.read() or b"{}")
                visit.refusals.append(f"{error.code}:{payload.get('code', '')}")
                if error.code not in (429, 503):
                    visit.final_state = "refused"
                    visit.failure_code = payload.get("code")
                    return
                time.sleep(float(error.headers.get("Retry-After", "5")))
        if ticket is None:
            visit.final_state = "refused"
            return
        visit.job_id = str(ticket["id"])
        visit.accepted_at = now()
        token = ticket["token"]
        deadline = time.monotonic() + timeout
        state = "queued"
        while state not in ("done", "failed") and time.monotonic() < deadline:
            try:
                with connect(ticket["ws_url"], origin=base, open_timeout=20) as ws:
                    ws.send(json.dumps({"type": "auth", "token": token}))
                    while time.monotonic() < deadline:
                        message = json.loads(ws.recv(timeout=30))
                        if message.get("type") == "pong" or "job" not in message:
                            continue
                        visit.ws_events += 1
                        job = message["job"]
                        state = job["state"]
                        if state != "queued" and visit.started_at is None:
                            visit.started_at = now()
                        posters = sum(1 for p in job.get("posters") or [] if p)
                        if posters and visit.first_poster_at is None:
                            visit.first_poster_at = now()
                        if posters == 5 and visit.posters_at is None:
                            visit.posters_at = now()
                        if state in ("done", "failed"):
                            visit.finished_at = now()
                            visit.failure_code = (job.get("failure") or {}).get("code")
                            break
            except (ConnectionClosed, TimeoutError, OSError):
                visit.ws_reconnects += 1  # like the page: reconnect, the snapshot catches up
                time.sleep(1)
        # The final result over plain HTTP, then every file.
        request = urllib.request.Request(
            f"{base}/api/jobs/{visit.job_id}", headers={"Authorization": f"Bearer {token}"}
        )
        started = time.monotonic()
        with opener.open(request, timeout=30) as response:
            status = json.loads(response.read())
        visit.final_state = status["state"]
        if status.get("failure"):
            visit.failure_code = status["failure"]["code"]
        urls = [p["url"] for p in status.get("posters") or [] if p]
        if status.get("video"):
            urls.append(status["video"]["url"])
        for url in urls:
            with opener.open(url if url.startswith("http") else f"{base}{url}", timeout=60) as response:
                visit.fetched_bytes += len(response.read())
        visit.fetch_ms = (time.monotonic() - started) * 1000
    except Exception as error:  # recorded, reported; a visitor's crash must not stop the run
        visit.error = f"{type(error).__name__}: {error}"


# ------------------------------------------------------------------------------------- sampling


def sampler(broker_url: str, t0: float, stop: threading.Event, samples: list[dict[str, Any]]) -> None:
    import redis
    from django.db import close_old_connections
    from django.db.models import Count

    from campaign.models import Job

    client = redis.Redis.from_url(broker_url)
    while not stop.wait(1.0):
        try:
            by_state = dict(
                Job.objects.values_list("state").annotate(n=Count("id")).values_list("state", "n")
            )
            samples.append(
                {
                    "t": round(time.monotonic() - t0, 2),
                    "cpu": int(client.llen("dramatiq:cpu")),
                    "gpu": int(client.llen("dramatiq:gpu")),
                    "states": by_state,
                }
            )
        except Exception as error:  # the broker is being restarted or the DB is busy: skip a sample
            samples.append({"t": round(time.monotonic() - t0, 2), "error": type(error).__name__})
        close_old_connections()


def _percentiles(values: list[float]) -> dict[str, float | int | None]:
    if not values:
        return {"n": 0, "p50": None, "p95": None, "p99": None, "max": None}
    ordered = sorted(values)

    def pick(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)

    return {
        "n": len(ordered),
        "p50": pick(0.5),
        "p95": pick(0.95),
        "p99": pick(0.99),
        "max": round(ordered[-1], 2),
    }


def _plot(
    path: Path, samples: list[dict[str, Any]], visits: list[Visit], stages: dict[str, list[float]]
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    good = [s for s in samples if "error" not in s]
    t = [s["t"] for s in good]
    fig, axes = plt.subplots(3, 1, figsize=(10, 11))
    axes[0].plot(t, [s["cpu"] for s in good], label="cpu queue (broker)")
    axes[0].plot(t, [s["gpu"] for s in good], label="gpu queue (broker)")
    for state in ("queued", "analyzing", "posters", "video"):
        axes[0].plot(t, [s["states"].get(state, 0) for s in good], linestyle="--", label=f"jobs {state} (db)")
    axes[0].set_title("Queue depth and active jobs over time")
    axes[0].set_xlabel("seconds")
    axes[0].legend(fontsize=8)
    accepted = sorted(v.accepted_at for v in visits if v.accepted_at is not None)
    done = sorted(v.finished_at for v in visits if v.finished_at is not None and v.final_state == "done")
    failed = sorted(v.finished_at for v in visits if v.finished_at is not None and v.final_state == "failed")
    for series, label in ((accepted, "accepted"), (done, "done"), (failed, "failed with reason")):
        axes[1].step(series, range(1, len(series) + 1), where="post", label=label)
    axes[1].set_title("Cumulative visitors")
    axes[1].set_xlabel("seconds")
    axes[1].legend(fontsize=8)
    names = [name for name, values in stages.items() if values]
    axes[2].boxplot([stages[name] for name in names], tick_labels=names, showfliers=True)
    axes[2].set_title("Latency per stage (seconds, client-observed)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


# ------------------------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--visitors", type=int, default=16)
    parser.add_argument("--rate", type=float, default=0.5, help="mean arrivals per second (Poisson)")
    parser.add_argument("--cpu-processes", type=int, default=2)
    parser.add_argument("--web-processes", type=int, default=2)
    parser.add_argument("--film-seconds", type=int, default=2)
    parser.add_argument("--film-size", default="270x480")
    parser.add_argument("--bad-photo-share", type=float, default=0.25)
    parser.add_argument("--kill-worker-at", type=float, default=None)
    parser.add_argument("--visitor-timeout", type=float, default=1200.0)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", default=str(REPO / "var" / "simulation"))
    args = parser.parse_args()
    random.seed(args.seed)
    out = Path(args.out)
    root = out / "stack"
    if root.exists():
        import shutil

        shutil.rmtree(root)
    root.mkdir(parents=True)
    width, height = (int(v) for v in args.film_size.split("x"))

    from cryptography.fernet import Fernet

    valkey_port, web_port = _free_port(), _free_port()
    broker_url = f"redis://127.0.0.1:{valkey_port}/0"
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "DJANGO_SETTINGS_MODULE": "campaign.settings",
        "DATABASE_URL": args.database_url or f"sqlite:///{root / 'db.sqlite3'}",
        "BROKER_URL": broker_url,
        "CHANNEL_REDIS_URL": broker_url,
        "EMBEDDED_VALKEY_PORT": str(valkey_port),
        "PROTAGONIST_VAR": str(root / "var"),
        "MEDIA_ROOT": str(root / "media"),
        "LOCAL_CACHE_DIR": str(root / "cache"),
        "PROTAGONIST_MASTER_KEYS": Fernet.generate_key().decode(),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "LOG_FORMAT": "json",
        "LEASE_TTL_S": "15",
        "RECONCILE_INTERVAL_S": "2",
        "CPU_WORKER_SLOTS": str(args.cpu_processes),
        "OMP_NUM_THREADS": "1",
    }
    os.environ.update(env)
    platform = Platform(root, env)
    try:
        platform.spawn("valkey", [sys.executable, "manage.py", "valkey", "--port", str(valkey_port)])
        import django

        django.setup()
        import redis

        _wait(lambda: _ping(redis, broker_url), 30, "valkey")
        from django.core.management import call_command

        call_command("migrate", "--noinput", verbosity=0)
        print(f"stack: valkey, migrated; starting web x{args.web_processes}, workers, reconciler", flush=True)
        platform.spawn(
            "web",
            [str(BIN / "uvicorn"), "campaign.asgi:application", "--host", "127.0.0.1", "--port", str(web_port),
             "--workers", str(args.web_processes), "--ws", "websockets-sansio", "--no-access-log"],
        )  # fmt: skip
        cpu_command = [sys.executable, "-m", "workers.watchdog", "--restart-delay", "1", "--",
                       str(BIN / "dramatiq"), "workers.actors", "--queues", "cpu",
                       "--processes", str(args.cpu_processes), "--threads", "1"]  # fmt: skip
        platform.spawn("worker-cpu", cpu_command, dramatiq_queue_prefetch="1")
        platform.spawn(
            "worker-gpu",
            [sys.executable, "-m", "workers.watchdog", "--", str(BIN / "dramatiq"), "workers.actors",
             "--queues", "gpu", "--processes", "1", "--threads", "1"],
            dramatiq_queue_prefetch="1",
        )  # fmt: skip
        platform.spawn(
            "worker-ingest",
            [sys.executable, "-m", "workers.watchdog", "--", str(BIN / "dramatiq"), "workers.actors",
             "--queues", "ingest", "--processes", "1", "--threads", "1"],
            dramatiq_queue_prefetch="1",
        )  # fmt: skip
        platform.spawn("reconciler", [sys.executable, "manage.py", "reconcile"])
        base = f"http://127.0.0.1:{web_port}"
        _wait(lambda: _http_ok(f"{base}/livez"), 90, "the web processes")
        seeded_at = time.monotonic()
        _seed(args.film_seconds, (width, height))
        _wait(_campaign_ready, 900, "film ingest and poster preparation")
        print(f"campaign ready in {time.monotonic() - seeded_at:.0f} s (ingest + 10 posters)", flush=True)

        good, bad = _photos(args.bad_photo_share)
        visits: list[Visit] = []
        threads: list[threading.Thread] = []
        samples: list[dict[str, Any]] = []
        stop = threading.Event()
        t0 = time.monotonic()
        sampling = threading.Thread(target=sampler, args=(broker_url, t0, stop, samples), daemon=True)
        sampling.start()
        killer = None
        if args.kill_worker_at is not None:
            supervisor_pid = platform.processes["worker-cpu"].pid
            killer = threading.Thread(
                target=_kill_worker, args=(supervisor_pid, args.kill_worker_at), daemon=True
            )
            killer.start()
        arrival = 0.0
        for index in range(args.visitors):
            is_bad = bool(bad) and random.random() < args.bad_photo_share
            name, photo = random.choice(bad if is_bad else good)
            visit = Visit(index=index, photo=name, expect_face=not is_bad)
            arrival += random.expovariate(args.rate) if index else 0.0
            delay = arrival - (time.monotonic() - t0)
            if delay > 0:
                time.sleep(delay)
            visit.arrived = time.monotonic() - t0
            visits.append(visit)
            gender = random.choice(["female", "male"])
            thread = threading.Thread(
                target=run_visitor, args=(visit, base, photo, t0, gender, args.visitor_timeout), daemon=True
            )
            thread.start()
            threads.append(thread)
        for thread in threads:
            thread.join(timeout=args.visitor_timeout + 120)
        elapsed = time.monotonic() - t0
        stop.set()
        sampling.join(timeout=5)
        report = _report(args, visits, samples, elapsed, root)
    finally:
        platform.stop()
    out.mkdir(parents=True, exist_ok=True)
    stages = report.pop("_stages")
    (out / "report.json").write_text(json.dumps({**report, "visits": [asdict(v) for v in visits],
                                                 "samples": samples}, indent=1))  # fmt: skip
    _plot(out / "simulation.png", samples, visits, stages)
    (out / "report.md").write_text(_markdown(report, out / "simulation.png"))
    print((out / "report.md").read_text())
    return 0 if report["check"]["lost"] == 0 else 1


def _ping(redis: Any, url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_timeout=0.5).ping())
    except redis.RedisError:
        return False


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _kill_worker(supervisor_pid: int, at: float) -> None:
    """SIGKILL the cpu worker's whole dramatiq process group (the supervisor we started stays and
    restarts it; the reconciler re-enqueues what it was running)."""
    time.sleep(at)
    children = Path(f"/proc/{supervisor_pid}/task/{supervisor_pid}/children").read_text().split()
    for pid in children:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(int(pid), signal.SIGKILL)  # the worker runs in its own session/group
    print(f"fault: SIGKILLed the cpu worker ({' '.join(children)}) at t={at:.0f} s", flush=True)


def _report(
    args: Any, visits: list[Visit], samples: list[dict[str, Any]], elapsed: float, root: Path
) -> dict[str, Any]:
    from campaign.models import Job

    accepted = [v for v in visits if v.job_id]
    rows = {str(j.id): j for j in Job.objects.filter(pk__in=[v.job_id for v in accepted])}
    done = [v for v in accepted if rows[v.job_id].state == "done"]
    failed_with_reason = [
        v for v in accepted if rows[v.job_id].state == "failed" and rows[v.job_id].failure_code
    ]
    lost = [v.job_id for v in accepted if v not in done and v not in failed_with_reason]
    unexpected_failures = [v.job_id for v in failed_with_reason if v.expect_face]
    finished = [v.finished_at for v in done if v.finished_at is not None]
    first_accept = min((v.accepted_at for v in accepted if v.accepted_at is not None), default=0.0)
    span = (max(finished) - first_accept) if finished else 0.0
    stages = {
        "wait (accept->start)": [
            v.started_at - v.accepted_at for v in accepted if v.started_at and v.accepted_at
        ],
        "first poster": [
            v.first_poster_at - v.accepted_at for v in done if v.first_poster_at and v.accepted_at
        ],
        "five posters": [v.posters_at - v.accepted_at for v in done if v.posters_at and v.accepted_at],
        "film (done)": [v.finished_at - v.accepted_at for v in done if v.finished_at and v.accepted_at],
    }
    server = {"analyze": [], "posters": [], "video": [], "wait": []}  # type: dict[str, list[float]]
    for job in rows.values():
        for stage, seconds in job.stage_seconds.items():
            if seconds is not None:
                server[stage].append(seconds)
    depth = [s for s in samples if "error" not in s]
    return {
        "config": {k: v for k, v in vars(args).items()},
        "elapsed_s": round(elapsed, 1),
        "visitors": len(visits),
        "accepted": len(accepted),
        "refused": sum(1 for v in visits if v.final_state == "refused"),
        "retried_after_busy": sum(1 for v in visits if v.refusals),
        "completed": len(done),
        "failed_with_reason": len(failed_with_reason),
        "failure_codes": sorted({rows[v.job_id].failure_code for v in failed_with_reason}),
        "unexpected_failures": unexpected_failures,
        "visitor_errors": [v.error for v in visits if v.error],
        "check": {
            "lost": len(lost),
            "lost_ids": lost,
            "equation": f"{len(accepted)} accepted = {len(done)} completed + "
            f"{len(failed_with_reason)} failed with reason + {len(lost)} lost",
        },
        "throughput_jobs_per_min": round(len(done) / span * 60, 2) if span > 0 else None,
        "arrival_rate_per_min": round(args.rate * 60, 2),
        "latency_ms": {
            "page load": _percentiles([v.page_ms for v in visits if v.page_ms is not None]),
            "upload (POST /api/jobs)": _percentiles([v.upload_ms for v in visits if v.upload_ms is not None]),
            "result fetch (status + files)": _percentiles(
                [v.fetch_ms for v in visits if v.fetch_ms is not None]
            ),
        },
        "latency_s": {name: _percentiles(values) for name, values in stages.items()},
        "server_stage_s": {name: _percentiles(values) for name, values in server.items()},
        "queue_depth_max": {
            "cpu": max((s["cpu"] for s in depth), default=0),
            "gpu": max((s["gpu"] for s in depth), default=0),
        },
        "websocket": {
            "events": sum(v.ws_events for v in visits),
            "reconnects": sum(v.ws_reconnects for v in visits),
        },
        "recoveries": sum(j.recoveries for j in rows.values()),
        "_stages": stages,
    }


def _markdown(report: dict[str, Any], plot: Path) -> str:
    config = report["config"]
    lines = [
        "# Traffic simulation report",
        "",
        f"{report['visitors']} visitors, Poisson arrivals at {config['rate']}/s, web x{config['web_processes']}, "
        f"cpu worker x{config['cpu_processes']} processes, gpu worker x1 (CPU rendering), film "
        f"{config['film_seconds']} s at {config['film_size']}, bad-photo share {config['bad_photo_share']}"
        + (
            f", cpu worker SIGKILLed at {config['kill_worker_at']} s"
            if config["kill_worker_at"] is not None
            else ""
        )
        + f"; run took {report['elapsed_s']} s.",
        "",
        f"**{report['check']['equation']}** (lost must be 0).  ",
        f"Throughput {report['throughput_jobs_per_min']} completed jobs/min (arrivals {report['arrival_rate_per_min']}/min); "
        f"max queue depth cpu {report['queue_depth_max']['cpu']}, gpu {report['queue_depth_max']['gpu']}; "
        f"failure codes {report['failure_codes']}; reconciler recoveries {report['recoveries']}; "
        f"websocket events {report['websocket']['events']}, reconnects {report['websocket']['reconnects']}.",
        "",
        "| stage | n | p50 | p95 | p99 | max |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, values in report["latency_ms"].items():
        lines.append(
            f"| {name} (ms) | {values['n']} | {values['p50']} | {values['p95']} | {values['p99']} | {values['max']} |"
        )
    for name, values in report["latency_s"].items():
        lines.append(
            f"| {name} (s after upload) | {values['n']} | {values['p50']} | {values['p95']} | {values['p99']} | {values['max']} |"
        )
    for name, values in report["server_stage_s"].items():
        lines.append(
            f"| server {name} (s) | {values['n']} | {values['p50']} | {values['p95']} | {values['p99']} | {values['max']} |"
        )
    if report["visitor_errors"] or report["unexpected_failures"]:
        lines += [
            "",
            f"Visitor errors: {report['visitor_errors']}",
            f"Unexpected failures: {report['unexpected_failures']}",
        ]
    lines += ["", f"Plot: `{plot}`", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
