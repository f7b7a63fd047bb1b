"""A log-bucket latency histogram in the manner of HdrHistogram.

Values are non-negative integers (the load generator records microseconds).
Values below ``2 * SUB_BUCKETS`` get a bucket each, so they are exact; above
that, every power of two is split into ``SUB_BUCKETS`` equal buckets, so a
bucket is never wider than ``1 / SUB_BUCKETS`` of its lower bound (0.78 % with
128). Recording is a ``bit_length``, a shift and a list increment: cheap
enough for a generator doing tens of thousands of requests a second, with
memory bounded by the largest value (about 3,700 counters up to an hour in
microseconds) rather than by the number of samples.

Percentiles are the highest value of the bucket holding the requested rank,
clipped to the largest value recorded, as HdrHistogram reports them: they
never understate a latency, and overstate it by at most one bucket width.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from typing import Any

SUB_BUCKET_BITS = 7
SUB_BUCKETS = 1 << SUB_BUCKET_BITS  # 128 buckets per power of two
_EXACT_LIMIT = 2 * SUB_BUCKETS  # values below this have a bucket each
_SHIFT_BASE = SUB_BUCKET_BITS + 1

# What every report shows, in this order.
REPORTED_PERCENTILES = (50.0, 90.0, 99.0, 99.9)


def bucket_index(value: int) -> int:
    """The bucket of ``value`` (an int >= 0)."""
    if value < _EXACT_LIMIT:
        if value < 0:
            raise ValueError(f"histogram values are non-negative, got {value}")
        return value
    shift = value.bit_length() - _SHIFT_BASE
    return shift * SUB_BUCKETS + (value >> shift)


def bucket_bounds(index: int) -> tuple[int, int]:
    """The lowest and highest value that fall into bucket ``index``."""
    if index < 0:
        raise ValueError(f"bucket indexes are non-negative, got {index}")
    if index < _EXACT_LIMIT:
        return index, index
    shift = (index >> SUB_BUCKET_BITS) - 1
    mantissa = (index & (SUB_BUCKETS - 1)) + SUB_BUCKETS
    return mantissa << shift, ((mantissa + 1) << shift) - 1


class LatencyHistogram:
    """Counts of values per log bucket, with the exact count, sum, min and max."""

    __slots__ = ("_counts", "count", "max", "min", "total")

    def __init__(self) -> None:
        self._counts: list[int] = []
        self.count = 0
        self.total = 0
        self.min: int | None = None
        self.max: int | None = None

    def record(self, value: int) -> None:
        index = bucket_index(value)
        counts = self._counts
        if index >= len(counts):
            counts.extend([0] * (index + 1 - len(counts)))
        counts[index] += 1
        self.count += 1
        self.total += value
        if self.max is None or value > self.max:
            self.max = value
        if self.min is None or value < self.min:
            self.min = value

    def merge(self, other: LatencyHistogram) -> None:
        """Add ``other``'s samples to this histogram."""
        if not other.count:
            return
        counts = self._counts
        if len(other._counts) > len(counts):
            counts.extend([0] * (len(other._counts) - len(counts)))
        for index, n in enumerate(other._counts):
            if n:
                counts[index] += n
        self.count += other.count
        self.total += other.total
        assert other.min is not None and other.max is not None
        self.min = other.min if self.min is None else min(self.min, other.min)
        self.max = other.max if self.max is None else max(self.max, other.max)

    def reset(self) -> None:
        self.__init__()  # type: ignore[misc]

    @property
    def mean(self) -> float | None:
        return self.total / self.count if self.count else None

    def percentile(self, percent: float) -> int | None:
        """The value at ``percent`` (0-100]; ``None`` when nothing was recorded.
        Rank ``ceil(percent / 100 * count)``, at least 1 (the nearest-rank
        definition), so ``percentile(100)`` is the maximum."""
        if not 0 < percent <= 100:
            raise ValueError(f"percent is in (0, 100], got {percent}")
        if not self.count:
            return None
        assert self.max is not None
        rank = max(1, math.ceil(percent / 100.0 * self.count - 1e-9))
        seen = 0
        for index, n in enumerate(self._counts):
            seen += n
            if seen >= rank:
                return min(bucket_bounds(index)[1], self.max)
        return self.max  # unreachable: the counts add up to self.count

    def percentiles(
        self, percents: Iterable[float] = REPORTED_PERCENTILES
    ) -> dict[str, int | None]:
        return {_label(p): self.percentile(p) for p in percents}

    def buckets(self) -> Iterator[tuple[int, int, int]]:
        """(lowest value, highest value, count) of every non-empty bucket."""
        for index, n in enumerate(self._counts):
            if n:
                low, high = bucket_bounds(index)
                yield low, high, n

    def to_json(self) -> dict[str, Any]:
        """Summary plus the sparse buckets, so a report can be redrawn later."""
        return {
            "count": self.count,
            "min": self.min,
            "max": self.max,
            "mean": self.mean,
            "percentiles": self.percentiles(),
            "buckets": [[i, n] for i, n in enumerate(self._counts) if n],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LatencyHistogram:
        histogram = cls()
        for index, n in data["buckets"]:
            if index >= len(histogram._counts):
                histogram._counts.extend([0] * (index + 1 - len(histogram._counts)))
            histogram._counts[index] += n
            histogram.count += n
        if histogram.count:
            histogram.min, histogram.max = data["min"], data["max"]
            histogram.total = round(data["mean"] * histogram.count)
        return histogram


def _label(percent: float) -> str:
    return f"p{percent:g}"
