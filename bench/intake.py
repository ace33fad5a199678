"""Intake under a burst: the real ASGI server, real JPEG uploads, then proof that nothing was lost.

    .venv/bin/python bench/intake.py [--seconds 12] [--connections 64] [--web-workers 2]

What it does, in a fresh temp dir (nothing of var/ is touched):
1. starts the embedded Valkey broker (`manage.py valkey`), migrates a fresh SQLite database and seeds a
   campaign with one ready film variant whose promise (max wait, max queued) admits the whole burst;
2. measures the cost of each intake step in-process (sanitise, encrypt, store, insert, enqueue), so a
   shortfall says where the time goes;
3. starts uvicorn (`campaign.asgi:application`, uvloop + httptools) on loopback and measures a
   baseline: a request the same stack answers without work (`GET` of an unknown path: middleware,
   URL resolution, a 404), the floor of what any Django request costs here;
4. fires `POST /api/jobs` with real phone-sized JPEGs (multipart, gender, consent, device cookie) from
   `--connections` keep-alive clients for `--seconds`, recording latency and status of each;
5. prints accepted jobs/s, p50/p99 latency, refusals by code, the ratio to the baseline, then stops the
   server and verifies every accepted job id is a row in the database AND a message in the broker's
   `cpu` queue (lost = 0). No workers run during the burst, so every message must still be queued.

The load generator is a minimal asyncio HTTP/1.1 client (pre-built request bytes, no parsing beyond
the status line and Content-Length) so that the 2-core machine's CPU goes to the server, not the client.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.media import media_root  # noqa: E402

LOAD_BEFORE = ""
SHARED_PHOTOS = media_root() / "photos"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout_s} s")


def bench_photos() -> list[bytes]:
    """Real JPEGs of the size a phone page uploads (the shared sample photos when present)."""
    photos = []
    for name in (
        "man_curly_hair_glasses.jpg",
        "woman_shouting_yellow_wall.jpg",
        "teen_girl_black_fairface.jpg",
    ):
        path = SHARED_PHOTOS / name
        if path.exists():
            photos.append(path.read_bytes())
    if not photos:
        from PIL import Image
        from skimage import data

        buffer = io.BytesIO()
        Image.fromarray(data.astronaut()).save(buffer, "JPEG", quality=90)
        photos.append(buffer.getvalue())
    return photos


def multipart_request(photo: bytes, port: int, device: str) -> bytes:
    boundary = "----protagonistbench" + uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="gender"\r\n\r\nfemale\r\n'.encode(),
        f'--{boundary}\r\nContent-Disposition: form-data; name="consent"\r\n\r\ntrue\r\n'.encode(),
        f'--{boundary}\r\nContent-Disposition: form-data; name="age_confirmation"\r\n\r\nself\r\n'.encode(),
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="photo"; filename="me.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + photo
        + b"\r\n",
        f"--{boundary}--\r\n".encode(),
    ]
    body = b"".join(parts)
    head = (
        f"POST /api/jobs HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {len(body)}\r\n"
        f"Cookie: pg_device={device}\r\nConnection: keep-alive\r\n\r\n"
    ).encode()
    return head + body


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers, body


async def client_loop(
    port: int, requests: list[bytes], stop_at: float, results: list[tuple[float, int, bytes]]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    index = 0
    try:
        while time.perf_counter() < stop_at:
            request = requests[index % len(requests)]
            index += 1
            started = time.perf_counter()
            writer.write(request)
            status, headers, body = await read_response(reader)
            results.append((time.perf_counter() - started, status, body))
            if headers.get("connection", "").lower() == "close":
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
    finally:
        writer.close()


async def burst(
    port: int, requests: list[list[bytes]], seconds: float
) -> tuple[list[tuple[float, int, bytes]], float]:
    results: list[tuple[float, int, bytes]] = []
    started = time.perf_counter()
    stop_at = started + seconds
    await asyncio.gather(*(client_loop(port, per_client, stop_at, results) for per_client in requests))
    return results, time.perf_counter() - started


def process_tree_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process and its children (uvicorn's workers), from /proc."""
    total = 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
            for task in Path(f"/proc/{current}/task").iterdir():
                children = (task / "children").read_text().split()
                pending.extend(int(child) for child in children)
        except (OSError, IndexError, ValueError):
            continue
    return total


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def step_costs(photo: bytes, repeats: int = 200) -> dict[str, float]:
    """Milliseconds per call of each synchronous intake step, measured in this process."""
    from django.db import transaction

    from campaign.intake.uploads import sanitize_upload
    from campaign.models import Campaign, Job
    from campaign.privacy.envelope import encrypt
    from campaign.services.storage import blob_delete, blob_put
    from campaign.services.tokens import token_new

    campaign = Campaign.objects.get(slug="bench")
    variant = campaign.films.first().variants.first()
    clean = sanitize_upload(photo).jpeg_bytes
    blob = encrypt(clean, b"k")

    def timed(action) -> float:  # type: ignore[no-untyped-def]
        # CPU time of this thread: stable while other processes load the machine (waits such as an
        # fsync do not count here; the burst below shows them).
        started = time.thread_time()
        for n in range(repeats):
            action(n)
        return (time.thread_time() - started) / repeats * 1000

    ids = [uuid.uuid4() for _ in range(repeats)]
    costs = {
        "sanitize (decode-verify + strip)": timed(lambda n: sanitize_upload(photo)),
        "encrypt (AES-GCM + key wrap)": timed(lambda n: encrypt(clean, b"jobs/x/photo.jpg")),
        "store (local file)": timed(lambda n: blob_put(key=f"bench/{ids[n]}.bin", data=blob)),
        "token (random + sha256)": timed(lambda n: token_new()),
    }

    def insert(n: int) -> None:
        with transaction.atomic():
            Job.objects.create(
                id=ids[n], token_hash="0" * 64, campaign=campaign, variant=variant, gender="female"
            )

    costs["insert Job row (database commit)"] = timed(insert)

    import dramatiq

    from campaign.intake.ratelimit import get_rate_limiter
    from workers import actors  # noqa: F401 - configures the broker as the web process does

    limiter = get_rate_limiter()
    costs["rate limit (one Lua call to Valkey)"] = timed(
        lambda n: limiter.check(ip="127.0.0.1", device_id="bench-device-steps-0001")
    )
    broker = dramatiq.get_broker()
    broker.declare_queue("benchsteps")
    costs["enqueue (Dramatiq message to Valkey)"] = timed(
        lambda n: broker.enqueue(
            dramatiq.Message(
                queue_name="benchsteps", actor_name="analyze_job", args=(str(ids[n]),), kwargs={}, options={}
            )
        )
    )
    broker.flush("benchsteps")
    Job.objects.filter(id__in=ids).delete()

    # The whole view as served: the one-hop API handler (campaign.asgi_api) on a pre-built request,
    # i.e. Django's middleware, DRF, the services and the database, without the HTTP server.
    from campaign import asgi_api

    handler = asgi_api.OneHopASGIHandler()
    asgi_api._mark_pool_thread()  # keep this thread's connection like a pool thread does
    raw = multipart_request(photo, 80, "bench-device-inprocess-0001")
    head, body = raw.split(b"\r\n\r\n", 1)
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": "/api/jobs", "raw_path": b"/api/jobs", "root_path": "",
        "query_string": b"", "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80),
        "headers": [
            (name.strip().lower().encode(), value.strip().encode())
            for name, value in (line.split(":", 1) for line in head.decode().split("\r\n")[1:])
        ],
    }  # fmt: skip

    def post(n: int) -> None:
        response = handler._respond(scope, io.BytesIO(body))
        assert response.status_code == 202, response.content

    whole = timed(post)
    costs["= whole POST /api/jobs in-process (no ASGI/HTTP)"] = whole
    Job.objects.all().delete()
    for job_id in ids:
        blob_delete(key=f"bench/{job_id}.bin")
    return costs


