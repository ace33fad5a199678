"""Fault injection loaded into a real worker process: `dramatiq workers.actors tests.faults.chaos`.

It only wraps the engine entry point the analyse stage calls, so everything else (actor, lease,
heartbeat, broker, database, storage) is the production code path. Controlled by environment:

* FAULT_CALLS_FILE: append "<job_id> <pid>" each time analysis really starts (counts duplicate runs).
* FAULT_ANALYZE_DELAY_S: sleep in small Python steps before analysing (a long but healthy stage).
* FAULT_ANALYZE_BLOCK_S: one uninterruptible `time.sleep` call, like native code holding the thread:
  Dramatiq's time-limit exception cannot land until it returns.
* FAULT_ANALYZE_TIME_LIMIT_MS: lower the analyse actor's time limit for the test.
* FAULT_VIDEO_BATCH_DELAY_S: sleep after each rendered batch of the film (a slow GPU), and log
  "video <job_id> <pid>" in FAULT_CALLS_FILE each time a render starts.
"""

from __future__ import annotations

import os
import time

from dramatiq.middleware import CurrentMessage

import swap.analysis
import swap.asset
import swap.film
from workers import actors

_real_analyze_photo = swap.analysis.analyze_photo


def _chaotic_analyze_photo(photo: bytes):  # type: ignore[no-untyped-def]
    message = CurrentMessage.get_current_message()
    calls = os.environ.get("FAULT_CALLS_FILE")
    if calls:
        with open(calls, "a") as fh:
            fh.write(f"{message.args[0] if message else '?'} {os.getpid()}\n")
    delay = float(os.environ.get("FAULT_ANALYZE_DELAY_S", "0"))
    deadline = time.monotonic() + delay
    while time.monotonic() < deadline:
        time.sleep(0.05)
    block = float(os.environ.get("FAULT_ANALYZE_BLOCK_S", "0"))
    if block:
        time.sleep(block)
    return _real_analyze_photo(photo)


_real_render_film = swap.film.render_film


def _chaotic_render_film(*args, **kwargs):  # type: ignore[no-untyped-def]
    message = CurrentMessage.get_current_message()
    calls = os.environ.get("FAULT_CALLS_FILE")
    if calls:
        with open(calls, "a") as fh:
            fh.write(f"video {message.args[0] if message else '?'} {os.getpid()}\n")
    delay = float(os.environ.get("FAULT_VIDEO_BATCH_DELAY_S", "0"))
    progress = args[4] if len(args) > 4 else kwargs.get("progress")
    if delay and progress is not None:

        def slow_progress(done: int, total: int) -> None:
            progress(done, total)
            time.sleep(delay)

        if len(args) > 4:
            args = (*args[:4], slow_progress, *args[5:])
        else:
            kwargs["progress"] = slow_progress
    return _real_render_film(*args, **kwargs)


swap.analysis.analyze_photo = _chaotic_analyze_photo
swap.film.render_film = _chaotic_render_film
if os.environ.get("FAULT_ANALYZE_TIME_LIMIT_MS"):
    actors.analyze_job.options["time_limit"] = int(os.environ["FAULT_ANALYZE_TIME_LIMIT_MS"])
