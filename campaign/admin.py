"""Django admin for editors (films, variants, posters) and operators (jobs, dashboard).

Admin is an interface: saving a new template video or poster image calls a service that requests
ingest/preparation in a worker after commit; actions call services too.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.files.storage import default_storage
from django.db.models import QuerySet
from django.db.models.fields.files import FieldFile
from django.forms import BaseInlineFormSet, ModelForm
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString

from campaign.errors import IllegalTransition, TransitionConflict
from campaign.models import Campaign, Film, FilmVariant, Job, JobState, PosterTemplate
from campaign.services.films import poster_template_prepare_request, variant_ingest_request
from campaign.services.jobs import job_delete, job_retry
from campaign.services.storage import blob_signed_url, field_key
from campaign.sharing import campaign_share_url, qr_box, qr_corner_for

admin.site.site_header = "Protagonist"
admin.site.site_title = "Protagonist admin"
admin.site.index_template = "admin/protagonist_index.html"


def _thumb(key: str, height: int = 120) -> SafeString | str:
    if not key:
        return "-"
    return format_html(
        '<img src="{}" style="height:{}px;border-radius:4px" alt="">', blob_signed_url(key=key), height
    )


def _key(field: FieldFile) -> str:
    """A file field's storage key, "" when it holds no file."""
    return field_key(field) if field else ""


def _image_size(key: str) -> tuple[int, int] | None:
    """Width and height from the image's header (Pillow reads no pixels for this)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with default_storage.open(key, "rb") as handle, Image.open(handle) as image:
            return image.size
    except (OSError, UnidentifiedImageError):
        return None


def _thumb_with_safe_zone(
    poster: PosterTemplate, key: str, height: int, request: HttpRequest | None = None
) -> SafeString | str:
    """The thumbnail with the QR code's corner outlined: the safe zone to keep faces and lettering out of."""
    if not key or not poster.image:
        return _thumb(key, height)
    size = _image_size(_key(poster.image))
    if size is None:
        return _thumb(key, height)
    campaign = poster.variant.film.campaign
    corner = qr_corner_for(template_corner=poster.qr_corner, label_position=campaign.ai_label_position)
    x0, y0, x1, y1 = qr_box(
        size=size, corner=corner, url=campaign_share_url(campaign=campaign, request=request)
    )
    width, full_height = size
    box = (100 * x0 / width, 100 * y0 / full_height, 100 * (x1 - x0) / width, 100 * (y1 - y0) / full_height)
    return format_html(
        '<span class="safe-zone-thumb" style="height:{}px;aspect-ratio:{}/{}">'
        '<img src="{}" alt=""><span class="safe-zone" title="QR code ({}): keep faces and lettering out" '
        'style="left:{}%;top:{}%;width:{}%;height:{}%"></span></span>',
        height,
        width,
        full_height,
        blob_signed_url(key=key),
        corner,
        *(f"{value:.2f}" for value in box),
    )


def _film_length(variant: FilmVariant) -> str:
    """The ingested film's real length, with a warning when it is not what the campaign promises."""
    seconds = (variant.ingest_report or {}).get("duration_s")
    if seconds is None:
        return "-"
    promised = variant.film.campaign.film_seconds
    if abs(float(seconds) - promised) > FILM_LENGTH_TOLERANCE_S:
        return f"{float(seconds):.1f} s \u26a0 the campaign promises {promised} s"
    return f"{float(seconds):.1f} s"


# A film within a second of the promise is "a 15-second film" to a visitor.
FILM_LENGTH_TOLERANCE_S = 1.0


class FilmInline(admin.TabularInline):
    model = Film
    extra = 0
    fields = ("slug", "title", "title_en", "sort_order", "is_active")


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = (
        "title",
        "slug",
        "is_active",
        "starts_at",
        "ends_at",
        "retention_days",
        "max_wait_seconds",
    )
    list_filter = ("is_active",)
    prepopulated_fields = {"slug": ("title_en",)}  # noqa: RUF012  (Django admin API)
    inlines = (FilmInline,)


class VariantInline(admin.TabularInline):
    model = FilmVariant
    extra = 0
    fields = ("gender", "template_video", "glasses", "ingest_status", "progress_percent", "length")
    readonly_fields = ("ingest_status", "progress_percent", "length")
    show_change_link = True

    @admin.display(description="progress")
    def progress_percent(self, variant: FilmVariant) -> str:
        return f"{variant.ingest_progress * 100:.0f}%"

    @admin.display(description="length")
    def length(self, variant: FilmVariant) -> str:
        return _film_length(variant)


