"""The production storage path against a real S3 server: django-storages S3Storage on SeaweedFS."""

from __future__ import annotations

import io
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from PIL import Image

from campaign.privacy.envelope import reset_keyring
from campaign.services.private_blobs import private_blob_get, private_blob_put
from tests.campaign.services.seaweed import SeaweedS3

MARKER = b"PLAINTEXT-MARKER-" + uuid.uuid4().hex.encode()


_buckets: dict[str, str] = {}


def _media_bucket(server: SeaweedS3) -> str:
    # One bucket per server: every SeaweedFS bucket is a collection with its own volumes.
    if server.endpoint_url not in _buckets:
        server.client().create_bucket(Bucket="media")
        _buckets[server.endpoint_url] = "media"
    return _buckets[server.endpoint_url]


@pytest.fixture
def s3_storage(seaweed_s3: SeaweedS3, settings: Any, db: Any) -> Any:
    """Django's default storage switched to S3Storage on SeaweedFS, as production settings configure it."""
    bucket = _media_bucket(seaweed_s3)
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "campaign.services.storage_s3.TaggedS3Storage",
            "OPTIONS": {
                "bucket_name": bucket,
                "endpoint_url": seaweed_s3.endpoint_url,
                "region_name": "us-east-1",
                "access_key": seaweed_s3.access_key,
                "secret_key": seaweed_s3.secret_key,
                "addressing_style": "path",
                "signature_version": "s3v4",
                "querystring_auth": True,
                "querystring_expire": 3600,
                "file_overwrite": True,
                "default_acl": None,
                "object_parameters": {"ServerSideEncryption": "AES256"},
            },
        },
    }
    settings.PROTAGONIST_MASTER_KEYS = Fernet.generate_key().decode()
    reset_keyring()
    yield bucket
    reset_keyring()


def _jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 30, 30)).save(buffer, "JPEG", comment=MARKER)
    return buffer.getvalue()


def test_blobs_round_trip_through_s3_with_server_side_encryption(
    seaweed_s3: SeaweedS3, s3_storage: str
) -> None:
    from campaign.services.storage import blob_delete, blob_exists, blob_get, blob_put

    key = f"jobs/{uuid.uuid4()}/poster-1.jpg"
    blob_put(key=key, data=MARKER + b" poster bytes")

    assert blob_get(key=key) == MARKER + b" poster bytes"
    head = seaweed_s3.client().head_object(Bucket=s3_storage, Key=key)
    assert head["ServerSideEncryption"] == "AES256"
    blob_delete(key=key)
    assert not blob_exists(key=key)


def test_photo_reaches_s3_only_encrypted(seaweed_s3: SeaweedS3, s3_storage: str) -> None:
    photo = _jpeg()
    key = f"jobs/{uuid.uuid4()}/photo.jpg"

    private_blob_put(key=key, data=photo)

    raw = seaweed_s3.client().get_object(Bucket=s3_storage, Key=key)["Body"].read()
    assert b"JFIF" not in raw and MARKER not in raw and b"\xff\xd8\xff" not in raw
    assert private_blob_get(key=key) == photo


def test_server_side_encryption_keeps_plaintext_off_the_volume_disk(
    seaweed_s3: SeaweedS3, s3_storage: str
) -> None:
    from campaign.services.storage import blob_put

    blob_put(key=f"jobs/{uuid.uuid4()}/cover.jpg", data=MARKER * 64)

    data_dir = Path(seaweed_s3.log_path).parent / "data"
    assert not any(MARKER in path.read_bytes() for path in data_dir.rglob("*.dat"))


def test_object_url_behind_the_redirect_works_then_expires(s3_storage: str) -> None:
    from campaign.services.storage import blob_object_url, blob_put

    key = f"jobs/{uuid.uuid4()}/film.mp4"
    blob_put(key=key, data=b"film bytes")
    url = blob_object_url(key=key, ttl_s=2)

    assert "X-Amz-Signature=" in url and "X-Amz-Expires=2" in url
    assert urllib.request.urlopen(url, timeout=10).read() == b"film bytes"
    tampered = url.replace("film.mp4", "poster-1.jpg")
    with pytest.raises(urllib.error.HTTPError) as forged:
        urllib.request.urlopen(tampered, timeout=10)
    assert forged.value.code == 403
    time.sleep(3.1)
    with pytest.raises(urllib.error.HTTPError) as expired:
        urllib.request.urlopen(url, timeout=10)
    assert expired.value.code == 403 and b"expired" in expired.value.read().lower()


def _signed_in_the_past(monkeypatch: pytest.MonkeyPatch, key: str) -> str:
    """An authentic app link for `key` whose expiry passed an hour ago."""
    import campaign.services.storage as storage

    real_time = time.time
    monkeypatch.setattr(storage.time, "time", lambda: real_time() - 2 * 3600)
    try:
        return storage.blob_signed_url(key=key, ttl_s=60)
    finally:
        monkeypatch.setattr(storage.time, "time", real_time)


