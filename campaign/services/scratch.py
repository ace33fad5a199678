"""Scratch folders of renders on this machine: the visitor's film while it is encoded, in plaintext.

The encoder needs a local file, so a render's film exists unencrypted under
``LOCAL_CACHE_DIR/renders/<job id>.<pid>.<random>/`` until it is stored. `render_scratch` removes the
folder when the render ends, however it ends. A worker killed outright (SIGKILL, OOM) cannot, so:

* every worker process sweeps at start (`render_scratch_sweep`): folders whose process is gone are
  removed (the cache dir is per machine, so a pid names a process here);
* `job_delete` (the visitor's delete and retention) sweeps the job's own folders of dead processes; a
  render still running notices the deletion at its next progress report and removes its folder itself.

Folders from before this naming (``tmp*``, Python's default) are removed once untouched for an hour.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings

logger = logging.getLogger(__name__)

LEGACY_MAX_AGE_S = 3600.0


def _renders_dir() -> Path:
    return Path(settings.LOCAL_CACHE_DIR) / "renders"


@contextmanager
def render_scratch(*, job_id: object) -> Iterator[Path]:
    """A private folder for one render of `job_id`, removed with everything in it when the block ends."""
    root = _renders_dir()
    root.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f"{job_id}.{os.getpid()}.", dir=root))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    """A killed process not yet reaped still answers `kill(pid, 0)`: a SIGKILLed worker's forked child
    stays a zombie until its new parent (the container's init) reaps it, which may be after the
    replacement worker's sweep. Linux only (/proc); elsewhere such a folder waits for the next sweep."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[:1] == ["Z"]


def _abandoned(folder: Path, now: float) -> bool:
    parts = folder.name.split(".")
    if len(parts) == 3 and parts[1].isdigit():
        return not _process_alive(int(parts[1]))
    if folder.name.startswith("tmp"):
        try:
            return now - folder.stat().st_mtime > LEGACY_MAX_AGE_S
        except FileNotFoundError:
            return False
    return False


def render_scratch_sweep(*, job_id: object | None = None) -> int:
    """Remove abandoned render folders (all of them, or only `job_id`'s); returns how many."""
    root = _renders_dir()
    if not root.is_dir():
        return 0
    now = time.time()
    removed = 0
    for folder in root.iterdir():
        if not folder.is_dir() or (job_id is not None and not folder.name.startswith(f"{job_id}.")):
            continue
        if _abandoned(folder, now):
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    if removed:
        logger.info("removed %d abandoned render folder(s)", removed)
    return removed
