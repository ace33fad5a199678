"""Renders "ours" through the engine's public still path: the CLI `python -m swap photo target -o out`.

Calling the CLI's `main` (not the functions behind it) is what keeps the identity bench working while
the engine is rebuilt: whatever the still path becomes, the CLI is wired to it. The same file runs
in-process for the working tree and as a subprocess for another git ref (`bench/identity.py
--compare-ref`), with `PYTHONPATH` pointing at that ref's worktree:

    PYTHONPATH=<worktree> python bench/ours_driver.py jobs.json results.json

jobs.json: a list of {"photo": path, "target": path, "out": path}; results.json: a list of
{"rc": exit status, "stderr": the CLI's messages (the refusal reason for rc 2), "seconds": wall time}.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import time
from pathlib import Path
from typing import Any


def render_jobs(jobs: list[dict[str, str]]) -> list[dict[str, Any]]:
    """Run the swap CLI once per job, in this process; the output image lands at job["out"]."""
    from swap.__main__ import main

    results: list[dict[str, Any]] = []
    for job in jobs:
        err = io.StringIO()
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
            rc = main([job["photo"], job["target"], "-o", job["out"]])
        results.append({"rc": rc, "stderr": err.getvalue().strip(), "seconds": time.perf_counter() - t0})
    return results


def engine_location() -> str:
    """Where the `swap` package this process renders with comes from (to check a worktree is used)."""
    import swap

    return str(Path(swap.__file__).resolve().parent)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: ours_driver.py jobs.json results.json")
    jobs = json.loads(Path(sys.argv[1]).read_text())
    out = {"engine": engine_location(), "results": render_jobs(jobs)}
    Path(sys.argv[2]).write_text(json.dumps(out))
