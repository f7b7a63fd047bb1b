"""What a run counts: its bounds, and per operation a latency histogram and
the answers by status and error code, overall and second by second."""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, TextIO

from bench.load.histogram import LatencyHistogram
from bench.load.http import HttpResponse, TransportError, error_code

# Hard limits on what any run may ask for: the generator is a load tool for
# this machine, and every run must end by itself.
MAX_DURATION_SECONDS = 600.0
MAX_REQUESTS = 10_000_000
MAX_USERS = 100_000
MAX_CONNECTIONS = 2_000


class BoundsError(ValueError):
    """A run's bounds are missing or beyond what the generator allows."""


def check_bounds(duration: float, max_requests: int, users: int, connections: int) -> None:
    if not 0 < duration <= MAX_DURATION_SECONDS:
        raise BoundsError(f"duration must be in (0, {MAX_DURATION_SECONDS:g}] s, got {duration}")
    if not 1 <= max_requests <= MAX_REQUESTS:
        raise BoundsError(f"max requests must be in [1, {MAX_REQUESTS:,}], got {max_requests}")
    if not 1 <= users <= MAX_USERS:
        raise BoundsError(f"users must be in [1, {MAX_USERS:,}], got {users}")
    if not 1 <= connections <= MAX_CONNECTIONS:
        raise BoundsError(f"connections must be in [1, {MAX_CONNECTIONS:,}], got {connections}")


class RunBudget:
    """Both bounds of a run: a deadline and a request count. Every request
    the generator sends takes one unit first; once either bound is reached
    ``take`` answers False for good and the workers wind down."""

    def __init__(
        self, duration: float, max_requests: int, now: Callable[[], float] = time.monotonic
    ) -> None:
        self.duration = duration
        self.max_requests = max_requests
        self._now = now
        self.issued = 0
        self.started_at: float | None = None
        self.deadline = float("inf")
        self.stopped_by: str | None = None

    def start(self) -> None:
        self.started_at = self._now()
        self.deadline = self.started_at + self.duration

    def take(self) -> bool:
        if self.stopped_by is not None:
            return False
        if self.started_at is None:
            raise RuntimeError("the budget is not started")
        if self.issued >= self.max_requests:
            self.stopped_by = "count"
            return False
        if self._now() >= self.deadline:
            self.stopped_by = "duration"
            return False
        self.issued += 1
        return True

    def stop(self, reason: str) -> None:
        """End the run early (a scenario that has nothing left to do)."""
        if self.stopped_by is None:
            self.stopped_by = reason

    @property
    def exhausted(self) -> bool:
        return self.stopped_by is not None or self._now() >= self.deadline

    def elapsed(self) -> float:
        return 0.0 if self.started_at is None else self._now() - self.started_at


class OpStats:
    """One kind of request (or multi-request transaction) of a scenario."""

    __slots__ = ("errors", "histogram", "interval", "name", "statuses")

    def __init__(self, name: str) -> None:
        self.name = name
        self.histogram = LatencyHistogram()
        self.interval = LatencyHistogram()  # this second, for progress and the plot
        self.statuses: Counter[int] = Counter()
        self.errors: Counter[str] = Counter()

    def record(self, status: int, micros: int, error: str | None = None) -> None:
        self.histogram.record(micros)
        self.interval.record(micros)
        self.statuses[status] += 1
        if error is not None:
            self.errors[error] += 1

    def record_response(self, response: HttpResponse, micros: int) -> str | None:
        """Record an answer; returns its error code (None for a success)."""
        code = error_code(response)
        self.record(response.status, micros, code)
        return code

    def record_failure(self, error: TransportError, micros: int) -> None:
        """No HTTP answer: counted under status 0, not in the latencies."""
        self.statuses[0] += 1
        self.errors[error.kind] += 1

    @property
    def count(self) -> int:
        return sum(self.statuses.values())

    def to_json(self, seconds: float) -> dict[str, Any]:
        ok = sum(n for status, n in self.statuses.items() if 200 <= status < 300)
        return {
            "requests": self.count,
            "ok": ok,
            "rate_per_s": self.count / seconds if seconds > 0 else None,
            "ok_rate_per_s": ok / seconds if seconds > 0 else None,
            "latency_us": self.histogram.to_json(),
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "errors": dict(sorted(self.errors.items())),
        }


class Recorder:
    """All operations of a run, and their per-second series."""

    def __init__(self) -> None:
        self.ops: dict[str, OpStats] = {}
        self.series: list[dict[str, Any]] = []

    def op(self, name: str) -> OpStats:
        stats = self.ops.get(name)
        if stats is None:
            stats = self.ops[name] = OpStats(name)
        return stats

    def tick(self, elapsed: float) -> dict[str, Any]:
        """Close the current second: append it to the series, reset the
        interval histograms, and return the point."""
        point: dict[str, Any] = {"t": round(elapsed, 3), "ops": {}}
        for name, stats in self.ops.items():
            interval = stats.interval
            point["ops"][name] = {
                "count": interval.count,
                "p50_us": interval.percentile(50) if interval.count else None,
                "p99_us": interval.percentile(99) if interval.count else None,
            }
            interval.reset()
        self.series.append(point)
        return point

    def to_json(self, seconds: float) -> dict[str, Any]:
        return {name: stats.to_json(seconds) for name, stats in self.ops.items()}


def progress_line(label: str, point: dict[str, Any], since: float, errors: Counter[str]) -> str:
    """One line per second on stderr: per operation rate and p50/p99."""
    parts = [f"[{point['t']:6.1f}s] {label}"]
    for name, values in point["ops"].items():
        if not values["count"]:
            continue
        rate = values["count"] / since if since > 0 else 0.0
        parts.append(
            f"{name} {rate:,.0f}/s p50 {_ms(values['p50_us'])} p99 {_ms(values['p99_us'])}"
        )
    if errors:
        top = ", ".join(f"{k}={v}" for k, v in errors.most_common(4))
        parts.append(f"errors: {top}")
    return " | ".join(parts)


def _ms(micros: int | None) -> str:
    return "-" if micros is None else f"{micros / 1000:.1f}ms"


def print_progress(line: str, stream: TextIO = sys.stderr) -> None:
    print(line, file=stream, flush=True)
