"""Per-client rate limits for job intake: token buckets in Redis/Valkey, shared by every web node.

Two buckets are checked (and drawn from) together in one atomic Lua call, one network round trip:

- **device**: the server-issued, signed ``pg_device`` cookie (`campaign.intake.device`). Tight (a
  person makes a handful of jobs), because it is the fair key for one visitor. A request without a
  valid id (no cookie, a made-up or tampered one, one per request) is **anonymous** and draws from the
  tighter *anonymous* bucket of its address instead: rotating or forging cookies buys nothing.
- **ip**: the client address (`campaign.security.proxies`: the socket peer, or the right-most
  untrusted ``X-Forwarded-For`` hop behind ``TRUSTED_PROXIES``). Generous, because mobile carriers
  put thousands of visitors behind one address (carrier-grade NAT); it only stops floods.

A request is allowed only if every bucket has a token, and then takes one from each: a client refused
by its device bucket does not also drain the shared IP bucket of its neighbours. What one address
can hold of the *queue* is bounded separately (`campaign.intake.fairshare`).

**When the limiter's Redis is down** intake keeps working (the queue, not the limiter, protects the
system, and refusing everyone would turn a cache blip into an outage): each web process falls back to
in-memory buckets with the same rules, so floods from one connection are still slowed, only not
coordinated across processes (the effective limit is multiplied by the number of processes). A
warning is logged at most once a minute while this lasts, and Redis is tried again after
``fallback_retry_s``. Redis calls have a short socket timeout so a hung cache cannot stall intake.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from campaign.errors import ServiceBusy
from campaign.intake.device import DEVICE_COOKIE, ClientRequest, device_id_from_request
from campaign.intake.memo import ProcessSingleton

if TYPE_CHECKING:
    import redis

logger = logging.getLogger(__name__)

__all__ = ["DEVICE_COOKIE", "RateLimiter", "Rule", "client_ip", "device_id_from_request"]

# KEYS: bucket keys. ARGV: cost, then (capacity, refill tokens per second) per key.
# Returns {allowed (0/1), retry_after_ms, index of the first refusing bucket (1-based, 0 = none)}.
_TOKEN_BUCKET_LUA = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000 + math.floor(tonumber(now_parts[2]) / 1000)
local cost = tonumber(ARGV[1])
local tokens = {}
local allowed = 1
local wait_ms = 0
local refused_by = 0
for i, key in ipairs(KEYS) do
  local capacity = tonumber(ARGV[2 * i])
  local per_ms = tonumber(ARGV[2 * i + 1]) / 1000.0
  local state = redis.call('HMGET', key, 't', 'ts')
  local level = tonumber(state[1])
  local stamp = tonumber(state[2])
  if level == nil or stamp == nil then
    level = capacity
  else
    level = math.min(capacity, level + math.max(0, now - stamp) * per_ms)
  end
  tokens[i] = level
  if level < cost then
    allowed = 0
    local wait = math.ceil((cost - level) / per_ms)
    if wait > wait_ms then wait_ms = wait end
    if refused_by == 0 then refused_by = i end
  end
end
for i, key in ipairs(KEYS) do
  local capacity = tonumber(ARGV[2 * i])
  local per_ms = tonumber(ARGV[2 * i + 1]) / 1000.0
  local level = tokens[i]
  if allowed == 1 then level = level - cost end
  redis.call('HSET', key, 't', tostring(level), 'ts', tostring(now))
  redis.call('PEXPIRE', key, math.ceil(capacity / per_ms) + 1000)
end
return {allowed, wait_ms, refused_by}
"""


@dataclass(frozen=True)
class Rule:
    """A token bucket: `burst` requests at once, refilled at `per_minute` requests per minute."""

    burst: int
    per_minute: float

    @property
    def per_second(self) -> float:
        return self.per_minute / 60.0


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    retry_after_s: int = 0
    limited_by: str | None = None  # "device", "anonymous" or "ip" when refused
    degraded: bool = False  # decided by the in-process fallback because Redis was unreachable


class RateLimited(ServiceBusy):
    """Too many requests from this device or address; `retry_after_s` tells the client when to retry.

    A `ServiceBusy`, so the API answers it like admission refusals (with ``Retry-After``), but 429.
    """

    code = "rate_limited"
    status = 429

    def __init__(self, decision: RateDecision) -> None:
        who = {"device": "this device", "anonymous": "this browser"}.get(
            decision.limited_by or "", "your network"
        )
        detail = (
            f"Too many photos from {who} right now: please wait {decision.retry_after_s} s and try again."
        )
        super().__init__(detail, retry_after_s=decision.retry_after_s)
        self.limited_by = decision.limited_by


@dataclass
class _LocalBucket:
    level: float
    stamp: float


@dataclass
class _LocalBuckets:
    """The in-process fallback: same arithmetic as the Lua script, per process."""

    buckets: dict[str, _LocalBucket] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, checks: list[tuple[str, Rule]], now: float) -> tuple[bool, float, int]:
        with self.lock:
            levels: list[float] = []
            wait = 0.0
            refused_by = 0
            for index, (key, rule) in enumerate(checks, start=1):
                bucket = self.buckets.get(key)
                level = (
                    rule.burst
                    if bucket is None
                    else min(rule.burst, bucket.level + max(0.0, now - bucket.stamp) * rule.per_second)
                )
                levels.append(level)
                if level < 1:
                    wait = max(wait, (1 - level) / rule.per_second)
                    refused_by = refused_by or index
            allowed = refused_by == 0
            for (key, _), level in zip(checks, levels, strict=True):
                self.buckets[key] = _LocalBucket(level - 1 if allowed else level, now)
            if len(self.buckets) > 100_000:  # bound memory during a long outage: forget full buckets
                self.buckets = {k: b for k, b in self.buckets.items() if now - b.stamp < 600}
            return allowed, wait, refused_by


