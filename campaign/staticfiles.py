"""Static files with content-hashed names (WeChat caches hard), tolerant of a missing manifest."""

from __future__ import annotations

from django.contrib.staticfiles.storage import ManifestStaticFilesStorage


class ForgivingManifestStaticFilesStorage(ManifestStaticFilesStorage):
    """Hashed names after `collectstatic`; plain names before it (tests, a fresh checkout)."""

    manifest_strict = False
