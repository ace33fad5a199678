"""Static files are served by WhiteNoise from the static roots only: no request path, however spelled,
reaches a file outside them (the hand-written view it replaced let `/static//etc/passwd` read any
file on the server, the secret key and the master key included)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.asgi_http import asgi_request

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def secret_beside_static(settings: Any) -> Path:
    secret = Path(settings.VAR_DIR) / "secret_key"
    if not secret.exists():
        secret.parent.mkdir(parents=True, exist_ok=True)
        secret.write_text("not-for-visitors")
    return secret.resolve()


def _traversals(target: Path) -> list[str]:
    absolute = str(target)
    return [
        f"/static/{absolute}",
        f"/static//{absolute.lstrip('/')}",
        f"/static/%2F{absolute.lstrip('/').replace('/', '%2F')}",
        "/static/../../../../../../etc/passwd",
        "/static/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/static/..%2F..%2F..%2F..%2Fetc%2Fpasswd",
        "/static/....//....//etc/passwd",
        "/static//etc/passwd",
        "/static/%2Fetc%2Fpasswd",
        "/static/\\etc\\passwd",
        "/static/campaign/../../campaign/settings.py",
        "/static/../campaign/settings.py",
    ]


def test_no_static_path_reads_a_file_outside_the_static_roots(secret_beside_static: Path) -> None:
    from urllib.parse import unquote

    for path in _traversals(secret_beside_static):
        answer = asgi_request(unquote(path), raw_path=path.encode())
        assert answer.status in (400, 404), (path, answer.status)
        assert b"root:" not in answer.body and b"not-for-visitors" not in answer.body, path
        assert b"SECRET_KEY" not in answer.body, path


def test_a_static_file_is_still_served_with_its_type() -> None:
    static_root = Path(__file__).resolve().parents[2] / "static"
    some_file = next(p for p in sorted(static_root.rglob("*.js")))
    relative = some_file.relative_to(static_root).as_posix()
    answer = asgi_request(f"/static/{relative}")
    assert answer.status == 200
    assert answer.body == some_file.read_bytes()
    assert "javascript" in answer.headers["content-type"]
