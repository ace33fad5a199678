"""Non-API HTTP views: the H5 page and signed media with HTTP Range (static files: WhiteNoise)."""

from __future__ import annotations

import asyncio
import mimetypes
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from django.core.files.base import File
from django.core.files.storage import default_storage
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.http.response import HttpResponseBase
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
_TEXT = "text/plain; charset=utf-8"
_LINK_REFUSED = "Link expired or invalid."
_RESULT_DELETED = "This result was deleted (by its owner or after the retention period)."


@require_safe
@cache_control(no_cache=True)  # WeChat caches pages hard; the hashed static names carry the versions
def home(request: HttpRequest) -> HttpResponse:
    try:
        campaign = campaign_active_get()
    except NoCampaign:
        campaign = None
    context: dict[str, Any] = {
        "campaign": campaign,
        "ws_ping_s": 20,
        "share_url": "",
        "share_image_url": "",
        "films": [],
    }
    if campaign is not None:
        # Films with their real length, cover and which roles can be cast now; the page refreshes this
        # from /api/campaign while a role is still being prepared.
        context["films"] = films_for_page(campaign=campaign)
        context["share_url"] = campaign_share_url(campaign=campaign, request=request)
        if campaign_share_image_key(campaign=campaign):
            context["share_image_url"] = request.build_absolute_uri(reverse("campaign:share-image"))
    return render(request, "campaign/index.html", context)


@require_safe
def share_image(request: HttpRequest) -> StreamingHttpResponse:
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


async def _file_chunks(
    handle: File[bytes], start: int, length: int, block: int = 1 << 16
) -> AsyncIterator[bytes]:
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


def _file_response(
    key: str, *, content_type: str, start: int = 0, length: int | None = None
) -> StreamingHttpResponse:
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
def media(request: HttpRequest, key: str) -> HttpResponseBase:
    """Every stored file a visitor or editor sees, behind Django-signed, expiring app URLs.

    A job's files answer 410 Gone once the job is deleted (by its owner or by retention), even through
    links that have expired since; forged or expired links answer 403. Local storage: the file itself,
    with HTTP Range (206) for iOS video. S3: a 302 to a short-lived presigned (or CloudFront-signed)
    object URL, never cached, so the 410 also holds for links handed out before the deletion.
    """
    refusal = _media_refusal(request, key)
    if refusal is not None:
        return refusal
    if not storage_is_local():
        return _object_redirect(key)
    if not default_storage.exists(key):
        raise Http404("no such file")
    return _local_file(request, key)


def _media_refusal(request: HttpRequest, key: str) -> HttpResponse | None:
    """403 for a forged or expired link, 410 for a deleted job's file (checked before the expiry, so an
    old link to a deleted result says so); None when the link may be served. A key that could escape
    the storage root raises 404."""
    signature = blob_signature_check(
        key=key, expires=request.GET.get("e", ""), signature=request.GET.get("s", "")
    )
    if signature == Signature.INVALID:
        return HttpResponse(_LINK_REFUSED, status=403, content_type=_TEXT)
    if _job_deleted(key):
        return HttpResponse(_RESULT_DELETED, status=410, content_type=_TEXT)
    if signature == Signature.EXPIRED:
        return HttpResponse(_LINK_REFUSED, status=403, content_type=_TEXT)
    if key.startswith("/") or "\\" in key or ".." in Path(key).parts:
        # Signed keys never look like this; refuse before any storage backend joins it to a root.
        raise Http404("no such file")
    return None


def _job_deleted(key: str) -> bool:
    """Is `key` one of a deleted job's files?"""
    match = _JOB_KEY.match(key)
    return match is not None and Job.objects.filter(pk=match.group(1), state=JobState.DELETED).exists()


def _object_redirect(key: str) -> HttpResponseRedirect:
    # No existence check: it would cost a round trip to the store per request; the store answers
    # 404 for a missing object, and a deleted job already answered 410.
    redirect = HttpResponseRedirect(blob_object_url(key=key))
    redirect["Cache-Control"] = "no-store"
    return redirect


def _requested_range(range_header: str, size: int) -> tuple[int, int] | None:
    """The first and last byte an HTTP Range header asks for (None: no usable range, send it all).
    The pair may lie outside the file; the caller answers 416 then."""
    range_match = _RANGE.match(range_header.strip()) if range_header else None
    if not (range_match and (range_match.group(1) or range_match.group(2))):
        return None
    first, last = range_match.groups()
    if first:
        return int(first), min(int(last), size - 1) if last else size - 1
    return max(0, size - int(last)), size - 1  # suffix range: the last N bytes


def _local_file(request: HttpRequest, key: str) -> HttpResponseBase:
    """The stored file, or the byte range asked for (206, 416 when it lies outside the file)."""
    size = default_storage.size(key)
    content_type = mimetypes.guess_type(key)[0] or "application/octet-stream"
    byte_range = _requested_range(request.headers.get("Range", ""), size)
    if byte_range is None:
        response = _file_response(key, content_type=content_type)
    else:
        start, end = byte_range
        if start >= size or start > end:
            unsatisfiable = HttpResponse(status=416)
            unsatisfiable["Content-Range"] = f"bytes */{size}"
            return unsatisfiable
        response = _file_response(key, content_type=content_type, start=start, length=end - start + 1)
        response.status_code = 206
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
    response["Accept-Ranges"] = "bytes"
    response["Cache-Control"] = "private, max-age=3600"
    return response
