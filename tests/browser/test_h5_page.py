"""The H5 page in Chromium at phone size, against the real stack (tests/browser/conftest.py).

One visitor journey runs the whole job (real engine, real worker) while the web server is killed and
restarted under the page; the other tests look at what that journey produced (posters, video, links)
from a plain phone browser, from WeChat, and through the API, and delete it at the end.
"""

from __future__ import annotations

import io
import json
import re
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import numpy as np
import pytest

from tests.browser.conftest import (
    PHONE,
    PLAIN_UA,
    WECHAT_UA,
    H5Stack,
    SocketLog,
    astronaut_file,
    heic_file,
    screenshot,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

DIGITAL_SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"


def _http(
    url: str, *, method: str = "GET", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()


def _job_from_hash(page: Any) -> tuple[str, str]:
    fragment = page.evaluate("location.hash")
    match = re.match(r"#job=([0-9a-f-]{36})&token=(.+)$", fragment)
    assert match, fragment
    return match.group(1), urllib.request.unquote(match.group(2))


def _status(stack: H5Stack, job_id: str, token: str) -> tuple[int, dict[str, Any]]:
    code, _, body = _http(f"{stack.url}api/jobs/{job_id}", headers={"Authorization": f"Bearer {token}"})
    return code, json.loads(body)


def _choose_photo_and_agree(page: Any, photo: Path) -> None:
    page.set_input_files("#photo-input", str(photo))
    page.click("text=女主角")
    page.check("#consent")
    page.check("#age-self")


@pytest.fixture(scope="module")
def journey(h5_stack: H5Stack, browser: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A visitor uploads the astronaut on a phone; the server is killed mid-job and comes back."""
    context = browser.new_context(
        user_agent=PLAIN_UA,
        viewport=PHONE,
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale="zh-CN",
    )
    page = context.new_page()
    page.set_default_timeout(20_000)
    sockets = SocketLog(page)
    media: list[tuple[str, int, str]] = []
    page.on(
        "response",
        lambda r: (
            media.append((r.url, r.status, r.request.headers.get("range", "")))
            if "/media/jobs/" in r.url
            else None
        ),
    )
    page.goto(h5_stack.url)
    screenshot(page, "01-form")
    assert page.is_disabled("#submit")
    _choose_photo_and_agree(page, astronaut_file(tmp_path_factory.mktemp("photo")))
    page.wait_for_selector("#photo-preview", state="visible")
    screenshot(page, "02-photo-chosen")
    with page.expect_websocket() as first_socket:
        page.click("#submit")
    sockets.wait_for_frame(first_socket.value)  # authenticated: the snapshot arrived
    page.wait_for_selector("#step-progress", state="visible")
    job_id, token = _job_from_hash(page)
    page.wait_for_function("() => document.getElementById('stage-label').textContent.length > 0")
    screenshot(page, "03-progress")

    # The server drops every socket (process killed) while the job runs; the page must come back by
    # itself: reconnect with backoff, then polling, then a fresh websocket snapshot.
    h5_stack.stop_web()
    page.wait_for_selector("#conn-label", state="visible")
    h5_stack.start_web()
    page.wait_for_function(
        "() => document.querySelector('#video[src]') || !document.getElementById('job-error').hidden",
        timeout=300_000,
    )
    assert page.is_hidden("#job-error"), page.inner_text("#job-error")
    page.wait_for_function("() => document.querySelectorAll('#posters img').length === 5")
    page.wait_for_function("() => document.getElementById('stage-label').textContent.length > 0")
    page.wait_for_selector("#step-progress", state="hidden", timeout=60_000)
    page.eval_on_selector("#video", "v => v.load()")  # preload=metadata: Chromium fetches with Range
    page.wait_for_function("() => document.getElementById('video').readyState >= 1", timeout=30_000)
    screenshot(page, "04-results")
    return {
        "page": page,
        "context": context,
        "job_id": job_id,
        "token": token,
        "sockets": sockets.sockets,
        "media": media,
    }


def test_real_photo_runs_to_five_posters_and_a_film_across_a_server_restart(
    journey: dict[str, Any], h5_stack: H5Stack
) -> None:
    page = journey["page"]
    assert len(journey["sockets"]) >= 2  # the first died with the server; a later one got the snapshot
    assert page.is_hidden("#conn-label")
    code, status = _status(h5_stack, journey["job_id"], journey["token"])
    assert (code, status["state"]) == (200, "done")
    alts = page.eval_on_selector_all("#posters img", "imgs => imgs.map(i => i.alt)")
    assert alts == [f"以你的脸生成的电影海报 {n}" for n in range(1, 6)]
    assert page.eval_on_selector_all("#posters img", "imgs => imgs.every(i => i.naturalWidth === 720)")
    # the original photo is nowhere on the result page
    assert page.is_hidden("#step-form")
    assert "/photo" not in page.content()


def test_a_reload_without_the_fragment_resumes_from_local_storage(journey: dict[str, Any]) -> None:
    page = journey["page"]
    page.goto(page.url.split("#")[0])
    page.wait_for_function("() => document.querySelectorAll('#posters img').length === 5")
    assert _job_from_hash(page) == (journey["job_id"], journey["token"])


def test_video_is_inline_with_cover_and_every_video_response_is_206(
    journey: dict[str, Any], h5_stack: H5Stack
) -> None:
    page = journey["page"]
    video = page.eval_on_selector(
        "#video",
        """v => ({playsinline: v.hasAttribute('playsinline'), webkit: v.hasAttribute('webkit-playsinline'),
                 x5: v.hasAttribute('x5-playsinline'), x5type: v.getAttribute('x5-video-player-type'),
                 preload: v.getAttribute('preload'), poster: v.getAttribute('poster'), src: v.getAttribute('src'),
                 autoplay: v.autoplay, controls: v.controls})""",
    )
    assert video["playsinline"] and video["webkit"] and video["x5"]
    assert (video["x5type"], video["preload"], video["autoplay"], video["controls"]) == (
        "h5",
        "metadata",
        False,
        True,
    )
    assert "/cover.jpg" in video["poster"]
    assert page.is_visible("#play")  # playback starts from a tap
    # what Chromium's media stack itself asked for: Range requests, answered 206
    video_responses = [(status, rng) for url, status, rng in journey["media"] if "/film.mp4" in url]
    assert video_responses, journey["media"]
    assert all(status == 206 and rng.startswith("bytes=") for status, rng in video_responses), video_responses
    url = urljoin(h5_stack.url, video["src"])
    code, headers, body = _http(url, headers={"Range": "bytes=100-199"})
    size = int(headers["content-range"].rsplit("/", 1)[1])
    assert (code, headers["content-range"], len(body), headers["accept-ranges"]) == (
        206,
        f"bytes 100-199/{size}",
        100,
        "bytes",
    )
    code, headers, body = _http(url, headers={"Range": "bytes=0-"})
    assert (code, len(body), body[4:8]) == (206, size, b"ftyp")
    # faststart: the index (moov) comes before the media data, so playback starts before the download ends
    assert body.index(b"moov") < body.index(b"mdat")


def test_wechat_gets_the_open_in_browser_hint_and_no_download_links(
    journey: dict[str, Any], new_page: Any
) -> None:
    result_url = journey["page"].url.split("#")[0] + f"#job={journey['job_id']}&token={journey['token']}"
    wechat = new_page(user_agent=WECHAT_UA)
    wechat.goto(result_url)
    wechat.wait_for_selector("#video[src]", state="attached")
    assert wechat.is_visible("#wechat-hint")
    assert "在浏览器打开" in wechat.inner_text("#wechat-hint")
    assert wechat.is_hidden("#download-video") and wechat.is_hidden("#share")
    assert wechat.eval_on_selector_all("#posters img", "imgs => imgs.length") == 5  # long-press to save
    screenshot(wechat, "05-wechat")

    plain = new_page(user_agent=PLAIN_UA)
    plain.goto(result_url)
    plain.wait_for_selector("#video[src]", state="attached")
    assert plain.is_hidden("#wechat-hint")
    assert plain.get_attribute("#download-video", "download") == "protagonist.mp4"
    assert plain.is_visible("#download-video") and plain.is_visible("#download-poster")


def _luma(rgb: np.ndarray) -> np.ndarray:
    return rgb[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)


def test_each_poster_has_a_qr_code_to_the_campaign_and_the_ai_label_in_pixels_and_xmp(
    journey: dict[str, Any], h5_stack: H5Stack
) -> None:
    import cv2
    from PIL import Image

    from campaign.sharing import compose_overlay

    code, status = _status(h5_stack, journey["job_id"], journey["token"])
    for poster in status["posters"]:
        code, headers, body = _http(urljoin(h5_stack.url, poster["url"]))
        assert (code, headers["content-type"]) == (200, "image/jpeg")
        image = Image.open(io.BytesIO(body))
        xmp = image.info["xmp"]
        assert DIGITAL_SOURCE_TYPE in (xmp.decode() if isinstance(xmp, bytes) else xmp)
        rgb = np.asarray(image.convert("RGB"))
        decoded, _, _ = cv2.QRCodeDetector().detectAndDecode(np.ascontiguousarray(rgb[..., ::-1]))
        assert decoded == h5_stack.url
        # the visible label: where the label's text is drawn the poster is bright, inside its box dark
        label = Image.open(io.BytesIO(compose_overlay(
            size=image.size, base_overlay_png=None, qr_url=None, label="AI生成 · AI-generated",
            label_position="bottom-right",
        )))  # fmt: skip
        alpha = np.asarray(label)[..., 3]
        luma = _luma(rgb)
        assert luma[alpha >= 230].mean() > 200
        assert luma[alpha == 150].mean() < 110
        assert (alpha > 0)[: image.size[1] // 2].sum() == 0  # default position: bottom right


def test_video_carries_the_ai_label_in_frames_and_mp4_metadata(
    journey: dict[str, Any], h5_stack: H5Stack, tmp_path: Path
) -> None:
    import av

    from swap.film.render import LabelStamp

    _, status = _status(h5_stack, journey["job_id"], journey["token"])
    _, _, body = _http(urljoin(h5_stack.url, status["video"]["url"]))
    path = tmp_path / "film.mp4"
    path.write_bytes(body)
    with av.open(str(path)) as container:
        metadata = dict(container.metadata)
        stream = container.streams.video[0]
        assert (stream.codec_context.name, stream.codec_context.profile) == ("h264", "Main")
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
    assert metadata["DigitalSourceType"] == DIGITAL_SOURCE_TYPE
    assert json.loads(metadata["AIGC"])["Label"] == "1"
    assert "AI" in metadata["comment"]
    height, width = frames[0].shape[:2]
    stamp = LabelStamp.make("AI生成 · AI-generated", "bottom-right", width, height)
    text = stamp.alpha > 0.9
    for frame in (frames[0], frames[len(frames) // 2], frames[-1]):
        region = _luma(frame[stamp.y : stamp.y + text.shape[0], stamp.x : stamp.x + text.shape[1]])
        assert region[text].mean() > 190
    _, headers, cover = _http(urljoin(h5_stack.url, status["video"]["cover_url"]))
    assert headers["content-type"] == "image/jpeg" and len(cover) > 1000


def _multipart(page: Any, photo: Path, **fields: str) -> Any:
    return page.request.post(
        urljoin(page.url, "/api/jobs"),
        multipart={
            "photo": {"name": photo.name, "mimeType": "image/jpeg", "buffer": photo.read_bytes()},
            "gender": "female",
            **fields,
        },
    )


def test_consent_and_age_gate_are_enforced_by_the_page_and_the_api(
    h5_stack: H5Stack, new_page: Any, tmp_path: Path
) -> None:
    from campaign.models import Campaign, Job

    jobs_before = Job.objects.count()
    photo = astronaut_file(tmp_path)
    page = new_page()
    page.goto(h5_stack.url)
    assert not page.is_checked("#consent") and not page.is_checked("#age-self")
    page.set_input_files("#photo-input", str(photo))
    page.click("text=女主角")
    page.wait_for_selector("#photo-preview", state="visible")
    assert page.is_disabled("#submit")
    page.check("#consent")
    assert page.is_disabled("#submit")  # consent alone is not enough: the age confirmation too
    page.check("#age-self")
    assert page.is_enabled("#submit")
    # a page that skips its own checks still meets the server's
    page.uncheck("#consent")
    page.eval_on_selector("#submit", "b => { b.disabled = false; }")
    page.click("#submit")
    page.wait_for_selector("#form-error", state="visible")
    assert page.inner_text("#form-error") == "请先勾选同意处理人脸照片。"

    page.goto(h5_stack.url)  # same origin for page.request
    refusals = {
        "no consent": ({"consent": "false", "age_confirmation": "self"}, "consent_required"),
        "no age": ({"consent": "true"}, "age_confirmation_required"),
        "outdated text": ({"consent": "true", "age_confirmation": "self", "consent_version": "2020-01"}, "consent_outdated"),
    }  # fmt: skip
    for what, (fields, expected) in refusals.items():
        response = _multipart(page, photo, **fields)
        assert (response.status, response.json()["code"]) == (400, expected), what
        assert response.json()["detail"]
    campaign = Campaign.objects.get()
    campaign.age_policy = "min_age_only"
    campaign.save(update_fields=["age_policy"])
    try:
        response = _multipart(page, photo, consent="true", age_confirmation="guardian")
        assert (response.status, response.json()["code"]) == (400, "age_restricted")
        page.goto(h5_stack.url)
        assert page.locator("#age-guardian").count() == 0  # the page offers only what the policy allows
    finally:
        campaign.age_policy = "min_age_or_guardian"
        campaign.save(update_fields=["age_policy"])
    assert Job.objects.count() == jobs_before


def test_a_heic_photo_the_browser_cannot_decode_is_uploaded_and_converted_by_the_server(
    h5_stack: H5Stack, new_page: Any, tmp_path: Path
) -> None:
    from campaign.models import Job

    page = new_page()
    page.goto(h5_stack.url)
    # record what the page hands to the upload (Playwright does not expose multipart blob bodies)
    page.evaluate(
        """() => { window.__photos = []; const append = FormData.prototype.append;
                   FormData.prototype.append = function (key, value, name) {
                     if (key === 'photo') window.__photos.push([name, value.size]);
                     return append.apply(this, arguments); }; }"""
    )
    heic = heic_file(tmp_path)
    _choose_photo_and_agree(page, heic)
    page.wait_for_function("() => document.getElementById('preview-note').textContent.length > 0")
    assert "HEIC" in page.inner_text("#preview-note")
    with page.expect_response(lambda r: r.url.endswith("/api/jobs")) as created:
        page.click("#submit")
    assert created.value.status == 202
    assert page.evaluate("window.__photos") == [["me.heic", heic.stat().st_size]]  # the original bytes
    page.wait_for_selector("#step-progress", state="visible")
    job_id, token = _job_from_hash(page)
    job = Job.objects.get(pk=job_id)
    assert (job.age_confirmation, job.consent_version) == ("self", "2025-11")
    # done with it: delete at once so that the worker does not spend the test's time on it
    code, _, _ = _http(
        f"{h5_stack.url}api/jobs/{job_id}", method="DELETE", headers={"Authorization": f"Bearer {token}"}
    )
    assert code == 204


def test_a_big_rotated_photo_is_turned_upright_and_downscaled_before_upload(
    h5_stack: H5Stack, new_page: Any, tmp_path: Path
) -> None:
    """A 2400x1800 camera JPEG whose EXIF says "rotate 90°" goes up as an upright JPEG of 960x1280."""
    from PIL import Image
    from skimage import data

    photo = tmp_path / "camera.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: the pixels are stored turned; viewers rotate 90° clockwise
    sideways = Image.fromarray(data.astronaut()).rotate(90, expand=True).resize((2400, 1800))
    sideways.save(photo, format="JPEG", quality=90, exif=exif)
    page = new_page()
    page.goto(h5_stack.url)
    page.evaluate(
        """() => { const append = FormData.prototype.append;
                   FormData.prototype.append = function (key, value, name) {
                     if (key === 'photo') window.__photo = [value, name];
                     return append.apply(this, arguments); }; }"""
    )
    page.set_input_files("#photo-input", str(photo))
    page.click("text=女主角")
    page.check("#age-self")
    page.wait_for_selector("#photo-preview", state="visible")
    page.eval_on_selector("#submit", "b => { b.disabled = false; }")  # no consent: the server refuses it
    page.click("#submit")
    page.wait_for_selector("#form-error", state="visible")
    sent = page.evaluate(
        """async () => { const [blob, name] = window.__photo; const bitmap = await createImageBitmap(blob);
                         return [name, blob.type, bitmap.width, bitmap.height, blob.size]; }"""
    )
    assert sent[:4] == ["photo.jpg", "image/jpeg", 960, 1280]
    assert sent[4] < photo.stat().st_size


def test_a_photo_the_engine_refuses_gets_a_friendly_tip_and_a_way_back(
    h5_stack: H5Stack, new_page: Any, tmp_path: Path
) -> None:
    from PIL import Image
    from skimage import data

    photo = tmp_path / "coffee.jpg"
    Image.fromarray(data.coffee()).save(photo, format="JPEG", quality=90)  # a cup, no face
    page = new_page()
    page.goto(h5_stack.url)
    _choose_photo_and_agree(page, photo)
    page.wait_for_selector("#photo-preview", state="visible")
    page.click("#submit")
    page.wait_for_selector("#job-error", state="visible", timeout=120_000)
    assert page.inner_text("#job-error") == "没有找到人脸。请上传一张能看清正脸的照片。"
    # The failed card shows only the failure and what to do: no "in the making", no bar, no "come back".
    assert page.inner_text("#progress-title") == "没能完成"
    for progress_only in ("#stage-label", "#job-bar", "#may-leave"):
        assert page.is_hidden(progress_only), progress_only
    screenshot(page, "09-refused")
    page.click("#retry-photo")
    assert page.is_visible("#step-form") and page.evaluate("location.hash") == ""


def test_progress_pauses_while_hidden_and_catches_up_when_visible_again(
    h5_stack: H5Stack, new_page: Any
) -> None:
    """A waiting job (row only, no message: nobody works on it) followed by a page that goes to the background."""
    from campaign.models import Campaign, FilmVariant, Job
    from campaign.services.tokens import token_new

    token, digest = token_new()
    job = Job.objects.create(
        token_hash=digest,
        campaign=Campaign.objects.get(),
        variant=FilmVariant.objects.get(),
        gender="female",
        poster_keys=[""] * 5,
    )
    page = new_page()
    sockets = SocketLog(page)
    with page.expect_websocket() as first:
        page.goto(f"{h5_stack.url}#job={job.id}&token={token}")
    sockets.wait_for_frame(first.value)
    assert page.inner_text("#stage-label") == "排队中"
    assert "离开" in page.inner_text("#step-progress")  # the visitor may leave and come back

    def set_hidden(hidden: bool) -> None:
        page.evaluate(
            """hidden => { Object.defineProperty(document, 'hidden', {value: hidden, configurable: true});
                           Object.defineProperty(document, 'visibilityState',
                             {value: hidden ? 'hidden' : 'visible', configurable: true});
                           document.dispatchEvent(new Event('visibilitychange')); }""",
            hidden,
        )

    set_hidden(True)
    first.value.wait_for_event("close")  # no socket, no timers while in the background
    page.wait_for_timeout(1500)
    assert len(sockets.sockets) == 1
    Job.objects.filter(pk=job.id).update(progress=0.05, event_seq=5)  # moved on meanwhile (no event sent)
    with page.expect_request(lambda r: r.url.endswith(f"/api/jobs/{job.id}")), page.expect_websocket():
        set_hidden(False)  # back: one status fetch at once, then a new socket
    page.wait_for_function("() => document.getElementById('job-bar').value === 5")
    Job.objects.filter(pk=job.id).delete()


def test_layout_fits_phone_to_tablet_with_big_targets_and_readable_text(
    h5_stack: H5Stack, new_page: Any
) -> None:
    status, headers, html = _http(h5_stack.url)
    assert status == 200
    assert "no-cache" in headers["cache-control"]
    text = html.decode()
    viewport = re.search(r'<meta name="viewport" content="([^"]+)"', text).group(1)  # type: ignore[union-attr]
    assert (
        "viewport-fit=cover" in viewport
        and "user-scalable" not in viewport
        and "maximum-scale" not in viewport
    )
    for tag in ("og:title", "og:description", "og:url", "og:image"):
        assert f'property="{tag}"' in text, tag
    assert '<html lang="zh-CN">' in text and 'aria-live="polite"' in text
    og_image = re.search(r'property="og:image" content="([^"]+)"', text).group(1)  # type: ignore[union-attr]
    assert _http(og_image)[0] == 200

    for size in (
        {"width": 360, "height": 640},
        {"width": 375, "height": 667},
        {"width": 768, "height": 1024},
    ):
        page = new_page(viewport=size)
        page.goto(h5_stack.url)
        layout = page.evaluate(
            """() => {
              const small = [...document.querySelectorAll('button, .button, label.choice, label.consent, .lang')]
                .filter(e => e.offsetParent !== null)
                .map(e => [e.id || e.className, e.getBoundingClientRect().height])
                .filter(([, h]) => h < 44);
              function rgb(c) { return c.match(/\\d+(\\.\\d+)?/g).slice(0, 3).map(Number); }
              function lum(c) { return rgb(c).map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); })
                                   .reduce((s, v, i) => s + v * [0.2126, 0.7152, 0.0722][i], 0); }
              function bg(e) { while (e) { const c = getComputedStyle(e).backgroundColor; if (!c.endsWith(', 0)') && c !== 'transparent') return c; e = e.parentElement; } return 'rgb(255,255,255)'; }
              const low = [...document.querySelectorAll('h1, h2, p, span, legend, button, label')]
                .filter(e => e.offsetParent !== null && e.textContent.trim())
                .map(e => { const a = lum(getComputedStyle(e).color), b = lum(bg(e));
                            return [e.id || e.tagName, (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05)]; })
                .filter(([, r]) => r < 4.5);
              const main = document.querySelector('main').getBoundingClientRect();
              return {overflow: document.scrollingElement.scrollWidth - innerWidth, small, low, mainWidth: main.width};
            }"""
        )
        assert layout["overflow"] <= 0, (size, layout)
        assert layout["small"] == [], (size, layout["small"])
        assert layout["low"] == [], (size, layout["low"])
        assert layout["mainWidth"] <= 560
        if size["width"] == 768:
            screenshot(page, "06-tablet")

    page = new_page()
    page.goto(h5_stack.url)
    # Film first: its title, real length and a muted loop of it; a sample poster beside it.
    assert page.inner_text("#feature-title") == "演示" and page.inner_text("#feature-length") == "2 秒"
    assert page.evaluate(
        "(() => { const v = document.getElementById('trailer'); return v.muted && v.loop; })()"
    )
    assert page.is_visible("#feature-poster") and page.is_hidden("#film-fieldset")  # one film: no picker
    # The face-data consent: its own checkbox with a short summary; the full text one tap away.
    assert page.is_hidden("#consent-full")
    page.click(".consent-details summary")
    assert page.is_visible("#consent-full") and "敏感个人信息" in page.inner_text("#consent-full")
    page.click("#lang-toggle")
    assert page.evaluate("document.documentElement.lang") == "en"
    assert page.inner_text("#submit") == "Make my posters and film"
    screenshot(page, "07-english")


def test_roles_open_only_when_ready_and_a_second_film_can_be_chosen(
    h5_stack: H5Stack, new_page: Any, tmp_path: Path
) -> None:
    """A second film whose female cut is still being ingested: its role says "coming soon" (disabled),
    the page opens it by itself once it is ready, and an upload names the film chosen."""
    from campaign.models import Campaign, Film, FilmVariant, IngestStatus, PosterTemplate

    campaign = Campaign.objects.get()
    second = Film.objects.create(
        campaign=campaign, slug="second", title="第二部", title_en="Sequel", sort_order=1
    )
    variant = FilmVariant.objects.create(film=second, gender="female", template_video="films/x.mp4")
    for artwork in PosterTemplate.objects.filter(variant__film__slug="demo"):
        PosterTemplate.objects.create(
            variant=variant,
            position=artwork.position,
            image=artwork.image.name,
            prepare_status=IngestStatus.READY,
        )
    try:
        page = new_page()
        page.goto(h5_stack.url)
        assert page.locator(".film").count() == 2
        assert page.inner_text(".film[data-film=demo] .film-length") == "2 秒"  # the film's real length
        assert page.is_enabled("input[name=gender][value=female]")  # the first film's role is ready
        assert page.is_hidden("label.choice[data-gender=male]")  # a role neither film has
        assert page.inner_text("#feature-title") == "演示"
        assert "/media/films/" in page.get_attribute("#trailer", "src")  # the ready film loops at the top
        page.click(".film[data-film=second]")
        assert page.inner_text("#feature-title") == "第二部"
        assert page.get_attribute("#trailer", "src") is None  # not ready: its cover only
        assert page.is_disabled("input[name=gender][value=female]")
        assert page.is_visible("label.choice[data-gender=female] .soon")
        assert page.is_visible("#roles-note")
        assert page.inner_text(".film[data-film=second] .film-length") == "准备中"
        screenshot(page, "10-coming-soon")

        FilmVariant.objects.filter(pk=variant.pk).update(
            ingest_status=IngestStatus.READY, ingest_report={"duration_s": 14.96}
        )
        page.wait_for_function(
            "() => !document.querySelector('input[name=gender][value=female]').disabled", timeout=20_000
        )  # no reload: the page asked /api/campaign again
        assert page.is_hidden("#roles-note")
        assert page.inner_text(".film[data-film=second] .film-length") == "15 秒"

        sent: list[str] = []

        def answer(route: Any) -> None:  # the role was paused meanwhile: nothing is queued
            sent.append(route.request.post_data_buffer.decode(errors="replace"))
            route.fulfill(status=409, json={"code": "variant_unavailable", "detail": "paused"})

        page.route("**/api/jobs", answer)
        _choose_photo_and_agree(page, astronaut_file(tmp_path))
        page.wait_for_selector("#photo-preview", state="visible")
        page.click("#submit")
        page.wait_for_selector("#form-error", state="visible")
        assert 'name="film"\r\n\r\nsecond\r\n' in sent[0]
        assert page.inner_text("#form-error") == "这个角色刚刚暂停了，请选择其他角色或稍后再试。"
    finally:
        second.delete()


def test_delete_my_data_makes_every_link_answer_410(journey: dict[str, Any], h5_stack: H5Stack) -> None:
    page = journey["page"]
    _, status = _status(h5_stack, journey["job_id"], journey["token"])
    links = [urljoin(h5_stack.url, p["url"]) for p in status["posters"]]
    links += [
        urljoin(h5_stack.url, status["video"]["url"]),
        urljoin(h5_stack.url, status["video"]["cover_url"]),
    ]
    page.goto(page.url.split("#")[0] + f"#job={journey['job_id']}&token={journey['token']}")
    page.wait_for_selector("#delete", state="visible")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#delete")
    page.wait_for_selector("#deleted-note", state="visible")
    screenshot(page, "08-deleted")
    assert page.evaluate("localStorage.getItem('job')") is None and page.evaluate("location.hash") == ""
    for link in links:
        assert _http(link)[0] == 410, link
        assert _http(link, headers={"Range": "bytes=0-99"})[0] == 410, link
    code, body = _status(h5_stack, journey["job_id"], journey["token"])
    assert (code, body["code"]) == (410, "deleted")
    journey["context"].close()
