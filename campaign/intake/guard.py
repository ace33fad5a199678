"""What the job intake view does before it reads the request body, and the device cookie after.

Order matters for cost: refusing a flood must not first parse a 10 MB multipart body, so the rate
limit and the declared size are checked on headers alone, and the body is then parsed by an upload
handler that keeps the photo in memory (a visitor's photo never lands unencrypted on the web node's
disk) and stops at the byte limit even when the client sends no Content-Length (chunked uploads).

Under ASGI, Django's handler has already read the raw body when the view runs, so `campaign.intake.asgi`
checks the rate limit and the size first (429/413 before Django sees the body) and marks the scope;
the view then only checks the rate limit itself when no ASGI layer did (test client, WSGI).
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from django.core.files.uploadedfile import InMemoryUploadedFile
from django.core.files.uploadhandler import FileUploadHandler

from campaign.intake.asgi import RATE_CHECKED
from campaign.intake.device import device_cookie_ensure
from campaign.intake.ratelimit import ratelimit_enforce
from campaign.intake.uploads import UploadLimits, UploadRejected, _too_many_bytes

if TYPE_CHECKING:
    from django.http import HttpRequest

# Multipart framing and the small form fields (gender, consent, film) on top of the photo itself.
_FORM_OVERHEAD_BYTES = 64 * 1024


class CappedMemoryUploadHandler(FileUploadHandler):
    """Collects the upload in memory and refuses it (413) as soon as it exceeds the photo byte limit."""

    def __init__(self, request: HttpRequest | None = None, *, max_bytes: int) -> None:
        super().__init__(request)
        self.max_bytes = max_bytes
        self._buffer = io.BytesIO()

    def new_file(
        self,
        field_name: str,
        file_name: str,
        content_type: str,
        content_length: int | None,
        charset: str | None = None,
        content_type_extra: dict[str, bytes] | None = None,
    ) -> None:
        super().new_file(field_name, file_name, content_type, content_length, charset, content_type_extra)
        self._buffer = io.BytesIO()

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        if start + len(raw_data) > self.max_bytes:
            raise _too_many_bytes(UploadLimits(max_bytes=self.max_bytes))
        self._buffer.write(raw_data)
        return None

    def file_complete(self, file_size: int) -> InMemoryUploadedFile:
        self._buffer.seek(0)
        return InMemoryUploadedFile(
            file=self._buffer,
            field_name=self.field_name,
            name=self.file_name,
            content_type=self.content_type,
            size=file_size,
            charset=self.charset,
            content_type_extra=self.content_type_extra,
        )


def intake_guard(request: HttpRequest) -> None:
    """Rate limits (429 + Retry-After) and request size (413), before the body is parsed.

    `request` is the DRF or Django request of ``POST /api/jobs``; call this before touching
    ``request.data``.
    """
    django_request = getattr(request, "_request", request)
    if not getattr(django_request, "scope", {}).get(RATE_CHECKED):  # the ASGI layer did not check yet
        ratelimit_enforce(request)
    limits = UploadLimits.from_settings()
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limits.max_bytes + _FORM_OVERHEAD_BYTES:
        raise _too_many_bytes(limits)
    django_request.upload_handlers = [CappedMemoryUploadHandler(django_request, max_bytes=limits.max_bytes)]


__all__ = ["CappedMemoryUploadHandler", "UploadRejected", "device_cookie_ensure", "intake_guard"]
