"""Which rate-limit bucket a request draws from, through the served ASGI app (`campaign.asgi.application`):
a signed device id gets the device limit, a made-up one the tighter anonymous limit; the client address is
the hop our trusted proxies appended (campaign.security.proxies); the page hands out the signed id."""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from campaign.intake.device import DEVICE_COOKIE, device_id_new, device_id_verify
from campaign.intake.ratelimit import reset_rate_limiter
from tests.asgi_http import asgi_request
from tests.campaign.conftest import intake_campaign


@pytest.fixture
def limited(transactional_db: Any, settings: Any) -> Any:
    settings.RATELIMIT_ENABLED = True
    settings.API_CONN_MAX_AGE = 0
    campaign = yield from intake_campaign(settings)
    return campaign


@pytest.fixture
def tight(settings: Any, limited: Any) -> Any:
    settings.RATELIMIT_ANONYMOUS = (2, 1.0)
    settings.RATELIMIT_DEVICE = (3, 1.0)
    reset_rate_limiter()
    return limited


def _post(headers: list[tuple[bytes, bytes]], client: str = "203.0.113.7", peer_port: int = 50000) -> Any:
    """An intake POST that the rate limiter sees (an empty form: the view answers 400 when allowed)."""
    return asgi_request(
        "/api/jobs",
        method="POST",
        headers=[(b"content-type", b"application/x-www-form-urlencoded"), *headers],
        client=(client, peer_port),
    )


def test_a_fresh_made_up_device_cookie_per_request_gets_the_anonymous_limit(tight: Any) -> None:
    answers = [
        _post([(b"cookie", f"{DEVICE_COOKIE}={secrets.token_urlsafe(18)}".encode())]) for _ in range(4)
    ]

    assert [a.status for a in answers] == [400, 400, 429, 429]
    assert b'"code": "rate_limited"' in answers[2].body and b"this browser" in answers[2].body


def test_a_signed_device_gets_the_device_limit(tight: Any) -> None:
    cookie = [(b"cookie", f"{DEVICE_COOKIE}={device_id_new()}".encode())]

    assert [_post(cookie).status for _ in range(4)] == [400, 400, 400, 429]


def test_spoofed_forwarded_for_does_not_give_a_new_bucket(tight: Any) -> None:
    answers = [
        _post([(b"x-forwarded-for", f"198.51.100.{n}".encode())], client="127.0.0.1") for n in range(4)
    ]

    assert [a.status for a in answers] == [400, 400, 429, 429]


def test_behind_a_trusted_proxy_the_client_is_the_hop_it_appended(tight: Any, settings: Any) -> None:
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]

    def via_proxy(forwarded_for: str) -> int:
        return _post([(b"x-forwarded-for", forwarded_for.encode())], client="10.0.0.2").status

    spoofed = [via_proxy(f"6.6.6.{n}, 198.51.100.20") for n in range(4)]  # client varies its left part
    neighbour = via_proxy("198.51.100.21")

    assert spoofed == [400, 400, 429, 429]
    assert neighbour == 400  # another client behind the same proxy has its own bucket


def test_page_load_hands_out_a_signed_device_id(limited: Any) -> None:
    page = asgi_request("/")
    cookie = page.headers.get("set-cookie", "")

    assert page.status == 200
    assert cookie.startswith(f"{DEVICE_COOKIE}=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    value = cookie.split(";", 1)[0].split("=", 1)[1].strip('"')
    assert device_id_verify(value) is not None
