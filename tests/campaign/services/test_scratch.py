"""Render scratch folders: a render's plaintext film never outlives the render, a killed worker, or
the job's deletion (campaign.services.scratch)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def _renders() -> Path:
    return Path(settings.LOCAL_CACHE_DIR) / "renders"


def _abandoned_render(job_id: object, pid: int) -> Path:
    folder = _renders() / f"{job_id}.{pid}.abc123"
    folder.mkdir(parents=True)
    (folder / "film.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 plaintext partial film")
    return folder


def test_render_folder_is_removed_when_the_render_raises() -> None:
    from campaign.services.scratch import render_scratch

    with pytest.raises(RuntimeError), render_scratch(job_id="job-1") as folder:
        (folder / "film.mp4").write_bytes(b"partial")
        assert folder.parent == _renders() and folder.name.startswith(f"job-1.{os.getpid()}.")
        raise RuntimeError("encoder failed")
    assert not folder.exists()


def test_sweep_removes_dead_processes_and_old_legacy_folders_only() -> None:
    from campaign.services.scratch import render_scratch, render_scratch_sweep

    dead = _abandoned_render("job-dead", _dead_pid())
    old_legacy = _renders() / "tmpold"
    old_legacy.mkdir()
    (old_legacy / "film.mp4").write_bytes(b"partial")
    os.utime(old_legacy, (time.time() - 7200, time.time() - 7200))
    fresh_legacy = _renders() / "tmpnew"
    fresh_legacy.mkdir()
    with render_scratch(job_id="job-live") as live:
        assert render_scratch_sweep() == 2
        assert live.exists() and fresh_legacy.exists()
    assert not dead.exists() and not old_legacy.exists()


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="zombies are read from Linux's /proc")
def test_sweep_removes_the_folder_of_a_killed_process_not_yet_reaped() -> None:
    from campaign.services.scratch import _zombie, render_scratch_sweep

    process = subprocess.Popen(["sleep", "30"])
    try:
        process.kill()  # not waited for: a zombie, as a SIGKILLed worker's child is until init reaps it
        deadline = time.monotonic() + 10
        while not _zombie(process.pid):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        zombie = _abandoned_render("job-zombie", process.pid)
        assert render_scratch_sweep() == 1
        assert not zombie.exists()
    finally:
        process.wait()


def test_deleting_a_job_removes_the_partial_film_its_killed_render_left(queued_job: Any) -> None:
    from campaign.services.jobs import job_delete

    job, _token = queued_job
    mine = _abandoned_render(job.pk, _dead_pid())
    others = _abandoned_render("another-job", _dead_pid())

    assert job_delete(job_id=job.pk)

    assert not mine.exists()
    assert others.exists()  # left to its own job's deletion or the next worker start
