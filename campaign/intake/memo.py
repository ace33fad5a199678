"""What intake remembers per process: lookups for ``ADMISSION_SNAPSHOT_TTL_S`` (1 s), and the objects it
builds once (`ProcessSingleton`).

Intake reads the running campaign and its ready variants on every request; at thousands of requests
per second those two reads were ~40 % of the request's CPU. An editor's change (campaign closed,
variant withdrawn) reaches intake within the TTL; 0 turns the memo off (tests). The cache is
`cachetools.TTLCache` (bounded, expiring); it is not thread-safe by itself, hence the lock, and it is
built again when the TTL setting changes (tests override it).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Generic, TypeVar, cast

from cachetools import TTLCache
from django.conf import settings

T = TypeVar("T")

_MAX_ENTRIES = 1000
_lock = threading.Lock()
_cache: TTLCache[object, object] = TTLCache(maxsize=_MAX_ENTRIES, ttl=1.0)


def intake_memo(key: object, compute: Callable[[], T]) -> T:
    """`compute()`, or its value remembered under `key` for at most ``ADMISSION_SNAPSHOT_TTL_S``."""
    global _cache
    ttl_s = float(settings.ADMISSION_SNAPSHOT_TTL_S)
    if ttl_s <= 0:
        return compute()
    with _lock:
        if _cache.ttl != ttl_s:
            _cache = TTLCache(maxsize=_MAX_ENTRIES, ttl=ttl_s)
        if key in _cache:
            return cast(T, _cache[key])  # stored by the same key's compute
    value = compute()
    with _lock:
        _cache[key] = value
    return value


class ProcessSingleton(Generic[T]):
    """Decorates a builder without arguments: the first call builds the value, later calls return it.
    Built under a lock, so requests that arrive together at start build it once; `reset()` forgets it
    (tests, settings changed) and the next call builds it again."""

    def __init__(self, build: Callable[[], T]) -> None:
        self._build = build
        self._value: T | None = None
        self._lock = threading.Lock()
        functools.update_wrapper(self, build)

    def __call__(self) -> T:
        value = self._value
        if value is None:
            with self._lock:
                value = self._value
                if value is None:
                    value = self._value = self._build()
        return value

    def reset(self) -> None:
        self._value = None
