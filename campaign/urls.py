from __future__ import annotations

from django.contrib import admin
from django.urls import include, path, re_path

from campaign import views
from campaign.admin_views import dashboard

app_urls = (
    [
        path("", views.home, name="home"),
        path("media/<path:key>", views.media, name="media"),
        path("healthz", views.health, name="health"),
    ],
    "campaign",
)

urlpatterns = [
    path("admin/dashboard/", admin.site.admin_view(dashboard), name="admin-dashboard"),
    path("admin/", admin.site.urls),
    path("api/", include("campaign.api.urls")),
    re_path(r"^static/(?P<path>.+)$", views.static, name="static"),
    path("", include(app_urls)),
]
