"""The campaign's data: what editors publish (campaign, films, variants, posters) and visitors' jobs.

Only services (campaign.services) change these rows; models hold structure and small derived facts.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TypeAlias

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

# A job's primary key as services take it: the UUID, or its text from a message or a URL.
JobId: TypeAlias = uuid.UUID | str


class Gender(models.TextChoices):
    FEMALE = "female", _("Female")
    MALE = "male", _("Male")


class AgePolicy(models.TextChoices):
    MIN_AGE_OR_GUARDIAN = "min_age_or_guardian", _("At least the minimum age, or a guardian's consent")
    MIN_AGE_ONLY = "min_age_only", _("At least the minimum age only")


class AgeConfirmation(models.TextChoices):
    SELF = "self", _("Visitor confirmed the minimum age")
    GUARDIAN = "guardian", _("Guardian consented")


class LabelPosition(models.TextChoices):
    BOTTOM_RIGHT = "bottom-right", _("Bottom right")
    BOTTOM_LEFT = "bottom-left", _("Bottom left")
    TOP_RIGHT = "top-right", _("Top right")
    TOP_LEFT = "top-left", _("Top left")


class QrCorner(models.TextChoices):
    AUTO = "auto", _("Auto (a bottom corner free of the AI label)")
    BOTTOM_LEFT = "bottom-left", _("Bottom left")
    BOTTOM_RIGHT = "bottom-right", _("Bottom right")
    TOP_LEFT = "top-left", _("Top left")
    TOP_RIGHT = "top-right", _("Top right")


class Campaign(models.Model):
    """A promotion running on one H5 page: its dates, promises to visitors and capacity limits."""

    slug = models.SlugField(unique=True)
    title = models.CharField(max_length=120)
    title_en = models.CharField(max_length=120, blank=True)
    description = models.TextField(blank=True)
    description_en = models.TextField(blank=True)
    starts_at = models.DateTimeField(default=timezone.now)
    ends_at = models.DateTimeField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    retention_days = models.PositiveIntegerField(
        default=7, help_text="Results are deleted this many days after a job finishes."
    )
    max_queued_jobs = models.PositiveIntegerField(
        default=10_000, help_text="Intake refuses new jobs (503 + Retry-After) beyond this many waiting."
    )
    max_wait_seconds = models.PositiveIntegerField(
        default=600, help_text="Intake refuses new jobs whose estimated wait exceeds this promise."
    )
    min_age = models.PositiveIntegerField(
        default=14, help_text="Visitors confirm they are at least this old."
    )
    # Consent and labelling (campaign.consent): PIPL art. 28/31 and the deep-synthesis labelling rules.
    age_policy = models.CharField(
        max_length=20,
        choices=AgePolicy.choices,
        default=AgePolicy.MIN_AGE_OR_GUARDIAN,
        help_text="Who may take part: visitors of at least min_age, or also younger ones with a guardian's consent.",
    )
    consent_version = models.CharField(
        max_length=40,
        default="2025-11",
        help_text="Version of the consent text shown on the page; recorded on every job. Bump it when the text changes.",
    )
    ai_label_text = models.CharField(
        max_length=60,
        default="AI生成 · AI-generated",
        help_text="Visible label drawn on every poster and video (required for face-swapped output).",
    )
    ai_label_position = models.CharField(
        max_length=12, choices=LabelPosition.choices, default=LabelPosition.BOTTOM_RIGHT
    )
    share_url = models.URLField(
        blank=True,
        help_text="Where the QR code on posters and shared links point; empty = PUBLIC_BASE_URL or this site.",
    )
    film_seconds = models.PositiveSmallIntegerField(
        default=15,
        help_text="The film length the campaign promises (description, page); the admin warns when an "
        "ingested film differs by more than a second. The page always shows each film's real length.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("-starts_at",)

    def __str__(self) -> str:
        return self.title


class Film(models.Model):
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="films")
    slug = models.SlugField()
    title = models.CharField(max_length=120)
    title_en = models.CharField(max_length=120, blank=True)
    sort_order = models.PositiveIntegerField(default=0)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ("sort_order", "id")
        constraints = (models.UniqueConstraint(fields=["campaign", "slug"], name="film_slug_per_campaign"),)

    def __str__(self) -> str:
        return self.title


class FilmGlasses(models.TextChoices):
    """The film actor's glasses (the engine's `swap.film.glasses.GLASSES_MODES`)."""

    REMOVED = "removed", _("Removed: the visitor's face is drawn over them")
    KEPT = "kept", _("Kept: the actor's frame stays in front of the visitor's face")


class IngestStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    RUNNING = "running", _("Running")
    READY = "ready", _("Ready")
    FAILED = "failed", _("Failed")


class FilmVariant(models.Model):
    """One cut of a film for one gender: the template video and its precomputed film track."""

    film = models.ForeignKey(Film, on_delete=models.CASCADE, related_name="variants")
    gender = models.CharField(max_length=8, choices=Gender.choices)
    template_video = models.FileField(upload_to="films/", max_length=300)
    film_track = models.FileField(upload_to="films/", max_length=300, blank=True)
    ingest_status = models.CharField(
        max_length=8, choices=IngestStatus.choices, default=IngestStatus.PENDING, db_index=True
    )
    ingest_progress = models.FloatField(default=0.0)
    ingest_report = models.JSONField(default=dict, blank=True)
    ingest_error = models.TextField(blank=True)
    ingest_started_at = models.DateTimeField(null=True, blank=True)
    ingest_finished_at = models.DateTimeField(null=True, blank=True)
    # One film frame with a sample face swapped in, rendered after ingest for editors to judge.
    preview = models.FileField(upload_to="films/", max_length=300, blank=True)
    glasses = models.CharField(
        max_length=8,
        choices=FilmGlasses.choices,
        default=FilmGlasses.REMOVED,
        help_text="When the actor wears glasses: keep them on the visitor (they belong to the character) "
        "or draw the visitor's face over them. Removed is the measured default: kept glasses pull the "
        "face toward the actor's. Changing it ingests the film again; judge it on the preview.",
    )
    # Bumped whenever the template video changes, so a stale ingest message can tell it is stale.
    ingest_generation = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ("film", "gender")
        constraints = (models.UniqueConstraint(fields=["film", "gender"], name="one_variant_per_gender"),)

    def __str__(self) -> str:
        return f"{self.film} ({self.get_gender_display()})"


class PosterTemplate(models.Model):
    """One of the five stills of a variant; `prepared` holds the engine's PosterTemplate bytes."""

    variant = models.ForeignKey(FilmVariant, on_delete=models.CASCADE, related_name="posters")
    position = models.PositiveSmallIntegerField(help_text="1 to 5: order on the result page.")
    image = models.FileField(upload_to="posters/", max_length=300)
    overlay = models.FileField(
        upload_to="posters/", max_length=300, blank=True, help_text="Optional RGBA PNG drawn on top."
    )
    qr_corner = models.CharField(
        max_length=12,
        choices=QrCorner.choices,
        default=QrCorner.AUTO,
        help_text="Where the QR code back to the campaign is drawn (auto: the bottom corner the AI label "
        "leaves free). Keep faces and lettering out of that "
        "corner: the admin preview outlines it (the safe zone).",
    )
    prepared = models.FileField(upload_to="posters/", max_length=300, blank=True)
    prepare_status = models.CharField(
        max_length=8, choices=IngestStatus.choices, default=IngestStatus.PENDING, db_index=True
    )
    prepare_error = models.TextField(blank=True)
    preview = models.FileField(upload_to="posters/", max_length=300, blank=True)
    generation = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ("variant", "position")
        constraints = (
            models.UniqueConstraint(fields=["variant", "position"], name="one_poster_per_position"),
            models.CheckConstraint(
                condition=models.Q(position__gte=1) & models.Q(position__lte=5), name="poster_position_1_to_5"
            ),
        )

    def __str__(self) -> str:
        return f"{self.variant} poster {self.position}"


