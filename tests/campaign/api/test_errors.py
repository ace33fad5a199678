"""Issue 10's smaller holes, through the served ASGI app (`campaign.asgi.application`): JSON errors
under /api/, a Content-Security-Policy, /metrics closed to strangers, admin logins throttled."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.asgi_http import AsgiAnswer, asgi_request

pytestmark = pytest.mark.django_db(transaction=True)


def _json(answer: AsgiAnswer) -> Any:
    assert answer.headers["content-type"].startswith("application/json"), answer.body[:200]
    return json.loads(answer.body)


def test_unknown_api_paths_answer_json_404() -> None:
    for path in ("/api/nope", "/api/jobs/not-a-uuid", "/api/jobs/00000000-0000-0000-0000-00000000000g"):
        answer = asgi_request(path)
        assert answer.status == 404
        assert _json(answer) == {"code": "not_found", "detail": "There is nothing here."}


def test_a_request_django_refuses_before_the_view_answers_json_400_under_api() -> None:
    answer = asgi_request("/api/campaign", headers=[(b"host", b"evil.example")])  # DisallowedHost
    assert answer.status == 400
    assert _json(answer)["code"] == "bad_request"


def test_an_unexpected_api_error_answers_json_500(monkeypatch: Any) -> None:
    from campaign.api import views

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("bug")

    monkeypatch.setattr(views.CampaignApi, "get", broken)
    answer = asgi_request("/api/campaign")
    assert answer.status == 500
    assert _json(answer)["code"] == "internal_error"
    assert b"bug" not in answer.body and b"Traceback" not in answer.body


def test_pages_outside_the_api_keep_html_errors() -> None:
    answer = asgi_request("/nope")
    assert answer.status == 404
    assert answer.headers["content-type"].startswith("text/html")


def test_pages_carry_a_content_security_policy() -> None:
    for path in ("/admin/login/", "/api/campaign", "/nope"):
        policy = asgi_request(path).headers.get("content-security-policy", "")
        directives = dict(part.strip().split(" ", 1) for part in policy.split(";") if part.strip())
        assert directives["script-src"] == "'self'", path  # no inline or foreign script
        assert directives["frame-ancestors"] == "'none'" and directives["object-src"] == "'none'"
        assert "blob:" in directives["img-src"]  # the photo preview


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


def _login(username: str, password: str, client: tuple[str, int], **extra: bytes) -> AsgiAnswer:
    page = asgi_request("/admin/login/", client=client)
    csrf = page.cookies()["csrftoken"]
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page.body)
    assert token is not None
    body = urlencode(
        {"csrfmiddlewaretoken": token.group(1).decode(), "username": username, "password": password}
    ).encode()
    headers = [
        (b"content-type", b"application/x-www-form-urlencoded"),
        (b"cookie", f"csrftoken={csrf}".encode()),
        *((name.replace("_", "-").encode(), value) for name, value in extra.items()),
    ]
    return asgi_request(
        "/admin/login/",
        method="POST",
        query_string=b"next=/admin/",
        body=body,
        headers=headers,
        client=client,
    )


def test_admin_login_is_locked_after_five_wrong_passwords_for_that_user_and_address() -> None:
    from django.contrib.auth.models import User

    User.objects.create_superuser("editor", password="right-password-1")
    attacker = ("198.51.100.9", 5000)
    for _ in range(4):
        assert _login("editor", "wrong", attacker).status == 200  # the form again, with an error
    assert _login("editor", "wrong", attacker).status == 429  # the fifth: locked
    assert _login("editor", "right-password-1", attacker).status == 429  # even the right one, now
    # Another address is not locked out (a stranger cannot lock an editor out) ...
    assert _login("editor", "right-password-1", ("192.0.2.44", 5000)).status == 302
    # ... and a client cannot pretend to be another address (no TRUSTED_PROXIES: header ignored).
    assert _login("editor", "right-password-1", attacker, x_forwarded_for=b"192.0.2.45").status == 429
