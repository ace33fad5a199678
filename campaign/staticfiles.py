"""Static files with content-hashed names (WeChat caches hard), tolerant of a missing manifest."""

from __future__ import annotations

from django.contrib.staticfiles.storage import ManifestStaticFilesStorage


class ForgivingManifestStaticFilesStorage(ManifestStaticFilesStorage):
    """Hashed names after `collectstatic` (scripts/run does it); plain names before (tests, a checkout)."""

    manifest_strict = False

    def stored_name(self, name: str) -> str:
        try:
            return super().stored_name(name)
        except ValueError:  # not collected yet: served from the source tree under its own name
            return name
