from __future__ import annotations

import math

import pytest

from gateway.clock import RefillClock, SystemClock, TestClock


def test_test_clock_moves_only_when_told() -> None:
    clock = TestClock(1000.0)
    assert clock.now() == clock.now() == 1000.0
    clock.advance(86_400)
    assert clock.now() == 87_400.0
    clock.set(5.5)
    assert clock.now() == 5.5


@pytest.mark.parametrize("bad", [-1.0, math.inf, math.nan])
def test_test_clock_refuses_going_back_or_nonsense(bad: float) -> None:
    clock = TestClock(1000.0)
    with pytest.raises(ValueError):
        clock.advance(bad)
    assert clock.now() == 1000.0


@pytest.mark.parametrize("bad", [-5.0, math.inf, math.nan])
def test_test_clock_set_refuses_invalid_times(bad: float) -> None:
    with pytest.raises(ValueError):
        TestClock(1000.0).set(bad)


def test_system_clock_is_unix_time_in_seconds() -> None:
    now = SystemClock().now()
    assert isinstance(now, float)
    assert now > 1_600_000_000  # seconds (not ms, not monotonic), after 2020


def test_refill_clock_adds_real_time_to_the_test_clock() -> None:
    real = [100.0]
    clock = TestClock(start=1_000.0)
    refill = RefillClock(clock, monotonic=lambda: real[0])
    assert refill.now() == 1_000.0
    real[0] += 2.5  # real time passes: buckets refill
    assert refill.now() == 1_002.5
    clock.advance(60)  # the clock moves: buckets refill too
    assert refill.now() == 1_062.5
