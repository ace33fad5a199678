"""/metrics closed to strangers, through the served ASGI app (`campaign.asgi.application`): loopback only
without a token, the token from everywhere with one."""

from __future__ import annotations

from typing import Any

import pytest

from tests.asgi_http import asgi_request

pytestmark = pytest.mark.django_db(transaction=True)


def test_metrics_are_closed_to_other_addresses_without_a_token(settings: Any) -> None:
    settings.METRICS_TOKEN = ""
    assert asgi_request("/metrics", client=("203.0.113.7", 4000)).status == 401
    spoofed = asgi_request(
        "/metrics", client=("203.0.113.7", 4000), headers=[(b"x-forwarded-for", b"127.0.0.1")]
    )
    assert spoofed.status == 401
    assert asgi_request("/metrics", client=("127.0.0.1", 4000)).status == 200


def test_metrics_with_a_token_need_it_from_everywhere(settings: Any) -> None:
    settings.METRICS_TOKEN = "scrape-secret"
    assert asgi_request("/metrics", client=("127.0.0.1", 4000)).status == 401
    bearer = [(b"authorization", b"Bearer scrape-secret")]
    assert asgi_request("/metrics", client=("203.0.113.7", 4000), headers=bearer).status == 200
