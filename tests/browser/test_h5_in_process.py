"""The H5 page in a real browser (Playwright + Debian Chromium, phone viewport) against the platform in
this process (tests/browser/conftest.py, `in_process_platform`).

The ASGI app runs under uvicorn in a thread, the cpu and gpu workers in threads (in-process broker and
channel layer, so the whole platform shares one in-memory database), the engine for real. The visitor
picks a photo, ticks the consents, uploads, watches progress over the websocket and gets five posters
and a playable film; "delete my data" then removes it; then the editors' admin. The README's admin
screenshots come from here (`PROTAGONIST_SCREENSHOTS=1`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dramatiq
import pytest
from django.contrib.auth import get_user_model

from campaign import demo
from campaign.broker import broker
from campaign.models import Campaign, Film, FilmVariant, IngestStatus, Job, JobState
from tests.browser.conftest import PHONE, screenshot
from tests.campaign.conftest import demo_variant, jpeg_bytes
from tests.conftest import free_port
from workers import actors

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.slow,
    pytest.mark.usefixtures("in_process_platform"),
]
EDITOR_PASSWORD = "editor-pw-2026"


@pytest.fixture
def live_platform(settings: Any, tmp_path: Path) -> Iterator[str]:
    """uvicorn + cpu/gpu worker threads on one loopback port; a demo campaign ingested for real."""
    import uvicorn

    from campaign.asgi import application

    settings.RATELIMIT_ENABLED = False
    settings.ALLOWED_HOSTS = ["127.0.0.1"]
    settings.PROGRESS_MIN_INTERVAL_S = 0.2
    campaign = Campaign.objects.create(slug="demo", title="你就是主角", title_en="You are the protagonist")
    film = Film.objects.create(campaign=campaign, slug="astronaut", title="星际主角")
    clip = demo.build_demo_film(tmp_path / "clip.mp4", seconds=2, size=(270, 480))
    variant, posters, ingest = demo_variant(film, clip)
    for poster_id, generation in posters:
        actors.prepare_poster.fn(poster_id, generation)
    actors.ingest_variant.fn(variant.pk, ingest)
    assert FilmVariant.objects.get(pk=variant.pk).ingest_status == IngestStatus.READY
    get_user_model().objects.create_superuser(username="editor", password=EDITOR_PASSWORD)

    broker.flush_all()
    workers = [
        dramatiq.Worker(broker, queues={"cpu"}, worker_threads=1, worker_timeout=50),
        dramatiq.Worker(broker, queues={"gpu"}, worker_threads=1, worker_timeout=50),
    ]
    for worker in workers:
        worker.start()
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(application, host="127.0.0.1", port=port, lifespan="off", log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)
    for worker in workers:
        worker.stop()
    broker.flush_all()


def test_visitor_uploads_a_photo_and_gets_five_posters_and_a_playable_film(
    chromium_path: Path, live_platform: str, astronaut_rgb: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    photo = tmp_path / "me.jpg"
    photo.write_bytes(jpeg_bytes(astronaut_rgb))
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium_path), args=["--no-sandbox"])
        context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
        page = context.new_page()
        page.goto(live_platform + "/")
        expect(page.locator("#campaign-title")).to_have_text("你就是主角")
        submit = page.locator("#submit")
        expect(submit).to_be_disabled()
        expect(page.locator("#consent")).not_to_be_checked()
        page.set_input_files("#photo-input", str(photo))
        page.check("input[name=gender][value=female]")
        page.check("#consent")
        expect(submit).to_be_disabled()  # the age confirmation is still missing
        page.check("#age-self")
        expect(page.locator("#photo-preview")).to_be_visible()
        screenshot(page, "h5-form")
        submit.click()

        expect(page.locator("#step-progress")).to_be_visible(timeout=15_000)
        posters = page.locator("#posters img")
        expect(posters).to_have_count(5, timeout=120_000)
        # the astronaut's face is small in her photo (warning face_small): the results say what helps
        expect(page.locator("#photo-tip")).to_contain_text("脸更大")
        screenshot(page, "h5-posters")
        video = page.locator("#video")
        expect(video).to_be_visible(timeout=120_000)
        expect(page.locator("#stage-label")).to_be_hidden()  # progress card gone when done
        # The film really plays: metadata loads through the Range-capable media view.
        page.wait_for_function("() => document.getElementById('video').readyState >= 1", timeout=30_000)
        assert page.evaluate("document.getElementById('video').duration") == pytest.approx(2.0, abs=0.2)
        for attribute in ("playsinline", "webkit-playsinline", "x5-playsinline"):
            assert video.get_attribute(attribute) is not None
        widths = posters.evaluate_all("imgs => imgs.map(i => i.naturalWidth)")
        assert widths == [720] * 5
        screenshot(page, "h5-result")

        # The result URL carries id and token in the fragment, which browsers never send to servers.
        fragment = page.evaluate("location.hash")
        assert fragment.startswith("#job=")
        job_id = fragment.split("job=")[1].split("&")[0]
        token = fragment.split("token=")[1].split("&")[0]
        status_url = f"{live_platform}/api/jobs/{job_id}"
        auth = {"Authorization": f"Bearer {token}"}
        assert page.request.get(status_url, headers=auth).json()["state"] == "done"

        # A reload resumes the job from the URL fragment.
        page.reload()
        expect(page.locator("#posters img")).to_have_count(5, timeout=15_000)

        page.once("dialog", lambda dialog: dialog.accept())
        page.click("#delete")
        expect(page.locator("#deleted-note")).to_be_visible(timeout=15_000)
        assert page.request.get(status_url, headers=auth).status == 410

        # The editors' side: admin login, the campaign dashboard and the ingested variant.
        admin = browser.new_page(viewport={"width": 1280, "height": 900})
        admin.goto(live_platform + "/admin/login/?next=/admin/dashboard/")
        admin.fill("#id_username", "editor")
        admin.fill("#id_password", EDITOR_PASSWORD)
        admin.click("input[type=submit]")
        expect(admin.locator("h2").first).to_have_text("Queues")
        expect(admin.locator("body")).to_contain_text("jobs finished per minute")
        screenshot(admin, "admin-dashboard")
        admin.goto(live_platform + "/admin/campaign/filmvariant/")
        admin.locator("#result_list tbody th a").first.click()
        expect(admin.locator("body")).to_contain_text("100.0%")  # face coverage of the clip
        expect(admin.locator("img[src*='/media/posters/previews/']")).to_have_count(5)
        screenshot(admin, "admin-variant")
        overflow = admin.evaluate("() => document.scrollingElement.scrollWidth - innerWidth")
        assert overflow <= 0, f"the variant page is {overflow} px wider than 1280 px"
        # The QR code's corner is outlined on each template and preview (bottom-left: the label is
        # bottom-right), its size the drawn code's share of the poster.
        zones = admin.locator(".safe-zone")
        expect(zones).to_have_count(10)
        left, top, width = (
            float(v.rstrip("%"))
            for v in zones.first.evaluate("z => [z.style.left, z.style.top, z.style.width]")
        )
        assert left == pytest.approx(2.5) and width == pytest.approx(20, abs=3) and top > 70
        # A 2 s film in a campaign that promises 15 s: the editor is told.
        expect(admin.locator(".field-length")).to_contain_text("2.0 s ⚠ the campaign promises 15 s")
        admin.goto(live_platform + "/admin/campaign/film/")
        admin.locator("#result_list tbody th a").first.click()
        expect(admin.locator("td.field-progress_percent").first).to_have_text("100%")
        browser.close()
    # (Django's ORM refuses to run inside Playwright's event loop, so the row is checked after it.)
    assert Job.objects.get(pk=job_id).state == JobState.DELETED
