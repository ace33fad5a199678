"""Each client's share of the queue, so that one client cannot fill it and get everyone else a 503.

Admission (`campaign.intake.admission`) refuses new jobs once the queue's estimated wait passes the
campaign's promise: whoever fills the queue first decides who is refused next. Rate limits alone do
not prevent that (one address may legitimately carry thousands of visitors: carrier NAT), so intake
also bounds what one client may hold of the queue's capacity within the promise (`admission_capacity`):

- one **address** at most ``ADMISSION_SHARE_IP`` of it (default 0.5: a crowd behind one carrier
  address still gets half the queue, and the rest of the world always has the other half);
- one **device** (a verified, server-signed id) at most ``ADMISSION_SHARE_DEVICE`` (default 0.1);
- never less than ``ADMISSION_SHARE_MIN_JOBS`` (3) each, so a quiet queue is never refused.

A client over its share gets 429 ``queue_share`` with ``Retry-After`` while everyone else is still
admitted. A job counts against its client for the campaign's ``max_wait_seconds`` after it was
admitted (the promise says it is through the queue by then), kept as a sorted set per client in the
limiter's Redis, checked and taken in one atomic Lua call; a job that is not created after all
(refused photo, broker down) gives its place back. When Redis is unreachable each web process counts
its own admissions instead (the same rules, per process), as the rate limiter does.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from campaign.errors import ServiceBusy
from campaign.intake.memo import ProcessSingleton

if TYPE_CHECKING:
    import redis
    from django.http import HttpRequest

    from campaign.models import Campaign

logger = logging.getLogger(__name__)

# KEYS: one sorted set per client. ARGV: window ms, member, then the limit per key.
# Returns {allowed (0/1), index of the first full key (1-based, 0 = none), ms until its oldest expires}.
_SHARE_LUA = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000 + math.floor(tonumber(now_parts[2]) / 1000)
local window = tonumber(ARGV[1])
local member = ARGV[2]
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  if redis.call('ZCARD', key) >= tonumber(ARGV[2 + i]) then
    local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    local wait = window
    if oldest[2] then wait = tonumber(oldest[2]) + window - now end
    return {0, i, wait}
  end
end
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, now, member)
  redis.call('PEXPIRE', key, window + 1000)
end
return {1, 0, 0}
"""


class QueueShareExceeded(ServiceBusy):
    """This client already holds its share of the queue; others are still admitted."""

    code = "queue_share"
    status = 429

    def __init__(self, *, retry_after_s: int, limited_by: str) -> None:
        who = "this device" if limited_by == "device" else "your network"
        super().__init__(
            f"Many photos from {who} are already waiting: please wait {retry_after_s} s, "
            "until some of them are done, and try again.",
            retry_after_s=retry_after_s,
        )
        self.limited_by = limited_by


@dataclass(frozen=True)
class ClientShare:
    """One client key and the most jobs it may hold."""

    key: str
    limit: int
    kind: str  # "ip" or "device"


@dataclass(frozen=True)
class ShareTicket:
    """A place taken in each client's share; `QueueShare.release` gives it back."""

    keys: tuple[str, ...]
    member: str


@dataclass
class _LocalShares:
    members: dict[str, dict[str, float]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, shares: list[ClientShare], member: str, window_s: float, now: float) -> tuple[int, float]:
        with self.lock:
            for index, share in enumerate(shares, start=1):
                held = {m: t for m, t in self.members.get(share.key, {}).items() if now - t < window_s}
                self.members[share.key] = held
                if len(held) >= share.limit:
                    return index, min(held.values()) + window_s - now
            for share in shares:
                self.members[share.key][member] = now
            if len(self.members) > 100_000:
                self.members = {k: v for k, v in self.members.items() if v}
            return 0, 0.0

    def release(self, ticket: ShareTicket) -> None:
        with self.lock:
            for key in ticket.keys:
                self.members.get(key, {}).pop(ticket.member, None)


