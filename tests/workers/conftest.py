"""Worker tests share the platform fixtures (temp media, in-memory channel layer, StubBroker)."""

from __future__ import annotations

from tests.campaign.conftest import (  # noqa: F401  (fixtures)
    _platform_isolation,
    astronaut_jpeg,
    queued_job,
    ready_campaign,
)
