"""The browser suite: the H5 page (and the editors' admin) in Debian's Chromium through Playwright at phone
viewports. Every test skips when Chromium or Playwright is missing (`chromium_path`).

Two stacks:
- `h5_stack` (test_h5_page.py): uvicorn (HTTP + websockets), one Dramatiq worker, embedded Valkey and a
  SQLite file as separate processes like `scripts/run`, so the page talks to the same ASGI app, channel
  layer and workers it meets in production; the test process reads and writes the same database through
  the ORM.
- `in_process_platform` (test_h5_in_process.py): the platform of tests/campaign in this process (StubBroker,
  in-memory channel layer, media in a temp dir); the test runs uvicorn and the workers in threads.
  Importing tests.campaign.conftest below chooses the StubBroker for this process, as it does in any run
  that collects tests/campaign; `h5_stack` points the services and actors at its own Valkey.

Screenshots (`screenshot`) go to docs/screenshots with `PROTAGONIST_SCREENSHOTS=1`, else to a temp folder.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.campaign.conftest import isolate_platform
from tests.conftest import free_port
from tests.faults.conftest import Valkey, stack_database, wait_for

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
BIN = Path(PYTHON).parent
CHROMIUM = Path(os.environ.get("PROTAGONIST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
# Screenshots for the README are refreshed only on request (`PROTAGONIST_SCREENSHOTS=1`), so that an
# ordinary test run leaves the checkout clean; otherwise they go to a temporary folder.
SCREENSHOTS = (
    REPO / "docs" / "screenshots"
    if os.environ.get("PROTAGONIST_SCREENSHOTS")
    else Path(tempfile.gettempdir()) / "protagonist-screenshots"
)

# Phone user agents: WeChat's in-app browser on Android (X5/XWEB kernel) and plain Chrome on Android.
WECHAT_UA = (
    "Mozilla/5.0 (Linux; Android 13; M2102J2SC Build/TKQ1.221114.001; wv) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/116.0.0.0 Mobile Safari/537.36 XWEB/1160065 "
    "MMWEBSDK/20231202 MMWEBID/2247 MicroMessenger/8.0.47.2560(0x28002F35) WeChat/arm64 Weixin "
    "NetType/WIFI Language/zh_CN ABI/arm64"
)
PLAIN_UA = (
    "Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Mobile Safari/537.36"
)
PHONE = {"width": 360, "height": 640}


@dataclass
class H5Stack:
    root: Path
    env: dict[str, str]
    port: int
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        log = (self.root / f"{name}.log").open("ab")
        process = subprocess.Popen(
            argv, cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.processes[name] = process
        return process

    def log(self, name: str) -> str:
        return (self.root / f"{name}.log").read_text(errors="replace")[-4000:]

    def start_web(self) -> None:
        """uvicorn as scripts/run starts it; ready when the page answers."""
        import urllib.request

        process = self._spawn(
            "web",
            [PYTHON, "-m", "uvicorn", "campaign.asgi:application", "--host", "127.0.0.1",
             "--port", str(self.port), "--ws", "websockets-sansio", "--no-access-log"],
        )  # fmt: skip

        def up() -> bool:
            assert process.poll() is None, self.log("web")
            try:
                with urllib.request.urlopen(self.url + "livez", timeout=1) as response:
                    return bool(response.status == 200)
            except OSError:
                return False

        wait_for(up, timeout=60, interval=0.2, what="uvicorn to answer")

    def stop_web(self) -> None:
        self.stop("web", signal.SIGKILL)  # a crash, not a graceful close: sockets just drop

    def start_worker(self) -> None:
        process = self._spawn(
            "worker",
            [str(BIN / "dramatiq"), "workers.actors", "--processes", "1", "--threads", "1",
             "--queues", "cpu", "gpu", "ingest"],
        )  # fmt: skip
        wait_for(
            lambda: (
                b"ready for action" in (self.root / "worker.log").read_bytes() or process.poll() is not None
            ),
            timeout=120,
            interval=0.2,
            what="the worker to start",
        )
        assert process.poll() is None, self.log("worker")

    def stop(self, name: str, sig: int = signal.SIGTERM) -> None:
        process = self.processes.pop(name, None)
        if process is None or process.poll() is not None:
            return
        try:
            os.killpg(process.pid, sig)
            process.wait(timeout=20)
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def _demo_campaign(stack: H5Stack) -> Any:
    """A campaign with one film (female variant) and five posters, ingested by the real worker."""
    from django.db import transaction

    from campaign import demo
    from campaign.models import Campaign, Film
    from tests.campaign.conftest import demo_variant

    film_file = demo.build_demo_film(stack.root / "short.mp4", seconds=2, size=(216, 384))
    with transaction.atomic():
        campaign = Campaign.objects.create(
            slug="h5",
            title="成为主角",
            title_en="Be the protagonist",
            description="上传一张照片，生成你的电影海报和短片。",
            description_en="Upload one photo and get your own film posters and clip.",
            share_url=stack.url,
        )
        film = Film.objects.create(campaign=campaign, slug="demo", title="演示", title_en="Demo")
        demo_variant(film, film_file, overlays=False)  # prepared and ingested by the stack's workers
    return campaign


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    if not CHROMIUM.exists():
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt install chromium)")
    pytest.importorskip("playwright.sync_api")
    return CHROMIUM


@pytest.fixture
def in_process_platform(settings: Any, tmp_path: Path) -> None:
    """The isolation tests/campaign gives every test (temp media, in-memory channel layer), for the
    in-process suite only: `h5_stack`'s tests share its media folder with the processes."""
    isolate_platform(settings, tmp_path)