class QueueShare:
    """Takes a place in each client's share atomically, or raises `QueueShareExceeded`."""

    def __init__(
        self, redis_client: redis.Redis | None, *, prefix: str = "share:intake", fallback_retry_s: float = 5.0
    ) -> None:
        self._redis = redis_client
        self._script = redis_client.register_script(_SHARE_LUA) if redis_client is not None else None
        self.prefix = prefix
        self.fallback_retry_s = fallback_retry_s
        self._local = _LocalShares()
        self._redis_down_until = 0.0
        self._last_warning = 0.0

    def take(self, shares: list[ClientShare], *, window_s: float) -> ShareTicket:
        member = uuid.uuid4().hex
        keys = [f"{self.prefix}:{share.key}" for share in shares]
        ticket = ShareTicket(tuple(keys), member)
        now = time.monotonic()
        if self._script is not None and now >= self._redis_down_until:
            try:
                allowed, full, wait_ms = self._script(
                    keys=keys, args=[int(window_s * 1000), member, *(share.limit for share in shares)]
                )
                if allowed:
                    return ticket
                raise self._refusal(shares[int(full) - 1], int(wait_ms) / 1000.0)
            except QueueShareExceeded:
                raise
            except Exception as error:  # any client/connection error: count in this process instead
                self._redis_down_until = now + self.fallback_retry_s
                if now - self._last_warning >= 60:
                    self._last_warning = now
                    logger.warning(
                        "queue share cache unreachable (%s): counting per process", type(error).__name__
                    )
        local = [ClientShare(key, share.limit, share.kind) for key, share in zip(keys, shares, strict=True)]
        full, wait_s = self._local.take(local, member, window_s, now)
        if full:
            raise self._refusal(shares[full - 1], wait_s)
        return ticket

    def release(self, ticket: ShareTicket) -> None:
        """Give the place back (the job was not created after all); never raises."""
        self._local.release(ticket)
        if self._redis is None or time.monotonic() < self._redis_down_until:
            return
        try:
            pipe = self._redis.pipeline()
            for key in ticket.keys:
                pipe.zrem(key, ticket.member)
            pipe.execute()
        except Exception:  # the place expires with the window anyway
            logger.warning("queue share: could not give a place back", exc_info=True)

    @staticmethod
    def _refusal(share: ClientShare, wait_s: float) -> QueueShareExceeded:
        return QueueShareExceeded(retry_after_s=max(1, min(300, math.ceil(wait_s))), limited_by=share.kind)


# ------------------------------------------------------------------------------------------- Django glue


@ProcessSingleton
def get_queue_share() -> QueueShare:
    """The process-wide queue share, on the rate limiter's Redis, built on first use."""
    from campaign.intake.ratelimit import get_rate_limiter

    return QueueShare(get_rate_limiter().redis_client)


def reset_queue_share() -> None:
    get_queue_share.reset()


def client_shares(*, ip: str, device_id: str | None, capacity: int) -> list[ClientShare]:
    """The keys and limits of one request's client (settings ``ADMISSION_SHARE_*``)."""
    from django.conf import settings

    minimum = int(settings.ADMISSION_SHARE_MIN_JOBS)
    ip_share = float(settings.ADMISSION_SHARE_IP)
    device_share = float(settings.ADMISSION_SHARE_DEVICE)
    shares = [ClientShare(f"ip:{ip}", max(minimum, math.ceil(ip_share * capacity)), "ip")]
    if device_id:
        shares.append(
            ClientShare(f"d:{device_id}", max(minimum, math.ceil(device_share * capacity)), "device")
        )
    return shares


def queue_share_take(*, request: HttpRequest, campaign: Campaign) -> ShareTicket | None:
    """Intake's check: a place in this client's share, or QueueShareExceeded (429 + Retry-After).

    None when shares are off (``ADMISSION_SHARE_ENABLED=false``).
    """
    from django.conf import settings

    from campaign.intake.admission import admission_capacity
    from campaign.intake.device import device_id_from_request
    from campaign.intake.ratelimit import client_ip

    if not settings.ADMISSION_SHARE_ENABLED:
        return None
    django_request = getattr(request, "_request", request)
    shares = client_shares(
        ip=client_ip(django_request),
        device_id=device_id_from_request(django_request),
        capacity=admission_capacity(campaign=campaign),
    )
    return get_queue_share().take(shares, window_s=float(campaign.max_wait_seconds))


def queue_share_release(ticket: ShareTicket | None) -> None:
    if ticket is not None:
        get_queue_share().release(ticket)