def _needs_ingest(changed: list[str]) -> bool:
    """A new template video, or another glasses choice (the cached swap fields depend on it)."""
    return bool({"template_video", "glasses"} & set(changed))


def glasses_found_text(report: dict[str, object]) -> str:
    """What the ingest found of the actor's glasses, for the editor choosing kept or removed."""
    if "glasses_frames" not in report:
        return "-" if not report else "not looked for (ingested before glasses were found): re-ingest"
    frames, total = int(str(report["glasses_frames"])), int(str(report.get("frames", 0)))
    if frames == 0:
        return "none"
    return f"in {frames} of {total} frames"


@admin.register(Film)
class FilmAdmin(admin.ModelAdmin):
    list_display = ("title", "campaign", "slug", "sort_order", "is_active")
    list_filter = ("campaign", "is_active")
    inlines = (VariantInline,)

    def save_formset(
        self,
        request: HttpRequest,
        form: ModelForm[Film],
        formset: BaseInlineFormSet[FilmVariant, Film, ModelForm[FilmVariant]],  # VariantInline's
        change: bool,
    ) -> None:
        super().save_formset(request, form, formset, change)
        for variant_form in formset.forms:
            if isinstance(variant_form.instance, FilmVariant) and _needs_ingest(variant_form.changed_data):
                variant_ingest_request(variant=variant_form.instance)


class PosterInline(admin.TabularInline):
    model = PosterTemplate
    extra = 0
    max_num = 5
    fields = (
        "position",
        "image",
        "overlay",
        "qr_corner",
        "prepare_status",
        "prepare_error",
        "template_thumb",
        "preview_thumb",
    )
    readonly_fields = ("prepare_status", "prepare_error", "template_thumb", "preview_thumb")

    @admin.display(description="template (outlined: QR safe zone)")
    def template_thumb(self, poster: PosterTemplate) -> SafeString | str:
        return _thumb_with_safe_zone(poster, _key(poster.image), 100)

    @admin.display(description="preview with a sample face")
    def preview_thumb(self, poster: PosterTemplate) -> SafeString | str:
        return _thumb_with_safe_zone(poster, _key(poster.preview), 100)


@admin.register(FilmVariant)
class FilmVariantAdmin(admin.ModelAdmin):
    list_display = (
        "__str__",
        "gender",
        "ingest_status",
        "progress_percent",
        "length",
        "coverage",
        "posters_ready",
    )
    list_filter = ("ingest_status", "gender", "film__campaign")
    fields = (
        "film",
        "gender",
        "template_video",
        "glasses",
        "glasses_found",
        "film_track",
        "ingest_status",
        "progress_percent",
        "length",
        "coverage",
        "ingest_report",
        "ingest_error",
        "ingest_started_at",
        "ingest_finished_at",
        "ingest_generation",
        "preview_thumb",
    )
    readonly_fields = (
        "preview_thumb",
        "glasses_found",
        "film_track",
        "ingest_status",
        "progress_percent",
        "length",
        "coverage",
        "ingest_report",
        "ingest_error",
        "ingest_started_at",
        "ingest_finished_at",
        "ingest_generation",
    )
    inlines = (PosterInline,)
    actions = ("reingest", "reprepare_posters")

    class Media:
        # safe-zone outlines; the poster table fits 1280 px
        css = {"all": ("campaign/admin.css",)}  # noqa: RUF012  (Django admin API)

    @admin.display(description="preview with a sample face (one film frame)")
    def preview_thumb(self, variant: FilmVariant) -> SafeString | str:
        return _thumb(_key(variant.preview), 320)

    @admin.display(description="progress")
    def progress_percent(self, variant: FilmVariant) -> str:
        return f"{variant.ingest_progress * 100:.0f}%"

    @admin.display(description="length")
    def length(self, variant: FilmVariant) -> str:
        return _film_length(variant)

    @admin.display(description="face coverage")
    def coverage(self, variant: FilmVariant) -> str:
        value = (variant.ingest_report or {}).get("coverage")
        return f"{float(value) * 100:.1f}%" if value is not None else "-"

    @admin.display(description="actor's glasses found")
    def glasses_found(self, variant: FilmVariant) -> str:
        return glasses_found_text(variant.ingest_report or {})

    @admin.display(description="posters ready")
    def posters_ready(self, variant: FilmVariant) -> str:
        ready = variant.posters.filter(prepare_status="ready").count()
        return f"{ready}/5"

    def save_model(
        self, request: HttpRequest, obj: FilmVariant, form: ModelForm[FilmVariant], change: bool
    ) -> None:
        super().save_model(request, obj, form, change)
        if _needs_ingest(form.changed_data) or not change:
            variant_ingest_request(variant=obj)

    def save_formset(
        self,
        request: HttpRequest,
        form: ModelForm[FilmVariant],
        formset: BaseInlineFormSet[PosterTemplate, FilmVariant, ModelForm[PosterTemplate]],  # PosterInline's
        change: bool,
    ) -> None:
        super().save_formset(request, form, formset, change)
        for poster_form in formset.forms:
            poster = poster_form.instance
            if (
                isinstance(poster, PosterTemplate)
                and poster.pk
                and {"image", "overlay"} & set(poster_form.changed_data)
            ):
                poster_template_prepare_request(poster=poster)

    @admin.action(description="Re-ingest the film (track the face again)")
    def reingest(self, request: HttpRequest, queryset: QuerySet[FilmVariant]) -> None:
        for variant in queryset:
            variant_ingest_request(variant=variant)
        self.message_user(request, f"Ingest requested for {queryset.count()} variant(s).")

    @admin.action(description="Prepare the poster templates again")
    def reprepare_posters(self, request: HttpRequest, queryset: QuerySet[FilmVariant]) -> None:
        count = 0
        for variant in queryset:
            for poster in variant.posters.all():
                poster_template_prepare_request(poster=poster)
                count += 1
        self.message_user(request, f"Preparation requested for {count} poster template(s).")


