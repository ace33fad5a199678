"""Explicit input and output shapes of the API (and of the OpenAPI schema).

They shape request data and dicts, never model instances: hence `Serializer[Any]`.
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from campaign.models import Gender


class JobCreateInput(serializers.Serializer[Any]):
    photo = serializers.FileField(allow_empty_file=True)
    gender = serializers.ChoiceField(choices=Gender.choices)
    consent = serializers.BooleanField()
    age_confirmation = serializers.CharField(
        required=False, allow_blank=True, help_text="`self` (at least the minimum age) or `guardian`."
    )
    consent_version = serializers.CharField(
        required=False, allow_blank=True, help_text="The consent text version the page showed."
    )
    film = serializers.SlugField(required=False, allow_blank=True)


class JobCreatedOutput(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    token = serializers.CharField(help_text="Shown once; send as `Authorization: Bearer <token>`.")
    status_url = serializers.CharField()
    ws_url = serializers.CharField()
    result_url = serializers.CharField(help_text="Page URL with id and token in the fragment.")
    queue_position = serializers.IntegerField()
    eta_seconds = serializers.IntegerField()


class PosterOutput(serializers.Serializer[Any]):
    position = serializers.IntegerField()
    url = serializers.CharField()


class VideoOutput(serializers.Serializer[Any]):
    url = serializers.CharField()
    cover_url = serializers.CharField(allow_null=True)


class FailureOutput(serializers.Serializer[Any]):
    code = serializers.CharField()
    message = serializers.CharField()


class JobStatusOutput(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    state = serializers.CharField()
    seq = serializers.IntegerField()
    progress = serializers.FloatField()
    stage_progress = serializers.FloatField()
    queue_position = serializers.IntegerField()
    eta_seconds = serializers.IntegerField(allow_null=True)
    posters = PosterOutput(many=True, allow_null=True)
    video = VideoOutput(allow_null=True)
    failure = FailureOutput(allow_null=True)
    warnings = serializers.ListField(child=serializers.CharField())
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)


class VariantOutput(serializers.Serializer[Any]):
    gender = serializers.CharField()
    ready = serializers.BooleanField()


class FilmOutput(serializers.Serializer[Any]):
    slug = serializers.CharField()
    title = serializers.CharField()
    title_en = serializers.CharField()
    seconds = serializers.FloatField(allow_null=True, help_text="The ingested film's real length.")
    cover_url = serializers.CharField(help_text="Signed URL of the film's poster artwork; empty if none.")
    trailer_url = serializers.CharField(help_text="Signed URL of the film itself once a role is ready.")
    variants = VariantOutput(many=True)


class CampaignOutput(serializers.Serializer[Any]):
    slug = serializers.CharField()
    title = serializers.CharField()
    title_en = serializers.CharField()
    description = serializers.CharField()
    description_en = serializers.CharField()
    ends_at = serializers.DateTimeField(allow_null=True)
    retention_days = serializers.IntegerField()
    min_age = serializers.IntegerField()
    age_policy = serializers.CharField()
    consent_version = serializers.CharField()
    share_url = serializers.CharField()
    genders = serializers.ListField(child=serializers.CharField())
    films = FilmOutput(many=True)


class ErrorOutput(serializers.Serializer[Any]):
    code = serializers.CharField()
    detail = serializers.CharField()
