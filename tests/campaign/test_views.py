"""The H5 page (`campaign.views.home`), with a campaign and with nothing to show, and the media view
(`campaign.views.media`): Range requests, signatures, deleted jobs."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import Client
from rest_framework.test import APIClient

from campaign.models import Campaign
from campaign.services.storage import blob_signed_url


@pytest.fixture
def client() -> APIClient:
    return APIClient()


@pytest.mark.django_db
def test_home_without_a_campaign_says_none_is_running() -> None:
    assert not Campaign.objects.exists()

    response = Client().get("/")

    html = response.content.decode()
    assert response.status_code == 200
    assert "<title>Protagonist</title>" in html
    assert 'data-i18n="closed">活动暂未开放，请稍后再来。</p>' in html
    assert 'data-en="Protagonist"' in html
    assert 'id="consent"' not in html  # no upload form without a campaign


def test_media_answers_ranges_with_206_for_ios_video(client: APIClient, db: Any) -> None:
    payload = bytes(range(256)) * 40
    key = default_storage.save("jobs/00000000-0000-4000-8000-000000000000/film.mp4", ContentFile(payload))
    url = blob_signed_url(key=key)
    head = client.get(url, HTTP_RANGE="bytes=0-1")
    assert head.status_code == 206
    assert head["Content-Range"] == f"bytes 0-1/{len(payload)}"
    assert head["Content-Type"] == "video/mp4"
    assert b"".join(head) == payload[:2]
    tail = client.get(url, HTTP_RANGE="bytes=-100")
    assert tail["Content-Range"] == f"bytes {len(payload) - 100}-{len(payload) - 1}/{len(payload)}"
    assert b"".join(tail) == payload[-100:]
    assert client.get(url, HTTP_RANGE=f"bytes={len(payload)}-").status_code == 416
    full = client.get(url)
    assert full.status_code == 200
    assert full["Accept-Ranges"] == "bytes"


def test_media_refuses_tampered_or_expired_signatures(client: APIClient, db: Any) -> None:
    key = default_storage.save("posters/p.jpg", ContentFile(b"x"))
    url = blob_signed_url(key=key)
    assert client.get(url.replace("posters/p.jpg", "posters/q.jpg")).status_code == 403
    # one hex digit of the signature changed (to another digit: "00" was already there 1 time in 256)
    tampered = url[:-1] + ("1" if url[-1] == "0" else "0")
    assert client.get(tampered).status_code == 403
    expired = blob_signed_url(key=key).split("?")[0] + "?e=1000&s=" + url.split("s=")[1]
    assert client.get(expired).status_code == 403


def test_media_of_a_deleted_job_answers_410(client: APIClient, queued_job: Any) -> None:
    job, token = queued_job
    key = default_storage.save(f"jobs/{job.id}/poster-1.jpg", ContentFile(b"p"))
    url = blob_signed_url(key=key)
    client.delete(f"/api/jobs/{job.id}", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert client.get(url).status_code == 410


def test_expired_link_answers_403_then_410_once_its_job_is_deleted(
    client: APIClient, queued_job: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import campaign.services.storage as storage

    job, token = queued_job
    key = default_storage.save(f"jobs/{job.id}/poster-1.jpg", ContentFile(b"p"))
    real_time = storage.time.time
    monkeypatch.setattr(storage.time, "time", lambda: real_time() - 7200)
    expired = blob_signed_url(key=key, ttl_s=60)  # authentic, expired an hour ago
    monkeypatch.setattr(storage.time, "time", real_time)
    assert client.get(expired).status_code == 403
    client.delete(f"/api/jobs/{job.id}", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert client.get(expired).status_code == 410


def test_h5_page_renders_the_form_with_an_unticked_consent(client: APIClient, ready_campaign: Any) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert "no-cache" in response["Cache-Control"]
    html = response.content.decode()
    assert '<html lang="zh-CN">' in html
    assert (
        '<input id="consent" type="checkbox"' in html
        and "checked" not in html.split('id="consent"')[1].split(">")[0]
    )
    assert "playsinline" in html and "x5-playsinline" in html
    assert 'accept="image/*"' in html