@pytest.fixture(scope="module")
def h5_stack(
    chromium_path: Path, tmp_path_factory: pytest.TempPathFactory, django_db_blocker: Any
) -> Iterator[H5Stack]:
    """Valkey + SQLite file + worker + uvicorn, and a campaign whose film and posters are ready."""
    from cryptography.fernet import Fernet
    from django.test.utils import override_settings

    root = tmp_path_factory.mktemp("h5")
    valkey = Valkey(root / "valkey", free_port())
    valkey.start(appendonly=False)
    database_url = f"sqlite:///{root / 'db.sqlite3'}"
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "DJANGO_SETTINGS_MODULE": "campaign.settings",
        "DATABASE_URL": database_url,
        "BROKER_URL": valkey.url,
        "CHANNEL_REDIS_URL": valkey.url,
        "PROTAGONIST_VAR": str(root / "var"),
        "MEDIA_ROOT": str(root / "media"),
        "LOCAL_CACHE_DIR": str(root / "cache"),
        "PROTAGONIST_MASTER_KEYS": Fernet.generate_key().decode(),
        "RATELIMIT_ENABLED": "false",
        # intake memoises the campaign per process; the tests change its policy and need it seen at once
        "ADMISSION_SNAPSHOT_TTL_S": "0",
        "PROGRESS_MIN_INTERVAL_S": "0.2",
        "LOG_LEVEL": "WARNING",
    }
    subprocess.run(
        [PYTHON, "manage.py", "migrate", "--noinput", "-v0"], cwd=REPO, env=env, check=True, timeout=180
    )
    stack = H5Stack(root=root, env=env, port=free_port())

    overrides = override_settings(
        STORAGES={
            "default": {
                "BACKEND": "django.core.files.storage.FileSystemStorage",
                "OPTIONS": {"location": str(root / "media"), "allow_overwrite": True},
            },
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        },
        MEDIA_ROOT=str(root / "media"),
        BROKER_URL=valkey.url,
    )
    with django_db_blocker.unblock(), overrides, stack_database(database_url):
        try:
            _demo_campaign_via_broker(stack, valkey.url)
            stack.start_worker()
            stack.start_web()
            _wait_until_ready()
            yield stack
        finally:
            for name in list(stack.processes):
                stack.stop(name, signal.SIGKILL)  # throwaway stack: no graceful drain (saves ~20 s)
            valkey.stop()


