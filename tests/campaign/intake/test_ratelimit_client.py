"""The device id is the server's (signed), and the client address comes from the right-most hop that
is not one of our proxies: unit rules, then through the served ASGI app (`campaign.asgi.application`)."""

from __future__ import annotations

import secrets
from typing import Any

import pytest
from django.core import signing

from campaign.intake.device import DEVICE_COOKIE, device_id_new, device_id_sign, device_id_verify
from campaign.intake.ratelimit import reset_rate_limiter
from campaign.security.proxies import client_address, trusted_networks_parse
from tests.asgi_http import asgi_request
from tests.campaign.conftest import intake_campaign

PROXIES = trusted_networks_parse(["10.0.0.0/8", "2001:db8::/32"])


def test_issued_device_id_verifies_and_anything_else_does_not(settings: Any) -> None:
    issued = device_id_new()
    raw = issued.rsplit(":", 1)[0]

    assert device_id_verify(issued) == raw
    assert device_id_verify(raw) is None  # unsigned: made up by the client
    assert device_id_verify(f"{raw}:{'A' * 27}") is None  # forged signature
    assert device_id_verify(device_id_sign("x" * 16)[:-1] + "Q") is None  # tampered
    assert device_id_verify(signing.Signer(salt="other").sign(raw)) is None  # another purpose's signature
    assert device_id_verify("") is None and device_id_verify(None) is None
    settings.SECRET_KEY = "rotated-" + secrets.token_urlsafe(40)
    assert device_id_verify(issued) is None  # a key the server no longer has


def test_device_ids_survive_a_secret_key_rotation_with_fallbacks(settings: Any) -> None:
    issued = device_id_new()
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "rotated-" + secrets.token_urlsafe(40)

    assert device_id_verify(issued) == issued.rsplit(":", 1)[0]


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "client"),
    [
        ("203.0.113.7", "6.6.6.6", "203.0.113.7"),  # peer is no proxy of ours: XFF is the client's lie
        ("10.1.2.3", "198.51.100.9", "198.51.100.9"),
        ("10.1.2.3", "6.6.6.6, 198.51.100.9", "198.51.100.9"),  # left part written by the client
        ("10.1.2.3", "6.6.6.6, 198.51.100.9, 10.9.9.9", "198.51.100.9"),  # two proxies of ours
        ("10.1.2.3", "10.7.7.7, 10.9.9.9", "10.7.7.7"),  # only our proxies: the left-most one
        ("10.1.2.3", "", "10.1.2.3"),
        ("10.1.2.3", "6.6.6.6, not-an-ip", "10.1.2.3"),  # garbage where our proxy writes: stop there
        ("10.1.2.3", "2001:db8::5, 2001:db9::1", "2001:db9::1"),
        ("10.1.2.3", "[2001:db9::2]:4711", "2001:db9::2"),
        ("10.1.2.3", "198.51.100.9:5555", "198.51.100.9"),
    ],
)
def test_client_is_the_right_most_address_that_is_not_a_trusted_proxy(
    peer: str, forwarded_for: str, client: str
) -> None:
    assert client_address(peer, forwarded_for, PROXIES) == client


def test_no_trusted_proxies_means_forwarded_for_is_ignored() -> None:
    assert client_address("127.0.0.1", "6.6.6.6", ()) == "127.0.0.1"


def test_a_typo_in_trusted_proxies_is_refused() -> None:
    with pytest.raises(ValueError, match=r"'10\.0\.0\.0/33' is not an IP address or CIDR"):
        trusted_networks_parse(["10.0.0.0/33"])


# ------------------------------------------------------------------------------ through the served app


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
