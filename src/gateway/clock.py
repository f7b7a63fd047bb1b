"""Where the gateway gets the time from.

Every rule with a duration (lockout window, session idle and absolute
lifetime, login expiry, TOTP steps, token buckets) reads the time from an
injected ``Clock``, never from ``time`` directly, so tests and load tests can
move time with a ``TestClock`` instead of sleeping.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Unix time in seconds."""
        ...


class SystemClock:
    """The wall clock (``time.time``)."""

    def now(self) -> float:
        return time.time()

    def __repr__(self) -> str:
        return "SystemClock()"


class TestClock:
    """A clock that only moves when told to.

    Used by the unit tests and, behind the server's explicit ``--test-clock``
    flag, by black-box and load tests (``POST /admin/v1/clock``).
    """

    __test__ = False  # not a pytest test class, despite the name

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = _valid_time(start)

    def now(self) -> float:
        return self._now

    def set(self, unix_time: float) -> None:
        self._now = _valid_time(unix_time)

    def advance(self, seconds: float) -> None:
        """Move forward by ``seconds`` (never backwards: lock and session
        deadlines assume time does not go back)."""
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError("advance takes a finite, non-negative number of seconds")
        self._now = _valid_time(self._now + seconds)

    def __repr__(self) -> str:
        return f"TestClock({self._now!r})"


class RefillClock:
    """The time token buckets read under a test clock: the test clock plus
    the real time elapsed since this was made.

    SPEC 7: rate limiters still refill with real time under the test clock,
    so a load test that drained a bucket gets tokens back as seconds pass,
    and also when it moves the clock. Both only go forward, so this does
    too. (Over the system clock, buckets read it directly: adding real time
    again would refill them twice as fast.)"""

    def __init__(self, clock: Clock, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._monotonic = monotonic
        self._start = monotonic()

    def now(self) -> float:
        return self._clock.now() + (self._monotonic() - self._start)

    def __repr__(self) -> str:
        return f"RefillClock({self._clock!r})"


def _valid_time(value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError("time must be a number of seconds")
    if not math.isfinite(value) or value < 0:
        raise ValueError("time must be a finite, non-negative Unix time")
    return float(value)
