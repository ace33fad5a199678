"""S3 storage whose objects say what they are: campaign and purpose as object metadata and tags.

Why: an operator looking at a bucket (or a lifecycle rule, a cost report, a data-protection request)
must be able to tell a visitor's encrypted original from a poster or a film template and which campaign
it belongs to, without the database. Tags also let a bucket lifecycle rule back up the retention sweep
(e.g. expire ``purpose=original-photo`` after a day).

The purpose comes from the storage key's fixed layout (``jobs/<id>/photo.jpg`` ...). The campaign comes
from `object_context` when the writer knows it (intake stores the photo before the job row exists),
else from the job row the key names (cached per process).
"""

from __future__ import annotations

import contextlib
import contextvars
import re
from collections.abc import Iterator
from functools import lru_cache
from typing import Any
from urllib.parse import urlencode

from storages.backends.s3 import S3Storage

_JOB_KEY = re.compile(r"^jobs/([0-9a-f-]{36})/(.+)$")
_campaign: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "protagonist_object_campaign", default=None
)


def object_purpose(key: str) -> str:
    """What a stored object is, from its key."""
    match = _JOB_KEY.match(key)
    if match:
        name = match.group(2)
        if name.startswith("photo"):
            return "original-photo"
        if name.startswith("face"):
            return "face-asset"
        if name.startswith("poster"):
            return "poster"
        if name.startswith("cover"):
            return "cover"
        if name.startswith("film"):
            return "film"
        return "job-other"
    if key.startswith("films/"):
        return "film-template"
    if key.startswith("posters/"):
        return "poster-template"
    return "other"


@lru_cache(maxsize=4096)
def _job_campaign(job_id: str) -> str | None:
    from campaign.models import Job

    return Job.objects.filter(pk=job_id).values_list("campaign__slug", flat=True).first()


def object_campaign(key: str) -> str | None:
    """The campaign slug an object belongs to, if known."""
    explicit = _campaign.get()
    if explicit:
        return explicit
    match = _JOB_KEY.match(key)
    return _job_campaign(match.group(1)) if match else None


@contextlib.contextmanager
def object_context(*, campaign: str | None) -> Iterator[None]:
    """Objects written inside this block are tagged with `campaign`."""
    token = _campaign.set(campaign)
    try:
        yield
    finally:
        _campaign.reset(token)


def object_tags(key: str) -> dict[str, str]:
    tags = {"app": "protagonist", "purpose": object_purpose(key)}
    campaign = object_campaign(key)
    if campaign:
        tags["campaign"] = campaign
    return tags


CDN_UNSIGNED_MESSAGE = (
    "CDN_DOMAIN is set but CDN URLs would not be signed: django-storages then hands out permanent, "
    "public links to visitors' results. Set CLOUDFRONT_KEY_ID and CLOUDFRONT_KEY (the PEM private key "
    "of a CloudFront key pair; the distribution must require signed URLs), or unset CDN_DOMAIN to serve "
    "presigned bucket URLs."
)


class TaggedS3Storage(S3Storage):
    """django-storages' S3Storage plus ``Metadata`` and ``Tagging`` (campaign, purpose) on every upload.

    Result URLs must be signed and expire: with a CDN domain that needs CloudFront signing keys
    (``CLOUDFRONT_KEY_ID``/``CLOUDFRONT_KEY`` from the environment), else the storage refuses to start
    instead of silently handing out unsigned CDN links.
    """

    def __init__(self, **options: object) -> None:
        import os

        if os.environ.get("CLOUDFRONT_KEY_ID") and os.environ.get("CLOUDFRONT_KEY"):
            options.setdefault("cloudfront_key_id", os.environ["CLOUDFRONT_KEY_ID"])
            options.setdefault("cloudfront_key", os.environ["CLOUDFRONT_KEY"].replace("\\n", "\n").encode())
        super().__init__(**options)
        if self.custom_domain and self.querystring_auth and not self.cloudfront_signer:
            from django.core.exceptions import ImproperlyConfigured

            raise ImproperlyConfigured(CDN_UNSIGNED_MESSAGE)

    def get_object_parameters(self, name: str) -> dict[str, Any]:
        parameters = super().get_object_parameters(name)
        tags = object_tags(name)
        parameters["Metadata"] = {**parameters.get("Metadata", {}), **tags}
        parameters["Tagging"] = urlencode(tags)
        return parameters
