"""Editors' admin (campaign.admin): uploading a film variant with its posters starts ingest in a worker;
operators' job actions and filters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dramatiq
import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from campaign import demo
from campaign.broker import broker
from campaign.models import Campaign, Film, FilmVariant, IngestStatus, Job, JobState
from campaign.services.jobs import job_fail


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_uploading_a_variant_in_admin_ingests_it_and_prepares_posters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import swap.film.ingest
    import swap.film.render

    glasses_seen: list[tuple[str, str]] = []  # (engine call, the glasses choice it was given)
    for module, name in ((swap.film.ingest, "ingest_film"), (swap.film.render, "render_film_frame")):
        original = getattr(module, name)

        def recording(*args: Any, _name: str = name, _original: Any = original, **kwargs: Any) -> Any:
            glasses_seen.append((_name, kwargs.get("glasses", "")))
            return _original(*args, **kwargs)

        monkeypatch.setattr(module, name, recording)
    user = get_user_model().objects.create_superuser(username="editor", password="pw-editor-123")
    client = Client()
    client.force_login(user)
    campaign = Campaign.objects.create(slug="a", title="A")
    film = Film.objects.create(campaign=campaign, slug="f", title="F")
    video = demo.build_demo_film(tmp_path / "clip.mp4", seconds=2, size=(216, 384))
    form: dict[str, Any] = {
        "film": film.pk,
        "gender": "female",
        "glasses": "kept",
        "template_video": SimpleUploadedFile("clip.mp4", video.read_bytes(), content_type="video/mp4"),
        "posters-TOTAL_FORMS": "5",
        "posters-INITIAL_FORMS": "0",
        "posters-MIN_NUM_FORMS": "0",
        "posters-MAX_NUM_FORMS": "5",
    }
    for index in range(5):
        form[f"posters-{index}-position"] = str(index + 1)
        form[f"posters-{index}-qr_corner"] = "auto"
        form[f"posters-{index}-image"] = SimpleUploadedFile(
            f"p{index}.jpg", demo.build_demo_poster(index), content_type="image/jpeg"
        )
    broker.flush_all()
    response = client.post("/admin/campaign/filmvariant/add/", form)
    assert response.status_code == 302, _form_errors(response)
    variant = FilmVariant.objects.get(film=film, gender="female")
    assert variant.ingest_status == IngestStatus.PENDING
    assert broker.queues["ingest"].qsize() == 6  # one ingest + five poster preparations, after commit
    assert "cpu" not in broker.queues or broker.queues["cpu"].qsize() == 0  # never ahead of visitors

    from workers import actors  # noqa: F401  (declares the actors the worker below runs)

    worker = dramatiq.Worker(broker, worker_timeout=50, worker_threads=1)
    worker.start()
    try:
        broker.join("ingest", fail_fast=True, timeout=120_000)
    finally:
        worker.stop()
    variant.refresh_from_db()
    assert variant.ingest_status == IngestStatus.READY, variant.ingest_error
    assert variant.ingest_progress == 1.0
    assert variant.ingest_report["frames"] == 50
    assert variant.preview.name == f"films/previews/{variant.pk}-1.jpg"  # a frame with the sample face
    # the editor's glasses choice reached the ingest (its cached fields) and the film-path preview
    assert glasses_seen == [("ingest_film", "kept"), ("render_film_frame", "kept")]
    assert variant.ingest_report["glasses_frames"] == 0  # the demo film's face wears none
    assert [p.prepare_status for p in variant.posters.all()] == [IngestStatus.READY] * 5

    page = client.get(f"/admin/campaign/filmvariant/{variant.pk}/change/").content.decode()
    assert "100.0%" in page  # face coverage
    assert "preview with a sample face" in page.lower()
    assert page.count("/media/posters/previews/") == 5  # each template rendered with a sample face
    assert page.count("/media/films/previews/") == 1
    assert "actor&#x27;s glasses found" in page.lower() or "actor's glasses found" in page.lower()

    broker.flush_all()
    client.post(
        "/admin/campaign/filmvariant/",
        {"action": "reingest", "_selected_action": [variant.pk]},
    )
    variant.refresh_from_db()
    assert (variant.ingest_status, variant.ingest_generation) == (IngestStatus.PENDING, 2)
    assert broker.queues["ingest"].qsize() == 1
    broker.flush_all()


def test_the_glasses_choices_are_the_engines() -> None:
    from campaign.models import FilmGlasses
    from swap.film.glasses import DEFAULT_GLASSES, GLASSES_MODES

    assert tuple(FilmGlasses.values) == GLASSES_MODES
    assert FilmVariant._meta.get_field("glasses").default == DEFAULT_GLASSES


def test_a_new_glasses_choice_ingests_the_film_again() -> None:
    from campaign.admin import _needs_ingest

    assert _needs_ingest(["glasses"]) and _needs_ingest(["template_video", "gender"])
    assert not _needs_ingest(["gender"])


def test_the_admin_says_what_the_ingest_found_of_the_actors_glasses() -> None:
    from campaign.admin import glasses_found_text

    assert glasses_found_text({}) == "-"  # not ingested yet
    assert "re-ingest" in glasses_found_text({"frames": 40, "coverage": 1.0})  # an ingest from before
    assert glasses_found_text({"frames": 40, "glasses_frames": 0}) == "none"
    assert glasses_found_text({"frames": 40, "glasses_frames": 38}) == "in 38 of 40 frames"


def test_job_actions_retry_and_delete_call_the_services(editor_client: Client, queued_job: Any) -> None:
    job, _ = queued_job
    job_fail(job_id=job.id, code="internal_error", message="x")
    editor_client.post("/admin/campaign/job/", {"action": "retry", "_selected_action": [str(job.id)]})
    assert Job.objects.get(pk=job.id).state == JobState.QUEUED
    editor_client.post("/admin/campaign/job/", {"action": "delete_data", "_selected_action": [str(job.id)]})
    job.refresh_from_db()
    assert (job.state, job.photo_key) == (JobState.DELETED, "")


def test_job_list_filters_by_failure_code(editor_client: Client, queued_job: Any) -> None:
    job, _ = queued_job
    job_fail(job_id=job.id, code="no_face", message="x")
    hit = editor_client.get("/admin/campaign/job/?failure_code=no_face").content.decode()
    miss = editor_client.get("/admin/campaign/job/?failure_code=too_dark").content.decode()
    assert str(job.id) in hit
    assert str(job.id) not in miss


def _form_errors(response: Any) -> Any:
    context = response.context or {}
    errors: list[Any] = []
    if "adminform" in context:
        errors.append(context["adminform"].form.errors)
    for inline in context.get("inline_admin_formsets", []):
        errors.append(inline.formset.errors)
        errors.append(inline.formset.non_form_errors())
    return errors
