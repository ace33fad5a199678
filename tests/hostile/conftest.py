"""The hostile-input suite runs on the platform fixtures of tests/campaign (temp media, in-memory channel
layer, StubBroker), like tests/workers."""

from __future__ import annotations

from tests.campaign.conftest import (  # noqa: F401  (fixtures)
    _platform_isolation,
    astronaut_jpeg,
    queued_job,
    ready_campaign,
)
