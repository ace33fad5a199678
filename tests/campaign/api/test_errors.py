"""JSON errors under /api/ (campaign.api.errors), through the served ASGI app (`campaign.asgi.application`):
even for requests Django refuses before the view; pages outside the API keep HTML errors."""

from __future__ import annotations

import json
from typing import Any

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
