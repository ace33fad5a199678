"""The hostile-input suite: what an attacker sends, through the served ASGI app (`campaign.asgi.application`).

Keep it green. Every case must answer without a 500 and without leaking a file or a secret; photos that
cost more to decode than a phone photo are refused with a code and leave nothing stored; spoofed
forwarding headers and rotated device cookies do not buy a fresh rate-limit bucket; malformed
websocket frames close the socket with a close code. The README ("Security") reports how many cases
this tries (`test_the_suite_tries_what_the_readme_says`).
"""

from __future__ import annotations

import io
import json
import secrets
import struct
import zlib
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from PIL import Image

from campaign.intake.device import DEVICE_COOKIE, device_id_new
from campaign.intake.ratelimit import reset_rate_limiter
from tests.asgi_http import AsgiAnswer, asgi_request
from tests.campaign.conftest import intake_campaign

pytestmark = pytest.mark.django_db(transaction=True)

SECRET_MARKER = "hostile-suite-secret"

# ------------------------------------------------------------------------------ path tricks

FILE_ROUTES = ["/static/", "/media/", "/media/jobs/", "/share.jpg/", "/api/jobs/", "/admin/", "/"]
PATH_TRICKS = [
    "{secret}",
    "/{secret}",
    "%2F{secret_quoted}",
    "../../../../../../etc/passwd",
    "%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "..%2F..%2F..%2F..%2Fetc%2Fpasswd",
    "%252e%252e%252f%252e%252e%252fetc%252fpasswd",
    "....//....//....//etc/passwd",
    "..\\..\\..\\etc\\passwd",
    "%5C..%5C..%5Cetc%5Cpasswd",
    "/etc/passwd",
    "etc/passwd%00.jpg",
    "jobs/../../var/secret_key",
    "jobs/00000000-0000-0000-0000-000000000000/../../../secret_key",
    "C:\\Windows\\win.ini",
    "~/.ssh/id_rsa",
    "a" * 4000,
    "%ff%fe%fd",
]
MEDIA_QUERIES = [b"", b"e=99999999999&s=" + b"0" * 64, b"e=-1&s=", b"e=1e400&s=x"]


@pytest.fixture
def planted_secrets(settings: Any) -> list[Path]:
    """The files an attacker wants, with a marker in each, where a path trick would find them."""
    var = Path(settings.VAR_DIR)
    planted = []
    for name in ("secret_key", "dev-master-key", "admin_credentials"):
        path = var / name
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(SECRET_MARKER)
        planted.append(path.resolve())
    media_secret = Path(settings.MEDIA_ROOT) / "jobs" / "planted.txt"
    media_secret.parent.mkdir(parents=True, exist_ok=True)
    media_secret.write_text(SECRET_MARKER)
    return planted


def _leaked(answer: AsgiAnswer, secrets_on_disk: list[Path]) -> bool:
    body = answer.body
    contents = [p.read_bytes().strip() for p in secrets_on_disk if p.stat().st_size > 8]
    return (
        b"root:x:" in body
        or SECRET_MARKER.encode() in body
        or b"SECRET_KEY" in body
        or b"SQLite format" in body
        or any(content in body for content in contents)
    )


def _path_cases(secret: Path) -> list[str]:
    absolute = str(secret).lstrip("/")
    return [
        route + trick.format(secret=absolute, secret_quoted=absolute.replace("/", "%2F"))
        for route in FILE_ROUTES
        for trick in PATH_TRICKS
    ]


def test_no_path_trick_on_a_route_that_reads_files_gives_a_500_or_a_leak(planted_secrets: list[Path]) -> None:
    tried = 0
    for secret in planted_secrets:
        for path in _path_cases(secret):
            for query in MEDIA_QUERIES if path.startswith("/media/") else [b""]:
                decoded = unquote(path, errors="replace")
                answer = asgi_request(decoded, raw_path=path.encode(), query_string=query)
                tried += 1
                assert answer.status < 500, (path, query, answer.status)
                assert answer.status != 200 or path.rstrip("/") in ("", "/admin"), (path, answer.status)
                assert not _leaked(answer, planted_secrets), (path, query)
    assert tried == PATH_CASES


# ------------------------------------------------------------------------------ hostile images


def _png(width: int, height: int, *, idat: bytes | None = None, extra: bytes = b"") -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    if idat is None:
        compressor = zlib.compressobj(9)
        row = b"\x00" + b"\x00" * (width * 3)
        idat = b"".join(compressor.compress(row) for _ in range(min(height, 20000))) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + extra + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _jpeg_claiming(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (120, 90, 60)).save(buffer, "JPEG")
    data = buffer.getvalue()
    sof = data.index(b"\xff\xc0")
    return data[: sof + 5] + struct.pack(">HH", height, width) + data[sof + 9 :]


