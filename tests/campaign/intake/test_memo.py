"""`ProcessSingleton`: built once, also when the first calls arrive together; `reset()` builds it anew."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from campaign.intake.memo import ProcessSingleton


def test_concurrent_first_calls_build_once_and_reset_builds_again() -> None:
    built: list[object] = []
    start = threading.Barrier(8)

    @ProcessSingleton
    def thing() -> object:
        """A slow build."""
        time.sleep(0.05)
        built.append(object())
        return built[-1]

    def first_call() -> object:
        start.wait()
        return thing()

    with ThreadPoolExecutor(8) as pool:
        values = list(pool.map(lambda _: first_call(), range(8)))

    assert len(built) == 1 and all(value is built[0] for value in values)
    assert thing.__doc__ == "A slow build."
    thing.reset()
    assert thing() is built[1] and len(built) == 2
