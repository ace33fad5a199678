"""Rate limits: device and IP buckets in a real Valkey, the shared-IP rule, and the cache-down fallback."""

from __future__ import annotations

import logging
import time

import pytest
import redis

from campaign.intake.ratelimit import RateLimiter, Rule
from tests.conftest import free_port


@pytest.fixture
def limiter(valkey: redis.Redis, request: pytest.FixtureRequest) -> RateLimiter:
    return RateLimiter(valkey, device=Rule(3, 60.0), ip=Rule(10, 600.0), prefix=f"rl:{request.node.name}")


def test_device_gets_its_burst_then_waits(limiter: RateLimiter) -> None:
    decisions = [limiter.check(ip="10.0.0.1", device_id="device-aaaaaaaaaaaaaaaa") for _ in range(4)]

    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert decisions[3].limited_by == "device"
    assert decisions[3].retry_after_s == 1  # one token per second at 60 per minute
    assert not any(d.degraded for d in decisions)


def test_many_devices_behind_one_carrier_address_share_a_generous_ip_bucket(limiter: RateLimiter) -> None:
    decisions = [limiter.check(ip="100.64.0.9", device_id=f"device-{n:016d}") for n in range(12)]

    assert [d.allowed for d in decisions] == [True] * 10 + [False] * 2
    assert decisions[-1].limited_by == "ip"


def test_refused_device_does_not_drain_its_neighbours_ip_bucket(limiter: RateLimiter) -> None:
    for _ in range(20):
        limiter.check(ip="100.64.0.10", device_id="greedy-device-0000000")

    neighbour = limiter.check(ip="100.64.0.10", device_id="polite-device-0000000")

    assert neighbour.allowed  # the greedy device took 3 of 10 IP tokens, not 20


def test_bucket_refills_with_time(valkey: redis.Redis) -> None:
    fast = RateLimiter(valkey, device=Rule(1, 600.0), ip=Rule(100, 6000.0), prefix="rl:refill")
    assert fast.check(ip="10.1.1.1", device_id="refill-device-00000000").allowed
    assert not fast.check(ip="10.1.1.1", device_id="refill-device-00000000").allowed

    time.sleep(0.15)  # 10 tokens per second

    assert fast.check(ip="10.1.1.1", device_id="refill-device-00000000").allowed


def test_buckets_are_shared_between_web_processes(valkey: redis.Redis) -> None:
    first = RateLimiter(valkey, device=Rule(2, 1.0), ip=Rule(100, 100.0), prefix="rl:shared")
    second = RateLimiter(valkey, device=Rule(2, 1.0), ip=Rule(100, 100.0), prefix="rl:shared")

    results = [
        limiter.check(ip="10.2.2.2", device_id="shared-device-000000").allowed
        for limiter in (first, second, first)
    ]

    assert results == [True, True, False]


def test_cache_down_falls_back_to_per_process_limits_and_warns(caplog: pytest.LogCaptureFixture) -> None:
    dead = redis.Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=0.2, socket_timeout=0.2)
    limiter = RateLimiter(dead, device=Rule(2, 1.0), ip=Rule(100, 100.0), prefix="rl:down")

    with caplog.at_level(logging.WARNING, logger="campaign.intake.ratelimit"):
        decisions = [limiter.check(ip="10.3.3.3", device_id="offline-device-00000") for _ in range(3)]

    assert [d.allowed for d in decisions] == [True, True, False]  # still limited, never an error
    assert all(d.degraded for d in decisions)
    assert caplog.text.count("rate limiter cache unreachable") == 1


def test_requests_without_a_verified_device_draw_from_the_tighter_anonymous_bucket(
    valkey: redis.Redis,
) -> None:
    limiter = RateLimiter(
        valkey, device=Rule(5, 6.0), ip=Rule(100, 100.0), anonymous=Rule(2, 2.0), prefix="rl:anon"
    )

    anonymous = [limiter.check(ip="10.4.4.4", device_id=None) for _ in range(3)]
    with_device = limiter.check(ip="10.4.4.4", device_id="verified-device-00000")

    assert [d.allowed for d in anonymous] == [True, True, False]
    assert anonymous[2].limited_by == "anonymous"
    assert with_device.allowed  # the anonymous bucket is not the device's
