"""Where the benches find the shared sample media: `PROTAGONIST_SHARED_MEDIA`, else ../shared/media.

One rule for every bench, the same as the test suite's (`tests/conftest.py`): a checkout whose
sample media live elsewhere (a worktree, a CI folder) points the variable at them.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def media_root() -> Path:
    """The shared sample media folder (it may not exist: each bench says so when it needs it)."""
    env = os.environ.get("PROTAGONIST_SHARED_MEDIA")
    return Path(env) if env else ROOT.parent / "shared" / "media"
