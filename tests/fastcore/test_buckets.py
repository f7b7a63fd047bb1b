"""Token bucket semantics: burst, refill, cost, time going backwards, LRU bound."""

import math

import pytest


def test_new_key_starts_with_a_full_burst(core):
    buckets = core.TokenBuckets(rate=1, burst=3)
    assert [buckets.take("ip", 0) for _ in range(4)] == [True, True, True, False]


def test_tokens_refill_at_rate_and_cap_at_burst(core):
    buckets = core.TokenBuckets(rate=2, burst=3)
    for _ in range(3):
        assert buckets.take("ip", 10)
    assert not buckets.take("ip", 10)
    assert buckets.take("ip", 10.5)  # 0.5 s * 2/s = 1 token
    assert not buckets.take("ip", 10.5)
    # A long pause refills only up to the burst.
    assert [buckets.take("ip", 1000) for _ in range(4)] == [True, True, True, False]


def test_cost_is_taken_whole_or_not_at_all(core):
    buckets = core.TokenBuckets(rate=1, burst=5)
    assert buckets.take("user", 0, cost=4)
    assert not buckets.take("user", 0, cost=2)
    assert buckets.take("user", 0, cost=1)
    assert not buckets.take("user", 0, cost=6)
    assert buckets.take("user", 0, cost=0)


def test_time_going_backwards_refills_nothing(core):
    buckets = core.TokenBuckets(rate=1, burst=2)
    assert buckets.take("k", 100) and buckets.take("k", 100)
    assert not buckets.take("k", 50)
    assert not buckets.take("k", 99.9)
    # Refill resumes from the latest time seen, not from the earlier one.
    assert buckets.take("k", 101)
    assert not buckets.take("k", 101)


def test_keys_are_independent(core):
    buckets = core.TokenBuckets(rate=0, burst=1)
    assert buckets.take("a", 0)
    assert not buckets.take("a", 1e9)  # rate 0 never refills
    assert buckets.take("b", 0)
    assert buckets.take(("tuple", 1), 0)


def test_memory_is_bounded_by_max_keys(core):
    buckets = core.TokenBuckets(rate=1, burst=1, max_keys=100)
    for i in range(10_000):
        buckets.take(f"ip-{i}", 0)
    assert len(buckets) == 100
    assert "ip-9999" in buckets and "ip-9899" not in buckets


def test_least_recently_used_key_is_evicted(core):
    buckets = core.TokenBuckets(rate=0, burst=1, max_keys=3)
    for key in "abc":
        assert buckets.take(key, 0)
    assert not buckets.take("a", 0)  # touches "a": now "b" is the oldest
    assert buckets.take("d", 0)
    assert "b" not in buckets
    assert {"a", "c", "d"} == {k for k in "abcd" if k in buckets}
    # An evicted key comes back with a full bucket; "a" kept its empty one.
    assert buckets.take("b", 0)
    assert not buckets.take("a", 0)


def test_retry_after(core):
    buckets = core.TokenBuckets(rate=0.5, burst=2)
    assert buckets.retry_after("k", 0) == 0.0
    buckets.take("k", 0, cost=2)
    assert buckets.retry_after("k", 0) == pytest.approx(2.0)
    assert buckets.retry_after("k", 1) == pytest.approx(1.0)
    assert buckets.retry_after("k", 0, cost=3) == math.inf
    assert core.TokenBuckets(rate=0, burst=1).retry_after("k", 0, cost=2) == math.inf
    assert "fresh" not in buckets and buckets.retry_after("fresh", 0) == 0.0
    assert "fresh" not in buckets  # asking does not create a bucket


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ((-1, 1), ValueError),
        ((1, 0), ValueError),
        ((1, math.inf), ValueError),
        ((math.nan, 1), ValueError),
        (("1", 1), TypeError),
        ((1, 1, 0), ValueError),
        ((1, 1, 1.5), TypeError),
        ((1, 1, 2**40), ValueError),
    ],
)
def test_bad_construction(core, args, error):
    with pytest.raises(error):
        core.TokenBuckets(*args)


@pytest.mark.parametrize(
    ("now", "cost", "error"),
    [
        (math.nan, 1, ValueError),
        (math.inf, 1, ValueError),
        ("0", 1, TypeError),
        (0, -1, ValueError),
        (0, math.nan, ValueError),
        (None, 1, TypeError),
        (10**400, 1, ValueError),
    ],
)
def test_bad_take_arguments(core, now, cost, error):
    buckets = core.TokenBuckets(1, 1)
    with pytest.raises(error):
        buckets.take("k", now, cost)
    with pytest.raises(TypeError):
        buckets.take(["unhashable"], 0)
