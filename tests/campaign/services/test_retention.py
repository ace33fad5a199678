"""Retention deletes exactly what is due: originals once unneeded, whole jobs after the campaign's period."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
import redis
from django.core.management import call_command
from django.utils import timezone

from campaign.services.retention import retention_sweep, sweep_slot_acquire

NAMES = ("photo.jpg", "face.asset", "poster-1.jpg", "film.mp4", "cover.jpg")


@pytest.fixture
def media(db, settings, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "media"), "allow_overwrite": True},
        },
    }
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    settings.ORIGINAL_PHOTO_GRACE_HOURS = 24
    return tmp_path / "media"


@pytest.fixture
def world(media: Path) -> dict[str, Any]:
    from campaign.models import Campaign, Film, FilmVariant

    short = Campaign.objects.create(slug="short", title="Short", retention_days=7)
    long = Campaign.objects.create(slug="long", title="Long", retention_days=30)
    variants = {}
    for campaign in (short, long):
        film = Film.objects.create(campaign=campaign, slug="f", title="F")
        variants[campaign.slug] = FilmVariant.objects.create(
            film=film, gender="female", template_video="films/x.mp4"
        )
    return {"short": short, "long": long, "variants": variants, "media": media}


def _job(
    world: dict[str, Any], campaign: str, state: str, *, age: timedelta, finished: bool, **fields: Any
) -> Any:
    from campaign.models import Job
    from campaign.services.storage import blob_put

    now = timezone.now()
    job = Job.objects.create(
        campaign=world[campaign],
        variant=world["variants"][campaign],
        gender="female",
        token_hash="0" * 64,
        state=state,
        created_at=now - age - timedelta(minutes=5),
        finished_at=now - age if finished else None,
        **fields,
    )
    keys = {name: f"jobs/{job.pk}/{name}" for name in NAMES}
    for key in keys.values():
        blob_put(key=key, data=b"x")
    job.photo_key = keys["photo.jpg"] if fields.get("photo_key", True) else ""
    job.face_asset_key = keys["face.asset"]
    job.poster_keys = [keys["poster-1.jpg"], "", "", "", ""]
    job.video_key, job.cover_key = keys["film.mp4"], keys["cover.jpg"]
    job.save()
    return job


def _files(world: dict[str, Any], job: Any) -> set[str]:
    folder = world["media"] / "jobs" / str(job.pk)
    return {path.name for path in folder.iterdir()} if folder.exists() else set()


def test_retention_deletes_exactly_what_is_due(world: dict[str, Any]) -> None:
    from campaign.models import JobState

    expired_done = _job(world, "short", JobState.DONE, age=timedelta(days=8), finished=True)
    fresh_done = _job(world, "short", JobState.DONE, age=timedelta(days=6), finished=True)
    expired_failed = _job(
        world, "short", JobState.FAILED, age=timedelta(days=8), finished=True, failure_code="x"
    )
    stuck_queued = _job(world, "short", JobState.QUEUED, age=timedelta(days=8), finished=False)
    long_campaign_done = _job(world, "long", JobState.DONE, age=timedelta(days=8), finished=True)
    refused_photo = _job(
        world, "short", JobState.FAILED, age=timedelta(hours=1), finished=True, failure_code="no_face"
    )
    transient_recent = _job(
        world, "short", JobState.FAILED, age=timedelta(hours=1), finished=True, failure_code="worker_lost"
    )
    transient_old = _job(
        world, "short", JobState.FAILED, age=timedelta(days=2), finished=True, failure_code="worker_lost"
    )
    queued_now = _job(world, "short", JobState.QUEUED, age=timedelta(minutes=1), finished=False)

    report = retention_sweep()

    for job in (expired_done, expired_failed, stuck_queued):
        job.refresh_from_db()
        assert job.state == JobState.DELETED and not job.photo_key and not job.video_key
        assert _files(world, job) == set()
    everything = set(NAMES)
    assert _files(world, fresh_done) == everything - {"photo.jpg"}  # results kept, original gone
    assert _files(world, long_campaign_done) == everything - {"photo.jpg"}
    assert _files(world, refused_photo) == everything - {"photo.jpg"}  # retry cannot help: at once
    assert _files(world, transient_recent) == everything  # an operator may still retry it
    assert _files(world, transient_old) == everything - {"photo.jpg"}
    assert _files(world, queued_now) == everything  # analysis still needs the photo
    assert report.jobs_expired == 3
    # Originals run first: fresh_done, long_campaign_done, refused_photo, transient_old, and the photos
    # of expired_done and expired_failed (the stuck queued job keeps its photo until expiry removes it).
    assert report.originals_deleted == 6


def test_sweeping_twice_deletes_nothing_more(world: dict[str, Any]) -> None:
    from campaign.models import JobState

    _job(world, "short", JobState.DONE, age=timedelta(days=8), finished=True)
    retention_sweep()

    assert retention_sweep().jobs_expired == 0
    assert retention_sweep().originals_deleted == 0


def test_management_command_reports_counts(world: dict[str, Any]) -> None:
    from campaign.models import JobState

    _job(world, "short", JobState.DONE, age=timedelta(days=9), finished=True)
    out = StringIO()

    call_command("retention_sweep", stdout=out)

    assert out.getvalue().strip() == "deleted 1 original photos and 1 expired jobs"


def test_only_one_periodic_chain_survives(valkey: redis.Redis) -> None:
    valkey.delete("protagonist:retention:lock")

    first, second = sweep_slot_acquire(valkey, 1.0), sweep_slot_acquire(valkey, 1.0)

    assert (first, second) == (True, False)
    assert 0 < valkey.pttl("protagonist:retention:lock") <= 900


def test_rewrap_command_moves_blobs_to_the_new_key(world: dict[str, Any], settings: Any) -> None:
    from cryptography.fernet import Fernet

    from campaign.models import JobState
    from campaign.privacy.envelope import reset_keyring
    from campaign.services.private_blobs import private_blob_get, private_blob_put

    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.PROTAGONIST_MASTER_KEYS = old_key
    reset_keyring()
    job = _job(world, "short", JobState.QUEUED, age=timedelta(minutes=1), finished=False)
    private_blob_put(key=job.photo_key, data=b"photo bytes")
    private_blob_put(key=job.face_asset_key, data=b"face asset bytes")
    settings.PROTAGONIST_MASTER_KEYS = f"{new_key},{old_key}"
    reset_keyring()
    out = StringIO()

    call_command("rewrap_encrypted", stdout=out)
    call_command("rewrap_encrypted", stdout=out)

    assert out.getvalue().splitlines() == [
        "re-wrapped 2 blobs; 0 were already under the current key",
        "re-wrapped 0 blobs; 2 were already under the current key",
    ]
    settings.PROTAGONIST_MASTER_KEYS = new_key  # the old key is retired
    reset_keyring()
    assert private_blob_get(key=job.photo_key) == b"photo bytes"
    assert private_blob_get(key=job.face_asset_key) == b"face asset bytes"
    reset_keyring()