def test_result_link_redirects_to_the_object_then_answers_410_once_the_job_is_deleted(
    seaweed_s3: SeaweedS3, s3_storage: str, queued_job: Any, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rest_framework.test import APIClient

    from campaign.models import JobState
    from campaign.selectors import job_status
    from campaign.services.jobs import job_advance, job_poster_add
    from campaign.services.storage import blob_put

    job, token = queued_job
    job_advance(job_id=job.id, from_state=JobState.QUEUED, to_state=JobState.ANALYZING)
    job_advance(job_id=job.id, from_state=JobState.ANALYZING, to_state=JobState.POSTERS)
    key = blob_put(key=f"jobs/{job.id}/poster-1.jpg", data=b"\xff\xd8poster bytes")
    job_poster_add(job_id=job.id, position=1, key=key)
    job.refresh_from_db()
    link = job_status(job=job)["posters"][0]["url"]  # what the API and the websocket hand out
    stale_link = _signed_in_the_past(monkeypatch, key)
    client = APIClient()

    assert link.startswith(f"/media/jobs/{job.id}/poster-1.jpg?e=")  # an app URL, never the bucket's
    redirect = client.get(link)
    assert redirect.status_code == 302
    assert redirect["Cache-Control"] == "no-store"
    target = redirect["Location"]
    assert target.startswith(f"{seaweed_s3.endpoint_url}/{s3_storage}/jobs/{job.id}/poster-1.jpg?")
    assert f"X-Amz-Expires={settings.OBJECT_URL_TTL}" in target
    assert urllib.request.urlopen(target, timeout=10).read() == b"\xff\xd8poster bytes"
    ranged = urllib.request.urlopen(
        urllib.request.Request(target, headers={"Range": "bytes=2-7"}), timeout=10
    )
    assert (ranged.status, ranged.read()) == (206, b"poster")
    assert client.get(stale_link).status_code == 403  # authentic but expired, job alive
    assert client.get(link.replace("poster-1", "poster-2")).status_code == 403  # forged

    assert client.delete(f"/api/jobs/{job.id}", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 204

    assert client.get(link).status_code == 410
    assert client.get(stale_link).status_code == 410  # a deleted job's links answer 410, expired or not
    with pytest.raises(urllib.error.HTTPError) as gone:  # and the object itself is gone
        urllib.request.urlopen(target, timeout=10)
    assert gone.value.code == 404


def test_unsigned_access_to_the_bucket_is_refused(s3_storage: str, seaweed_s3: SeaweedS3) -> None:
    from campaign.services.storage import blob_put

    key = f"jobs/{uuid.uuid4()}/poster-2.jpg"
    blob_put(key=key, data=b"poster")

    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{seaweed_s3.endpoint_url}/{s3_storage}/{key}", timeout=10)
    assert refused.value.code == 403


def test_objects_carry_campaign_and_purpose_as_metadata_and_tags(
    seaweed_s3: SeaweedS3, s3_storage: str
) -> None:
    from campaign.services.storage import blob_put

    client = seaweed_s3.client()
    photo_key = f"jobs/{uuid.uuid4()}/photo.jpg"
    private_blob_put(key=photo_key, data=_jpeg(), campaign="summer-film")
    blob_put(key="films/teaser/female.mp4", data=b"template")

    photo_tags = {
        tag["Key"]: tag["Value"]
        for tag in client.get_object_tagging(Bucket=s3_storage, Key=photo_key)["TagSet"]
    }
    assert photo_tags == {"app": "protagonist", "purpose": "original-photo", "campaign": "summer-film"}
    assert client.head_object(Bucket=s3_storage, Key=photo_key)["Metadata"]["purpose"] == "original-photo"
    film_tags = {
        tag["Key"]: tag["Value"]
        for tag in client.get_object_tagging(Bucket=s3_storage, Key="films/teaser/female.mp4")["TagSet"]
    }
    assert film_tags == {"app": "protagonist", "purpose": "film-template"}


def _cdn_storage(**extra: Any) -> Any:
    from campaign.services.storage_s3 import TaggedS3Storage

    return TaggedS3Storage(
        bucket_name="media",
        endpoint_url="http://127.0.0.1:9",
        region_name="us-east-1",
        access_key="k",
        secret_key="s",
        custom_domain="cdn.protagonist.example",
        querystring_auth=True,
        **extra,
    )


def test_cdn_domain_without_signing_keys_refuses_to_start() -> None:
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured, match="CDN URLs would not be signed"):
        _cdn_storage()


def test_cdn_result_urls_are_signed_and_expire() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    storage = _cdn_storage(cloudfront_key_id="K2JCJMDEHXQW5F", cloudfront_key=pem)

    url = storage.url("jobs/0b7e/poster-1.jpg", expire=120)

    assert url.startswith("https://cdn.protagonist.example/jobs/0b7e/poster-1.jpg?")
    assert "Expires=" in url and "Signature=" in url and "Key-Pair-Id=K2JCJMDEHXQW5F" in url
    expires = int(url.split("Expires=")[1].split("&")[0])
    assert 100 <= expires - time.time() <= 130
