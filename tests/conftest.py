"""Fixtures shared by every test package."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest


def _find_shared_media() -> Path:
    """The project's sample media: `PROTAGONIST_SHARED_MEDIA` when set (also to an empty folder: CI runs
    the engine tests once that way so the "no sample media" path is exercised), else ../shared/media
    beside the checkout. Nothing else: a path of one machine would hide that case everywhere else."""
    configured = os.environ.get("PROTAGONIST_SHARED_MEDIA", "")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[2] / "shared" / "media"


SHARED_MEDIA = _find_shared_media()


def free_port() -> int:
    """A loopback port free at the moment of asking (the OS's pick): for a server the test starts, or
    as a port where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def shared_media() -> Path:
    """The sample photos and films in ../shared/media; tests that need them skip when absent."""
    if not (SHARED_MEDIA / "photos").is_dir():
        pytest.skip(f"sample media not found at {SHARED_MEDIA}")
    return SHARED_MEDIA


@pytest.fixture(scope="session")
def astronaut_rgb():
    """scikit-image's astronaut: a real face photo that ships inside a wheel, so it is always present."""
    from skimage import data

    return data.astronaut()
