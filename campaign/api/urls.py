from __future__ import annotations

from django.urls import path
from drf_spectacular.views import SpectacularAPIView

from campaign.api.views import CampaignApi, JobCreateApi, JobDetailApi

urlpatterns = [
    path("campaign", CampaignApi.as_view(), name="api-campaign"),
    path("jobs", JobCreateApi.as_view(), name="api-jobs"),
    path("jobs/<uuid:job_id>", JobDetailApi.as_view(), name="api-job"),
    path("schema", SpectacularAPIView.as_view(), name="api-schema"),
]
