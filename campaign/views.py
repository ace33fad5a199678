"""Non-API HTTP views: the H5 page and signed media with HTTP Range (static files: WhiteNoise)."""

from __future__ import annotations

import asyncio
import mimetypes
import re
from pathlib import Path

from django.core.files.storage import default_storage
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_safe

from campaign.errors import NoCampaign
from campaign.models import Job, JobState
from campaign.selectors import campaign_active_get, films_for_page
from campaign.services.storage import Signature, blob_object_url, blob_signature_check, storage_is_local
from campaign.sharing import campaign_share_image_key, campaign_share_url

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_JOB_KEY = re.compile(r"^jobs/([0-9a-f-]{36})/")


@require_safe
@cache_control(no_cache=True)  # WeChat caches pages hard; the hashed static names carry the versions
def home(request: HttpRequest) -> HttpResponse:
    try:
        campaign = campaign_active_get()
    except NoCampaign:
        campaign = None
    context = {"campaign": campaign, "ws_ping_s": 20, "share_url": "", "share_image_url": "", "films": []}
    if campaign is not None:
        # Films with their real length, cover and which roles can be cast now; the page refreshes this
        # from /api/campaign while a role is still being prepared.
        context["films"] = films_for_page(campaign=campaign)
        context["share_url"] = campaign_share_url(campaign=campaign, request=request)
        if campaign_share_image_key(campaign=campaign):
            context["share_image_url"] = request.build_absolute_uri(reverse("campaign:share-image"))
    return render(request, "campaign/index.html", context)


@require_safe
def share_image(request: HttpRequest) -> HttpResponse:
    """The campaign's share picture (og:image): its first poster artwork, never a visitor's result."""
    try:
        key = campaign_share_image_key(campaign=campaign_active_get())
    except NoCampaign:
        key = ""
    if not key:
        raise Http404("no share image")
    response = _file_response(key, content_type=mimetypes.guess_type(key)[0] or "application/octet-stream")
    response["Cache-Control"] = "public, max-age=3600"
    return response


async def _file_chunks(handle, start: int, length: int, block: int = 1 << 16):  # type: ignore[no-untyped-def]
    """Async, so that under ASGI (the only way the platform is served) a file streams chunk by chunk:
    Django reads a sync iterator, FileResponse's included, whole into memory first and warns that it
    did. The blocking reads run in a thread, off the event loop."""
    try:
        await asyncio.to_thread(handle.seek, start)
        remaining = length
        while remaining > 0:
            chunk = await asyncio.to_thread(handle.read, min(block, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
            yield chunk
    finally:
        handle.close()


def _file_response(key: str, *, content_type: str, start: int = 0, length: int | None = None) -> HttpResponse:
    """Stream `length` bytes of a stored file from `start` (all of it by default)."""
    size = default_storage.size(key)
    length = size - start if length is None else length
    response = StreamingHttpResponse(
        _file_chunks(default_storage.open(key, "rb"), start, length),
        content_type=content_type,
    )
    response["Content-Length"] = str(length)
    return response


@require_safe
def media(request: HttpRequest, key: str) -> HttpResponse:
    """Every stored file a visitor or editor sees, behind Django-signed, expiring app URLs.

    A job's files answer 410 Gone once the job is deleted (by its owner or by retention), even through
    links that have expired since; forged or expired links answer 403. Local storage: the file itself,
    with HTTP Range (206) for iOS video. S3: a 302 to a short-lived presigned (or CloudFront-signed)
    object URL, never cached, so the 410 also holds for links handed out before the deletion.
    """
    signature = blob_signature_check(
        key=key, expires=request.GET.get("e", ""), signature=request.GET.get("s", "")
    )
    if signature == Signature.INVALID:
        return HttpResponse("Link expired or invalid.", status=403, content_type="text/plain; charset=utf-8")
    match = _JOB_KEY.match(key)
    if match and Job.objects.filter(pk=match.group(1), state=JobState.DELETED).exists():
        return HttpResponse(
            "This result was deleted (by its owner or after the retention period).",
            status=410,
            content_type="text/plain; charset=utf-8",
        )
    if signature == Signature.EXPIRED:
        return HttpResponse("Link expired or invalid.", status=403, content_type="text/plain; charset=utf-8")
    if key.startswith("/") or "\\" in key or ".." in Path(key).parts:
        # Signed keys never look like this; refuse before any storage backend joins it to a root.
        raise Http404("no such file")
    if not storage_is_local():
        # No existence check: it would cost a round trip to the store per request; the store answers
        # 404 for a missing object, and a deleted job already answered 410 above.
        redirect = HttpResponseRedirect(blob_object_url(key=key))
        redirect["Cache-Control"] = "no-store"
        return redirect
    if not default_storage.exists(key):
        raise Http404("no such file")
    size = default_storage.size(key)
    content_type = mimetypes.guess_type(key)[0] or "application/octet-stream"
    range_header = request.headers.get("Range", "")
    range_match = _RANGE.match(range_header.strip()) if range_header else None
    if range_match and (range_match.group(1) or range_match.group(2)):
        first, last = range_match.groups()
        if first:
            start = int(first)
            end = min(int(last), size - 1) if last else size - 1
        else:  # suffix range: the last N bytes
            start = max(0, size - int(last))
            end = size - 1
        if start >= size or start > end:
            response = HttpResponse(status=416)
            response["Content-Range"] = f"bytes */{size}"
            return response
        response = _file_response(key, content_type=content_type, start=start, length=end - start + 1)
        response.status_code = 206
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
    else:
        response = _file_response(key, content_type=content_type)
    response["Accept-Ranges"] = "bytes"
    response["Cache-Control"] = "private, max-age=3600"
    return response