def seed(campaign_wait_s: int) -> None:
    from django.core.management import call_command

    from campaign.models import Campaign, Film, FilmVariant, IngestStatus, PosterTemplate

    call_command("migrate", verbosity=0, interactive=False)
    campaign = Campaign.objects.create(
        slug="bench", title="Bench", max_wait_seconds=campaign_wait_s, max_queued_jobs=10_000_000
    )
    film = Film.objects.create(campaign=campaign, slug="film", title="Film")
    variant = FilmVariant.objects.create(
        film=film, gender="female", template_video="films/bench.mp4", ingest_status=IngestStatus.READY
    )
    for position in range(1, 6):
        PosterTemplate.objects.create(
            variant=variant,
            position=position,
            image=f"posters/{position}.jpg",
            prepared=f"posters/{position}.prepared",
            prepare_status=IngestStatus.READY,
        )


def broker_job_ids(broker_port: int) -> set[str]:
    import redis

    client = redis.Redis(host="127.0.0.1", port=broker_port)
    ids: set[str] = set()
    for _, raw in client.hscan_iter("dramatiq:cpu.msgs", count=5000):
        message = json.loads(raw)
        if message.get("actor_name") == "analyze_job":
            ids.add(str(message["args"][0]))
    return ids


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=12.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--baseline-seconds", type=float, default=4.0)
    parser.add_argument(
        "--sqlite-synchronous",
        choices=["", "FULL", "NORMAL"],
        default="",
        help="SQLite's synchronous pragma (SQLITE_SYNCHRONOUS; default: the settings' own, NORMAL)",
    )
    parser.add_argument(
        "--interface",
        choices=["asgi", "wsgi"],
        default="asgi",
        help="asgi: campaign.asgi (what scripts/run serves); wsgi: the same Django app via uvicorn's WSGI "
        "thread pool, to measure what Django's per-middleware sync_to_async hops cost under ASGI",
    )
    parser.add_argument(
        "--database-url", default="", help="e.g. postgres://... (default: a fresh SQLite file)"
    )
    args = parser.parse_args()

    global LOAD_BEFORE
    LOAD_BEFORE = " ".join(f"{value:.1f}" for value in os.getloadavg())
    workdir = Path(tempfile.mkdtemp(prefix="protagonist-intake-bench-"))
    broker_port, web_port = free_port(), free_port()
    env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'bench'}",
        "DJANGO_SETTINGS_MODULE": "intake_settings",
        "PROTAGONIST_VAR": str(workdir),
        "EMBEDDED_VALKEY_PORT": str(broker_port),
        "BROKER_URL": f"redis://127.0.0.1:{broker_port}/0",
        "PROTAGONIST_MASTER_KEYS": "",
        "LOG_LEVEL": "ERROR",
        "DEBUG": "false",
    }
    if args.database_url:
        env["DATABASE_URL"] = args.database_url
    if args.sqlite_synchronous:
        env["SQLITE_SYNCHRONOUS"] = args.sqlite_synchronous
    from cryptography.fernet import Fernet

    env["PROTAGONIST_MASTER_KEYS"] = Fernet.generate_key().decode()
    os.environ.update(env)
    sys.path[:0] = [str(ROOT), str(ROOT / "bench")]
    processes: list[subprocess.Popen[bytes]] = []
    python = sys.executable
    try:
        processes.append(
            subprocess.Popen(
                [python, "manage.py", "valkey", "--port", str(broker_port), "--dir", str(workdir / "valkey")],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        wait_for_port(broker_port)
        import django

        django.setup()
        seed(campaign_wait_s=10**9)
        photos = bench_photos()
        print(
            f"photos: {len(photos)} JPEGs, {min(map(len, photos)) // 1024}-{max(map(len, photos)) // 1024} KB"
        )
        print("intake step costs in-process (CPU ms per call):")
        costs = step_costs(photos[0])
        whole = costs.pop("= whole POST /api/jobs in-process (no ASGI/HTTP)")
        for step, ms in costs.items():
            print(f"  {step:<48} {ms:7.3f}")
        print(f"  {'sum of these steps':<48} {sum(costs.values()):7.3f}")
        print(f"  {'whole POST /api/jobs in-process (no ASGI/HTTP)':<48} {whole:7.3f}")
        print(f"  {'  of which Django/DRF/ORM around the steps':<48} {whole - sum(costs.values()):7.3f}")

        web = subprocess.Popen(
            [
                python, "-m", "uvicorn",
                "campaign.asgi:application" if args.interface == "asgi" else "intake_wsgi:application",
                "--interface", "asgi3" if args.interface == "asgi" else "wsgi",
                "--host", "127.0.0.1", "--port", str(web_port),
                "--workers", str(args.web_workers), "--loop", "uvloop", "--http", "httptools",
                "--no-access-log", "--log-level", "warning",
            ],
            cwd=ROOT,
            env=env,
        )  # fmt: skip
        processes.append(web)
        wait_for_port(web_port)
        time.sleep(1.5)  # all workers up

        health = f"GET /bench-baseline-404 HTTP/1.1\r\nHost: 127.0.0.1:{web_port}\r\nConnection: keep-alive\r\n\r\n".encode()
        base_results, base_elapsed = asyncio.run(
            burst(web_port, [[health]] * args.connections, args.baseline_seconds)
        )
        base_ok = sum(1 for _, status, _ in base_results if status == 404)
        base_rate = base_ok / base_elapsed

        requests = [
            [
                multipart_request(photos[(c + n) % len(photos)], web_port, f"bench-device-{c:08d}-{n}")
                for n in range(4)
            ]
            for c in range(args.connections)
        ]
        asyncio.run(burst(web_port, requests[:4], 1.0))  # warm-up: imports, connections, caches
        server_cpu_before, client_cpu_before = process_tree_cpu_s(web.pid), time.process_time()
        broker_cpu_before = process_tree_cpu_s(processes[0].pid)
        results, elapsed = asyncio.run(burst(web_port, requests, args.seconds))
        server_cpu = process_tree_cpu_s(web.pid) - server_cpu_before
        broker_cpu = process_tree_cpu_s(processes[0].pid) - broker_cpu_before
        client_cpu = time.process_time() - client_cpu_before
    finally:
        for process in reversed(processes[1:]):
            process.terminate()
        for process in reversed(processes[1:]):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()

    try:
        accepted = [json.loads(body)["id"] for _, status, body in results if status == 202]
        refusals = Counter(
            f"{status} {json.loads(body).get('code', '?') if body.startswith(b'{') else '?'}"
            for _, status, body in results
            if status != 202
        )
        latencies = [latency for latency, _, _ in results]
        accepted_rate = len(accepted) / elapsed

        from campaign.models import Job

        in_db: set[str] = set()
        for start in range(0, len(accepted), 500):
            chunk = accepted[start : start + 500]
            in_db |= {str(job_id) for job_id in Job.objects.filter(id__in=chunk).values_list("id", flat=True)}
        in_broker = broker_job_ids(broker_port)
        lost = [job_id for job_id in accepted if job_id not in in_db or job_id not in in_broker]

        print()
        from django.db import connection

        sqlite_label = f" synchronous={args.sqlite_synchronous or 'NORMAL (settings default)'}"
        print(
            f"server: uvicorn ({args.interface}) x{args.web_workers} workers, {os.cpu_count()} CPU cores shared with this client, "
            f"database {connection.vendor}{sqlite_label if connection.vendor == 'sqlite' else ''}, "
            f"load average before the run {LOAD_BEFORE}"
        )
        print(f"baseline GET (404, no work): {base_rate:8.0f} req/s ({base_ok} in {base_elapsed:.1f} s)")
        print(f"burst: {len(results)} POST /api/jobs from {args.connections} connections in {elapsed:.1f} s")
        print(
            f"accepted: {len(accepted)} = {accepted_rate:.0f} jobs/s  (ratio to baseline: {accepted_rate / base_rate:.2f})"
        )
        print(
            f"latency: p50 {percentile(latencies, 0.5) * 1000:.0f} ms, p99 {percentile(latencies, 0.99) * 1000:.0f} ms, "
            f"max {max(latencies) * 1000:.0f} ms, mean {statistics.fmean(latencies) * 1000:.0f} ms"
        )
        server_ms = server_cpu * 1000 / max(1, len(results))
        print(
            f"CPU per request: server {server_ms:.2f} ms, client {client_cpu * 1000 / max(1, len(results)):.2f} ms "
            f"(load-independent; 2 idle cores would serve ~{2000 / server_ms:.0f} requests/s)"
        )
        broker_ms = broker_cpu * 1000 / max(1, len(results))
        print(
            f"Valkey (rate limit + broker) CPU per request: {broker_ms:.2f} ms; cores needed for 1,000 "
            f"jobs/s at these costs: {server_ms + broker_ms:.1f} (web + Valkey, without the load generator)"
        )
        print(f"refused: {sum(refusals.values())} {dict(refusals) if refusals else ''}")
        print(
            f"verified: {len(in_db & set(accepted))} in database, {len(in_broker & set(accepted))} in broker queue"
        )
        print(f"lost: {len(lost)}")
        target = accepted_rate >= 1000 and percentile(latencies, 0.99) < 1.0
        print(f"target (>= 1000 accepted jobs/s, p99 < 1 s): {'met' if target else 'NOT met'}")
        return 0 if not lost else 1
    finally:
        processes[0].terminate()
        processes[0].wait(timeout=20)


if __name__ == "__main__":
    sys.exit(main())
