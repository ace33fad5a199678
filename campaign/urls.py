from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from campaign import views
from campaign.admin_views import dashboard
from campaign.observability import health as observability_health
from campaign.observability import metrics as observability_metrics

app_urls = (
    [
        path("", views.home, name="home"),
        path("share.jpg", views.share_image, name="share-image"),
        path("media/<path:key>", views.media, name="media"),
        path("healthz", observability_health.healthz, name="health"),
        path("livez", observability_health.livez, name="live"),
        path("metrics", observability_metrics.metrics, name="metrics"),
    ],
    "campaign",
)

urlpatterns = [
    path("admin/dashboard/", admin.site.admin_view(dashboard), name="admin-dashboard"),
    path("admin/", admin.site.urls),
    path("api/", include("campaign.api.urls")),
    path("", include(app_urls)),
]

# JSON under /api/, Django's pages elsewhere (campaign.api.errors).
handler400 = "campaign.api.errors.bad_request"
handler403 = "campaign.api.errors.permission_denied"
handler404 = "campaign.api.errors.page_not_found"
handler500 = "campaign.api.errors.server_error"