class RateLimiter:
    """Checks the device and IP buckets of one request; see the module docstring for the rules."""

    def __init__(
        self,
        redis_client: redis.Redis | None,
        *,
        device: Rule,
        ip: Rule,
        anonymous: Rule | None = None,
        prefix: str = "rl:intake",
        fallback_retry_s: float = 5.0,
    ) -> None:
        self._redis = redis_client
        self._script = redis_client.register_script(_TOKEN_BUCKET_LUA) if redis_client is not None else None
        self.device = device
        self.ip = ip
        self.anonymous = anonymous or device
        self.prefix = prefix
        self.fallback_retry_s = fallback_retry_s
        self._local = _LocalBuckets()
        self._redis_down_until = 0.0
        self._last_warning = 0.0

    @property
    def redis_client(self) -> redis.Redis | None:
        """The limiter's Redis (None without one): the queue share keeps its counts there too."""
        return self._redis

    def check(self, *, ip: str, device_id: str | None) -> RateDecision:
        """Take one token from each applicable bucket, or say how long to wait; never raises.

        `device_id` must be a *verified* id (`device_id_from_request`); None means anonymous.
        """
        checks: list[tuple[str, Rule, str]] = []
        if device_id:
            checks.append((f"{self.prefix}:d:{device_id}", self.device, "device"))
        else:
            checks.append((f"{self.prefix}:a:{ip}", self.anonymous, "anonymous"))
        checks.append((f"{self.prefix}:ip:{ip}", self.ip, "ip"))
        now = time.monotonic()
        if self._script is not None and now >= self._redis_down_until:
            try:
                keys = [key for key, _, _ in checks]
                args: list[float] = [1]
                for _, rule, _ in checks:
                    args += [rule.burst, rule.per_second]
                allowed, wait_ms, refused_by = self._script(keys=keys, args=args)
                return self._decision(bool(allowed), int(wait_ms) / 1000.0, int(refused_by), checks, False)
            except Exception as error:  # any client/connection error: fall back, never fail the request
                self._redis_down_until = now + self.fallback_retry_s
                self._warn(error)
        allowed, wait_s, refused_by = self._local.take([(key, rule) for key, rule, _ in checks], now)
        return self._decision(allowed, wait_s, refused_by, checks, True)

    def _decision(
        self,
        allowed: bool,
        wait_s: float,
        refused_by: int,
        checks: list[tuple[str, Rule, str]],
        degraded: bool,
    ) -> RateDecision:
        if allowed:
            return RateDecision(True, degraded=degraded)
        return RateDecision(
            False,
            retry_after_s=max(1, math.ceil(wait_s)),
            limited_by=checks[refused_by - 1][2],
            degraded=degraded,
        )

    def _warn(self, error: Exception) -> None:
        now = time.monotonic()
        if now - self._last_warning >= 60:
            self._last_warning = now
            logger.warning(
                "rate limiter cache unreachable (%s: %s): using per-process limits until it is back",
                type(error).__name__,
                error,
            )


# ------------------------------------------------------------------------------------------- Django glue


def client_ip(request: ClientRequest) -> str:
    """The client address: ``REMOTE_ADDR``, which `campaign.security.proxies.TrustedProxyHeaders` has
    already resolved through the trusted proxies (X-Forwarded-For is never read here)."""
    return str(request.META.get("REMOTE_ADDR") or "unknown")


@ProcessSingleton
def get_rate_limiter() -> RateLimiter:
    """The process-wide limiter from settings (``RATELIMIT_*``), built on first use."""
    return _build_from_settings()


def reset_rate_limiter() -> None:
    """Forget the limiter (tests, settings changed); the queue share, which uses its Redis, too."""
    from campaign.intake.fairshare import reset_queue_share

    get_rate_limiter.reset()
    reset_queue_share()


def _build_from_settings() -> RateLimiter:
    import redis
    from django.conf import settings

    url = settings.RATELIMIT_REDIS_URL or settings.CHANNEL_REDIS_URL
    timeout = float(settings.RATELIMIT_REDIS_TIMEOUT_S)
    client = (
        redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout, max_connections=64)
        if url
        else None
    )
    return RateLimiter(
        client,
        device=Rule(*settings.RATELIMIT_DEVICE),
        ip=Rule(*settings.RATELIMIT_IP),
        anonymous=Rule(*settings.RATELIMIT_ANONYMOUS),
    )


def ratelimit_enforce(request: ClientRequest) -> RateDecision:
    """Intake's check: raises RateLimited (429 + Retry-After) or returns the (allowed) decision."""
    from django.conf import settings

    if not settings.RATELIMIT_ENABLED:
        return RateDecision(True)
    decision = get_rate_limiter().check(ip=client_ip(request), device_id=device_id_from_request(request))
    if not decision.allowed:
        raise RateLimited(decision)
    return decision