def _gif_frames(count: int, size: tuple[int, int]) -> bytes:
    frames = [Image.new("P", size, i % 256) for i in range(count)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:])
    return buffer.getvalue()


def _webp_claiming(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16)).save(buffer, "WEBP")
    data = bytearray(buffer.getvalue())
    if data[12:16] == b"VP8 ":  # lossy: 14-bit sizes at offset 26
        struct.pack_into("<HH", data, 26, width & 0x3FFF, height & 0x3FFF)
    return bytes(data)


def _zip_bomb_text_chunk() -> bytes:
    """A small PNG with a zTXt chunk that inflates to 200 MB of metadata."""
    bomb = zlib.compress(b"\x00" * 200_000_000, 9)
    return _png(32, 32, extra=_chunk_raw(b"zTXt", b"Comment\x00\x00" + bomb))


def _chunk_raw(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


HOSTILE_IMAGES: dict[str, Any] = {
    "7000x7000 png (decompression-heavy)": lambda: _png(7000, 7000),
    "1x100000 png": lambda: _png(1, 100_000),
    "65535x65535 png header, no pixel data": lambda: _png(65535, 65535, idat=b""),
    "png with a 200 MB zTXt bomb": _zip_bomb_text_chunk,
    "jpeg header claiming 65500x65500": lambda: _jpeg_claiming(65500, 65500),
    "jpeg header claiming 0x0": lambda: _jpeg_claiming(0, 0),
    "truncated jpeg": lambda: _jpeg_claiming(640, 480)[:200],
    "gif with 300 frames": lambda: _gif_frames(300, (64, 64)),
    "gif 10000x10000 logical screen": lambda: _gif_frames(2, (10000, 10000)),
    "webp header claiming 16383x16383": lambda: _webp_claiming(16383, 16383),
    "heic brand with garbage": lambda: b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 2000,
    "empty file": lambda: b"",
    "text named .jpg": lambda: b"<?php system($_GET['c']); ?>" * 10,
    "svg with a script": lambda: b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
    "over the size limit": lambda: b"\xff\xd8\xff" + secrets.token_bytes(1_100_000),
}


def _multipart(photo: bytes, filename: str = "me.jpg") -> tuple[bytes, bytes]:
    boundary = "hostile" + secrets.token_hex(8)
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in (("gender", "female"), ("consent", "true"), ("age_confirmation", "self"))
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="photo"; filename="{filename}"\r\n'
        "Content-Type: image/jpeg\r\n\r\n".encode()
        + photo
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return b"".join(parts), f"multipart/form-data; boundary={boundary}".encode()


@pytest.fixture
def intake(settings: Any) -> Any:
    settings.MAX_PHOTO_BYTES = 1_000_000
    settings.API_CONN_MAX_AGE = 0
    yield from intake_campaign(settings)


def test_no_hostile_image_is_accepted_stored_or_answered_with_a_500(intake: Any, settings: Any) -> None:
    import time

    from campaign.models import Job

    settings.RATELIMIT_ENABLED = False
    for name, build in HOSTILE_IMAGES.items():
        body, content_type = _multipart(build())
        started = time.perf_counter()
        answer = asgi_request(
            "/api/jobs",
            method="POST",
            body=body,
            headers=[(b"content-type", content_type), (b"content-length", str(len(body)).encode())],
        )
        elapsed = time.perf_counter() - started
        assert 400 <= answer.status < 500, (name, answer.status, answer.body[:200])
        assert "code" in json.loads(answer.body), name
        assert elapsed < 3.0, (name, elapsed)  # refused from the header, not after a full decode
    assert Job.objects.count() == 0
    stored = [p for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file() and p.name != "planted.txt"]
    assert stored == []


# ------------------------------------------------------------------------------ forwarding headers and cookies

SPOOFED_HEADERS = [
    lambda n: [(b"x-forwarded-for", f"198.51.100.{n}".encode())],
    lambda n: [(b"x-forwarded-for", f"10.0.0.{n}, 127.0.0.1".encode())],
    lambda n: [(b"x-forwarded-for", b"unknown, " + str(n).encode())],
    lambda n: [(b"x-forwarded-for", ", ".join(f"203.0.{n}.{i}" for i in range(200)).encode())],
    lambda n: [(b"x-real-ip", f"198.51.100.{n}".encode())],
    lambda n: [(b"forwarded", f"for=198.51.100.{n};proto=https".encode())],
    lambda n: [(b"x-forwarded-proto", b"https"), (b"x-forwarded-host", f"evil{n}.example".encode())],
    lambda n: [(b"x-client-ip", f"198.51.100.{n}".encode()), (b"true-client-ip", b"127.0.0.1")],
]


def _tampered(device_id: str) -> str:
    return device_id[:-1] + ("B" if device_id.endswith("A") else "A")


ROTATED_COOKIES = [
    lambda n: [(b"cookie", f"{DEVICE_COOKIE}={secrets.token_urlsafe(18)}".encode())],
    lambda n: [(b"cookie", f"{DEVICE_COOKIE}={secrets.token_urlsafe(18)}:{'A' * 27}".encode())],  # forged
    lambda n: [(b"cookie", f"{DEVICE_COOKIE}={_tampered(device_id_new())}".encode())],
    lambda n: [(b"cookie", f"{DEVICE_COOKIE}={'x' * 3000}{n}".encode())],
    lambda n: [(b"cookie", f"{DEVICE_COOKIE}=%E2%98%83{n}; {DEVICE_COOKIE}=other{n}".encode())],
    lambda n: [(b"cookie", b"\xff\xfe garbage=" + str(n).encode())],
]


@pytest.fixture
def tight(intake: Any, settings: Any) -> Any:
    settings.RATELIMIT_ENABLED = True
    settings.RATELIMIT_ANONYMOUS = (2, 1.0)
    settings.RATELIMIT_DEVICE = (3, 1.0)
    return intake


def _empty_post(headers: list[tuple[bytes, bytes]], client: str) -> int:
    answer = asgi_request(
        "/api/jobs",
        method="POST",
        headers=[(b"content-type", b"application/x-www-form-urlencoded"), *headers],
        client=(client, 50000),
    )
    return answer.status


@pytest.mark.parametrize("case", range(len(SPOOFED_HEADERS) + len(ROTATED_COOKIES)))
def test_spoofed_headers_and_rotated_cookies_do_not_buy_a_fresh_bucket(tight: Any, case: int) -> None:
    reset_rate_limiter()
    cases = SPOOFED_HEADERS + ROTATED_COOKIES
    client = f"192.0.2.{case + 1}"
    statuses = [_empty_post(cases[case](n), client) for n in range(4)]
    assert statuses == [400, 400, 429, 429]  # the anonymous burst (2), then refused: one bucket


# ------------------------------------------------------------------------------ websocket frames

SITE = [(b"origin", b"http://testserver"), (b"host", b"testserver")]
WEBSOCKET_FRAMES: list[dict[str, Any]] = [
    {"type": "websocket.receive", "text": "not json"},
    {"type": "websocket.receive", "text": ""},
    {"type": "websocket.receive", "text": "{" * 10_000},
    {"type": "websocket.receive", "text": "[" * 100_000 + "]" * 100_000},
    {"type": "websocket.receive", "text": '{"type": "auth", "token": "' + "a" * 100_000 + '"}'},
    {"type": "websocket.receive", "bytes": b"\x00\x01\x02"},
    {"type": "websocket.receive", "bytes": b'{"type": "auth", "token": "x"}'},
    {"type": "websocket.receive", "text": "\ud800"},
    {"type": "websocket.receive", "text": '{"type": "auth", "token": null}'},
    {"type": "websocket.receive", "text": '{"type": "auth", "token": ["a"]}'},
    {"type": "websocket.receive", "text": '{"type": "auth", "token": {"$ne": ""}}'},
    {"type": "websocket.receive", "text": '{"type": "auth", "token": "' + secrets.token_urlsafe(32) + '"}'},
    {"type": "websocket.receive", "text": '{"type": "subscribe", "job": "../../other"}'},
    {"type": "websocket.receive", "text": "NaN"},
    {"type": "websocket.receive", "text": '{"type": "auth", "token": "x", "type": "ping"}'},
]


@pytest.mark.parametrize("frame", range(len(WEBSOCKET_FRAMES)))
def test_a_malformed_first_websocket_frame_closes_with_a_close_code(queued_job: Any, frame: int) -> None:
    from campaign.asgi import application

    job, _token = queued_job

    async def scenario() -> None:
        ws = WebsocketCommunicator(application, f"/ws/jobs/{job.id}/", headers=SITE)
        assert (await ws.connect())[0]
        await ws.send_input(WEBSOCKET_FRAMES[frame])
        closed = await ws.receive_output(timeout=5)
        if closed["type"] == "websocket.send":  # a wrong token is told so first, then closed
            assert json.loads(closed["text"])["type"] == "error"
            closed = await ws.receive_output(timeout=5)
        assert closed["type"] == "websocket.close" and closed["code"] in (4400, 4401, 4403, 4404), closed

    async_to_sync(scenario)()


# ------------------------------------------------------------------------------ the count the README reports

PATH_CASES = 3 * sum(
    len(PATH_TRICKS) * (len(MEDIA_QUERIES) if route.startswith("/media/") else 1) for route in FILE_ROUTES
)
TOTAL_CASES = (
    PATH_CASES
    + len(HOSTILE_IMAGES)
    + 4 * (len(SPOOFED_HEADERS) + len(ROTATED_COOKIES))
    + len(WEBSOCKET_FRAMES)
)


def test_the_suite_tries_what_the_readme_says() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert f"{TOTAL_CASES} hostile requests" in readme, TOTAL_CASES