def _demo_campaign_via_broker(stack: H5Stack, broker_url: str) -> None:
    """Create the campaign; its ingest/prepare messages go to the stack's Valkey (sent on commit)."""
    import campaign.broker
    from campaign.broker import broker_from_url
    from workers import actors

    redis_broker = broker_from_url(broker_url)
    names = ("ingest_variant", "prepare_poster", "analyze_job", "render_posters", "render_video")
    previous = {name: getattr(actors, name).broker for name in names}
    previous_services_broker = campaign.broker.broker
    campaign.broker.broker = redis_broker  # where services send (campaign.services.dispatch)
    for name in names:
        getattr(actors, name).broker = redis_broker
        redis_broker.declare_actor(getattr(actors, name))
    try:
        _demo_campaign(stack)
    finally:
        for name, original in previous.items():
            getattr(actors, name).broker = original
        campaign.broker.broker = previous_services_broker
        redis_broker.close()


def _wait_until_ready() -> None:
    from campaign.models import FilmVariant, IngestStatus, PosterTemplate

    def settled() -> bool:
        variant = FilmVariant.objects.get()
        pending = PosterTemplate.objects.filter(
            prepare_status__in=(IngestStatus.PENDING, IngestStatus.RUNNING)
        ).count()
        return variant.ingest_status in (IngestStatus.READY, IngestStatus.FAILED) and pending == 0

    wait_for(settled, timeout=240, interval=0.5, what="film ingest and poster preparation")
    variant = FilmVariant.objects.get()
    assert variant.ingest_status == IngestStatus.READY, variant.ingest_error
    errors = list(
        PosterTemplate.objects.exclude(prepare_status=IngestStatus.READY).values_list("prepare_error")
    )
    assert not errors, errors


@pytest.fixture(scope="module")
def browser(chromium_path: Path) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM calls the tests make in between
    # are plain blocking calls, which Django would otherwise refuse in a thread with a running loop.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(chromium_path), args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()
            if previous is None:
                os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
            else:
                os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def new_page(browser: Any) -> Iterator[Callable[..., Any]]:
    """Open a page in a fresh phone context (viewport, touch, user agent, zh-CN)."""
    contexts: list[Any] = []

    def open_page(*, user_agent: str = PLAIN_UA, viewport: dict[str, int] | None = None) -> Any:
        context = browser.new_context(
            user_agent=user_agent,
            viewport=viewport or PHONE,
            device_scale_factor=2,
            is_mobile=True,
            has_touch=True,
            locale="zh-CN",
        )
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(20_000)
        return page

    yield open_page
    for context in contexts:
        context.close()


class SocketLog:
    """Every websocket a page opens, each with the frames it received from its first one on.

    Playwright's `ws.wait_for_event("framereceived")` waits only for frames that arrive after the call;
    the server's snapshot often comes before the test gets there, and the wait then times out although
    the page has its frame. The listener here is attached when the socket opens, so no frame is missed.
    """

    def __init__(self, page: Any) -> None:
        self.page = page
        self.sockets: list[Any] = []
        self.frames: list[list[Any]] = []
        page.on("websocket", self._opened)

    def _opened(self, socket: Any) -> None:
        frames: list[Any] = []
        self.sockets.append(socket)
        self.frames.append(frames)
        socket.on("framereceived", lambda payload: frames.append(payload))  # Playwright wraps functions only

    def wait_for_frame(self, socket: Any, timeout_s: float = 20.0) -> None:
        """Return once `socket` has received a frame (now or earlier); fail after `timeout_s`."""
        frames = self.frames[self.sockets.index(socket)]
        deadline = time.monotonic() + timeout_s
        while not frames:
            assert time.monotonic() < deadline, f"no frame on {socket.url} within {timeout_s:.0f} s"
            self.page.wait_for_timeout(50)  # lets Playwright dispatch the socket's events


def screenshot(page: Any, name: str) -> None:
    """Keep the main screens for the README (docs/screenshots/<name>.jpg)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.jpg"), full_page=True, type="jpeg", quality=70)


def astronaut_file(tmp_path: Path) -> Path:
    from PIL import Image
    from skimage import data

    path = tmp_path / "me.jpg"
    Image.fromarray(data.astronaut()).save(path, format="JPEG", quality=92)
    return path


def heic_file(tmp_path: Path) -> Path:
    """The astronaut as HEIC (what some Android cameras hand over): Chromium cannot decode it."""
    import pillow_heif
    from PIL import Image
    from skimage import data

    pillow_heif.register_heif_opener()
    path = tmp_path / "me.heic"
    Image.fromarray(data.astronaut()).save(path, format="HEIF", quality=90)
    return path
