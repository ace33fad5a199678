"""One API view per operation; each validates input, calls a service or selector, shapes the output."""

from __future__ import annotations

import uuid

from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from campaign.api.serializers import (
    CampaignOutput,
    ErrorOutput,
    JobCreatedOutput,
    JobCreateInput,
    JobStatusOutput,
)
from campaign.consent import consent_check
from campaign.errors import PhotoInvalid, TokenMissing
from campaign.intake.fairshare import queue_share_release, queue_share_take
from campaign.intake.guard import device_cookie_ensure, intake_guard
from campaign.intake.memo import intake_memo
from campaign.models import Gender
from campaign.selectors import campaign_active_get, films_for_page, job_get_for_token, job_status
from campaign.services.jobs import job_create, job_delete
from campaign.sharing import campaign_share_url


def request_token(request: Request) -> str:
    """The job token from `Authorization: Bearer <token>` (preferred) or `?token=`."""
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        token = header[7:].strip()
    else:
        token = request.query_params.get("token", "").strip()
    if not token:
        raise TokenMissing("This job needs its access token (Authorization: Bearer <token>).")
    return token


def ws_url(request: Request, job_id: object) -> str:
    scheme = "wss" if request.is_secure() else "ws"
    return f"{scheme}://{request.get_host()}/ws/jobs/{job_id}/"


class CampaignApi(APIView):
    @extend_schema(responses={200: CampaignOutput, 404: ErrorOutput}, summary="The running campaign")
    def get(self, request: Request) -> Response:
        campaign = campaign_active_get()
        films = films_for_page(campaign=campaign)
        ready = {v["gender"] for film in films for v in film["variants"] if v["ready"]}
        genders = [g for g in Gender.values if g in ready]
        data = {
            "slug": campaign.slug,
            "title": campaign.title,
            "title_en": campaign.title_en,
            "description": campaign.description,
            "description_en": campaign.description_en,
            "ends_at": campaign.ends_at,
            "retention_days": campaign.retention_days,
            "min_age": campaign.min_age,
            "age_policy": campaign.age_policy,
            "consent_version": campaign.consent_version,
            "share_url": campaign_share_url(campaign=campaign, request=request),
            "genders": genders,
            "films": films,
        }
        return Response(CampaignOutput(data).data)


class JobCreateApi(APIView):
    parser_classes = (MultiPartParser, FormParser)

    @extend_schema(
        request={"multipart/form-data": JobCreateInput},
        responses={
            202: JobCreatedOutput,
            400: ErrorOutput,
            409: ErrorOutput,
            413: ErrorOutput,
            503: ErrorOutput,
        },
        summary="Upload a photo; returns the job id, its secret token and where to follow progress",
    )
    def post(self, request: Request) -> Response:
        intake_guard(request)  # 429 rate limits, 413 size: before the body is read
        if len(request.FILES) > 1:
            raise PhotoInvalid("Please upload exactly one photo.", code="too_many_files")
        form = JobCreateInput(data=request.data)
        form.is_valid(raise_exception=True)
        campaign = intake_memo("campaign", campaign_active_get)  # per-process, 1 s (cheap intake)
        # Consent and age gate are checked before the photo is even looked at (campaign.consent).
        agreed = consent_check(
            campaign=campaign,
            consent=form.validated_data["consent"],
            age_confirmation=form.validated_data.get("age_confirmation", ""),
            consent_version=form.validated_data.get("consent_version", ""),
        )
        # One client's share of the queue (429 queue_share), so nobody can fill it for everyone.
        share = queue_share_take(request=request, campaign=campaign)
        try:
            ticket = job_create(
                campaign=campaign,
                gender=form.validated_data["gender"],
                photo=form.validated_data["photo"].read(),
                consent=form.validated_data["consent"],
                film_slug=form.validated_data.get("film") or None,
                consent_version=agreed.consent_version,
                age_confirmation=agreed.age_confirmation,
            )
        except BaseException:
            queue_share_release(share)
            raise
        job_id = ticket.job.id
        data = {
            "id": job_id,
            "token": ticket.token,
            "status_url": request.build_absolute_uri(reverse("api-job", kwargs={"job_id": job_id})),
            "ws_url": ws_url(request, job_id),
            "result_url": request.build_absolute_uri(reverse("campaign:home"))
            + f"#job={job_id}&token={ticket.token}",
            "queue_position": ticket.queue_position,
            "eta_seconds": ticket.eta_seconds,
        }
        response = Response(JobCreatedOutput(data).data, status=status.HTTP_202_ACCEPTED)
        device_cookie_ensure(request, response)
        return response


TOKEN_PARAMETERS = [
    OpenApiParameter(
        "token", str, OpenApiParameter.QUERY, required=False, description="Or use the Bearer header."
    ),
]


class JobDetailApi(APIView):
    @extend_schema(
        parameters=TOKEN_PARAMETERS,
        responses={200: JobStatusOutput, 401: ErrorOutput, 404: ErrorOutput, 410: ErrorOutput},
        summary="A job's state, progress and result URLs (signed, expiring)",
    )
    def get(self, request: Request, job_id: uuid.UUID) -> Response:
        job = job_get_for_token(job_id=job_id, token=request_token(request))
        response = Response(job_status(job=job))
        response["Cache-Control"] = "no-store"
        return response

    @extend_schema(
        parameters=TOKEN_PARAMETERS,
        responses={204: None, 401: ErrorOutput, 404: ErrorOutput, 410: ErrorOutput},
        summary="Delete my data: photo, face asset and results",
    )
    def delete(self, request: Request, job_id: uuid.UUID) -> Response:
        job = job_get_for_token(job_id=job_id, token=request_token(request))
        job_delete(job_id=job.id)
        return Response(status=status.HTTP_204_NO_CONTENT)
