"""What the security settings do to served requests, through the served ASGI app
(`campaign.asgi.application`): a Content-Security-Policy on every page, admin logins throttled (django-axes)."""

from __future__ import annotations

import re
from urllib.parse import urlencode

import pytest

from tests.asgi_http import AsgiAnswer, asgi_request

pytestmark = pytest.mark.django_db(transaction=True)


def test_pages_carry_a_content_security_policy() -> None:
    for path in ("/admin/login/", "/api/campaign", "/nope"):
        policy = asgi_request(path).headers.get("content-security-policy", "")
        directives = dict(part.strip().split(" ", 1) for part in policy.split(";") if part.strip())
        assert directives["script-src"] == "'self'", path  # no inline or foreign script
        assert directives["frame-ancestors"] == "'none'" and directives["object-src"] == "'none'"
        assert "blob:" in directives["img-src"]  # the photo preview


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