@admin.register(PosterTemplate)
class PosterTemplateAdmin(admin.ModelAdmin):
    list_display = ("__str__", "position", "prepare_status", "template_thumb", "preview_thumb")
    list_filter = ("prepare_status", "variant__film")
    readonly_fields = (
        "prepared",
        "prepare_status",
        "prepare_error",
        "template_thumb",
        "preview_thumb",
        "generation",
    )

    class Media:
        css = {"all": ("campaign/admin.css",)}  # noqa: RUF012  (Django admin API)

    @admin.display(description="template (outlined: QR safe zone)")
    def template_thumb(self, poster: PosterTemplate) -> SafeString | str:
        return _thumb_with_safe_zone(poster, _key(poster.image), 160)

    @admin.display(description="preview with a sample face")
    def preview_thumb(self, poster: PosterTemplate) -> SafeString | str:
        return _thumb_with_safe_zone(poster, _key(poster.preview), 160)

    def save_model(
        self, request: HttpRequest, obj: PosterTemplate, form: ModelForm[PosterTemplate], change: bool
    ) -> None:
        super().save_model(request, obj, form, change)
        if {"image", "overlay"} & set(form.changed_data) or not change:
            poster_template_prepare_request(poster=obj)


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    """Operators look at jobs; only services change them (retry, delete data)."""

    list_display = (
        "id",
        "state",
        "variant",
        "gender",
        "progress_percent",
        "failure_code",
        "created_at",
        "durations",
    )
    list_filter = ("state", "variant", "failure_code", "created_at")
    search_fields = ("id",)
    date_hierarchy = "created_at"
    actions = ("retry", "delete_data")
    readonly_fields = [f.name for f in Job._meta.fields if f.name != "token_hash"] + [
        "durations",
        "poster_gallery",
    ]
    exclude = ("token_hash",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Job | None = None) -> bool:
        return False  # rows stay for counts and 410 answers; "delete data" wipes the files

    @admin.display(description="progress")
    def progress_percent(self, job: Job) -> str:
        return f"{job.progress * 100:.0f}%"

    @admin.display(description="seconds wait/analyze/posters/video")
    def durations(self, job: Job) -> str:
        return " / ".join("-" if v is None else f"{v:.1f}" for v in job.stage_seconds.values())

    @admin.display(description="posters")
    def poster_gallery(self, job: Job) -> SafeString | str:
        thumbs = [_thumb(key, 160) for key in job.poster_keys or [] if key]
        return format_html("".join(["{}"] * len(thumbs)), *thumbs) if thumbs else "-"

    @admin.action(description="Retry failed jobs")
    def retry(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        retried = 0
        for job in queryset.filter(state=JobState.FAILED):
            try:
                retried += job_retry(job_id=job.pk)
            except (IllegalTransition, TransitionConflict):
                continue
        self.message_user(request, f"{retried} job(s) queued again.", messages.SUCCESS)

    @admin.action(description="Delete the visitors' photos and results")
    def delete_data(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        deleted = sum(job_delete(job_id=job.pk) for job in queryset)
        self.message_user(request, f"Data of {deleted} job(s) deleted.", messages.SUCCESS)
