"""Fixtures of the service tests: a real S3 server (SeaweedFS) for the storage backend tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.campaign.services.seaweed import SeaweedS3, start_seaweed


@pytest.fixture(scope="session")
def seaweed_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3]:
    """SeaweedFS `weed server -s3` on free loopback ports; skips with the reason when it cannot start."""
    try:
        server = start_seaweed(tmp_path_factory.mktemp("seaweedfs"))
    except (RuntimeError, OSError) as error:
        pytest.skip(f"SeaweedFS S3 server unavailable: {error}")
    yield server
    server.stop()
