import math
import random

import pytest
from bench.load.histogram import (
    SUB_BUCKETS,
    LatencyHistogram,
    bucket_bounds,
    bucket_index,
)


def exact_percentile(values: list[int], percent: float) -> int:
    ordered = sorted(values)
    rank = max(1, math.ceil(percent / 100 * len(ordered)))
    return ordered[rank - 1]


def test_small_values_have_a_bucket_each() -> None:
    for value in range(2 * SUB_BUCKETS):
        assert bucket_index(value) == value
        assert bucket_bounds(value) == (value, value)


def test_buckets_tile_the_integers_without_gaps_or_overlaps() -> None:
    previous_high = -1
    for index in range(40 * SUB_BUCKETS):
        low, high = bucket_bounds(index)
        assert low == previous_high + 1
        assert high >= low
        previous_high = high


@pytest.mark.parametrize("value", [0, 1, 255, 256, 257, 511, 512, 1000, 123_456, 2**40 + 7])
def test_a_value_falls_inside_its_bucket(value: int) -> None:
    low, high = bucket_bounds(bucket_index(value))
    assert low <= value <= high


def test_bucket_width_is_at_most_one_part_in_sub_buckets() -> None:
    rng = random.Random(4)
    for _ in range(10_000):
        value = rng.randrange(2 * SUB_BUCKETS, 2**45)
        low, high = bucket_bounds(bucket_index(value))
        assert (high - low + 1) / low <= 1 / SUB_BUCKETS


def test_negative_values_are_refused() -> None:
    with pytest.raises(ValueError):
        LatencyHistogram().record(-1)


def test_percentiles_match_exact_ranks_within_one_bucket() -> None:
    rng = random.Random(7)
    values = [int(rng.lognormvariate(8, 1.5)) for _ in range(20_000)]
    histogram = LatencyHistogram()
    for value in values:
        histogram.record(value)
    for percent in (1, 50, 90, 99, 99.9, 100):
        exact = exact_percentile(values, percent)
        reported = histogram.percentile(percent)
        assert reported is not None
        # Never below the exact value; above it by at most the bucket width.
        assert exact <= reported <= bucket_bounds(bucket_index(exact))[1]


def test_percentile_100_is_the_maximum_and_small_sets_are_exact() -> None:
    histogram = LatencyHistogram()
    for value in (5, 1, 3, 2, 4):
        histogram.record(value)
    assert histogram.percentile(100) == 5
    assert histogram.percentile(50) == 3
    assert histogram.percentile(20) == 1
    assert histogram.percentile(21) == 2
    assert (histogram.min, histogram.max, histogram.count, histogram.mean) == (1, 5, 5, 3.0)


def test_percentile_never_exceeds_the_recorded_maximum() -> None:
    histogram = LatencyHistogram()
    histogram.record(1_000_001)
    assert histogram.percentile(50) == 1_000_001  # the bucket's top is higher


def test_empty_histogram_has_no_percentiles() -> None:
    histogram = LatencyHistogram()
    assert histogram.percentile(99) is None
    assert histogram.mean is None
    assert histogram.to_json()["percentiles"]["p99"] is None


@pytest.mark.parametrize("percent", [0, -1, 100.5])
def test_percent_out_of_range_is_refused(percent: float) -> None:
    histogram = LatencyHistogram()
    histogram.record(1)
    with pytest.raises(ValueError):
        histogram.percentile(percent)


def test_merge_equals_recording_everything_in_one() -> None:
    rng = random.Random(11)
    a, b, both = LatencyHistogram(), LatencyHistogram(), LatencyHistogram()
    for i in range(5_000):
        value = rng.randrange(0, 10**7 if i % 2 else 10**3)
        (a if i % 3 else b).record(value)
        both.record(value)
    a.merge(b)
    assert a.to_json() == both.to_json()


def test_merge_of_an_empty_histogram_changes_nothing() -> None:
    histogram = LatencyHistogram()
    histogram.record(42)
    before = histogram.to_json()
    histogram.merge(LatencyHistogram())
    assert histogram.to_json() == before


def test_json_round_trip_keeps_counts_and_percentiles() -> None:
    rng = random.Random(3)
    histogram = LatencyHistogram()
    for _ in range(3_000):
        histogram.record(rng.randrange(0, 5_000_000))
    again = LatencyHistogram.from_json(histogram.to_json())
    assert again.count == histogram.count
    assert (again.min, again.max) == (histogram.min, histogram.max)
    assert again.percentiles() == histogram.percentiles()
    assert list(again.buckets()) == list(histogram.buckets())


def test_reset_empties_the_histogram() -> None:
    histogram = LatencyHistogram()
    histogram.record(9)
    histogram.reset()
    assert histogram.count == 0 and histogram.max is None and list(histogram.buckets()) == []