class JobState(models.TextChoices):
    QUEUED = "queued", _("Queued")
    ANALYZING = "analyzing", _("Analyzing photo")
    POSTERS = "posters", _("Making posters")
    VIDEO = "video", _("Making the film")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")
    DELETED = "deleted", _("Deleted")


ACTIVE_STATES = (JobState.QUEUED, JobState.ANALYZING, JobState.POSTERS, JobState.VIDEO)
TERMINAL_STATES = (JobState.DONE, JobState.FAILED, JobState.DELETED)


def new_job_id() -> uuid.UUID:
    """122 random bits: job ids are capability-style and never guessable or enumerable."""
    return uuid.uuid4()


class Job(models.Model):
    """One visitor's request: photo in, five posters and a film out. The row is the source of truth."""

    id = models.UUIDField(primary_key=True, default=new_job_id, editable=False)
    token_hash = models.CharField(max_length=64, editable=False)
    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="jobs")
    variant = models.ForeignKey(FilmVariant, on_delete=models.PROTECT, related_name="jobs")
    gender = models.CharField(max_length=8, choices=Gender.choices)
    state = models.CharField(max_length=10, choices=JobState.choices, default=JobState.QUEUED, db_index=True)
    progress = models.FloatField(default=0.0, help_text="0..1 over the whole job.")
    stage_progress = models.FloatField(default=0.0, help_text="0..1 within the current stage.")
    event_seq = models.PositiveIntegerField(default=0, help_text="Bumped on every published change.")
    queue_position_at_intake = models.PositiveIntegerField(default=0)
    eta_seconds_at_intake = models.PositiveIntegerField(default=0)

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    analyzing_at = models.DateTimeField(null=True, blank=True)
    posters_at = models.DateTimeField(null=True, blank=True)
    video_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True, db_index=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    failure_code = models.CharField(max_length=40, blank=True, db_index=True)
    failure_message = models.TextField(blank=True)
    warnings = models.JSONField(default=list, blank=True)
    # What the visitor agreed to at intake (accountability for the consent, PIPL art. 28/31).
    consent_version = models.CharField(max_length=40, blank=True)
    age_confirmation = models.CharField(max_length=10, choices=AgeConfirmation.choices, blank=True)

    photo_key = models.CharField(max_length=300, blank=True)
    face_asset_key = models.CharField(max_length=300, blank=True)
    # Index i holds poster i+1's key, "" while it is not rendered yet.
    poster_keys = models.JSONField(default=list, blank=True)
    video_key = models.CharField(max_length=300, blank=True)
    cover_key = models.CharField(max_length=300, blank=True)

    # Lease of the worker running the job's current stage (campaign.services.leases, taken and renewed
    # by workers.middleware and the watchdog): a redelivered message does not start a second run while
    # the first is alive, and recovery (campaign.services.recovery) re-enqueues a job whose lease
    # expired because its worker died.
    lease_owner = models.CharField(max_length=200, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True, db_index=True)
    recoveries = models.PositiveSmallIntegerField(default=0, help_text="Times the reconciler re-enqueued it.")
    reconciled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at",)
        indexes = (models.Index(fields=["state", "created_at"], name="job_state_created"),)

    def __str__(self) -> str:
        return f"job {self.id} ({self.state})"

    @property
    def stage_seconds(self) -> dict[str, float | None]:
        """Seconds spent waiting and in each stage (None while unknown), for the dashboard."""

        def span(start: datetime | None, end: datetime | None) -> float | None:
            return (end - start).total_seconds() if start and end else None

        return {
            "wait": span(self.created_at, self.analyzing_at),
            "analyze": span(self.analyzing_at, self.posters_at),
            "posters": span(self.posters_at, self.video_at),
            "video": span(self.video_at, self.finished_at if self.state == JobState.DONE else None),
        }
