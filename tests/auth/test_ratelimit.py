from __future__ import annotations

import pytest

from gateway.auth.ratelimit import LoginRateLimits
from gateway.clock import TestClock
from gateway.config import RateLimitConfig
from gateway.errors import RateLimited


def limits(clock: TestClock) -> LoginRateLimits:
    config = RateLimitConfig(ip_rate=1.0, ip_burst=2.0, user_rate=0.25, user_burst=1.0)
    return LoginRateLimits(clock, config)


def test_ip_bucket_empties_and_refills() -> None:
    clock = TestClock()
    buckets = limits(clock)
    buckets.check_ip("1.2.3.4")
    buckets.check_ip("1.2.3.4")
    with pytest.raises(RateLimited) as caught:
        buckets.check_ip("1.2.3.4")
    assert caught.value.retry_after == 1
    assert caught.value.headers() == {"Retry-After": "1"}
    buckets.check_ip("5.6.7.8")
    clock.advance(1)
    buckets.check_ip("1.2.3.4")


def test_user_bucket_is_separate_from_the_ip_bucket() -> None:
    clock = TestClock()
    buckets = limits(clock)
    buckets.check_user("alice")
    with pytest.raises(RateLimited) as caught:
        buckets.check_user("alice")
    assert caught.value.retry_after == 4
    buckets.check_ip("alice")  # same key, other bucket
    buckets.check_user("bob")
    clock.advance(4)
    buckets.check_user("alice")
