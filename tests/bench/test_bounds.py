"""Every run ends by itself, by count or by time, and goes only to loopback."""

import pytest
from bench.load.run import RunSpec, run
from bench.load.stats import (
    MAX_DURATION_SECONDS,
    MAX_REQUESTS,
    BoundsError,
    RunBudget,
    check_bounds,
)
from bench.load.target import TargetError, loopback_source, loopback_target


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_budget_stops_at_the_request_count() -> None:
    clock = FakeClock()
    budget = RunBudget(duration=60, max_requests=5, now=clock)
    budget.start()
    assert [budget.take() for _ in range(8)] == [True] * 5 + [False] * 3
    assert budget.issued == 5
    assert budget.stopped_by == "count"


def test_budget_stops_at_the_deadline() -> None:
    clock = FakeClock()
    budget = RunBudget(duration=10, max_requests=1_000, now=clock)
    budget.start()
    assert budget.take()
    clock.now += 9.999
    assert budget.take()
    clock.now += 0.001
    assert not budget.take()
    assert budget.stopped_by == "duration"
    assert budget.issued == 2


def test_a_stopped_budget_stays_stopped() -> None:
    clock = FakeClock()
    budget = RunBudget(duration=10, max_requests=1, now=clock)
    budget.start()
    assert budget.take()
    assert not budget.take()
    budget.max_requests = 100  # even if someone raised the bound afterwards
    assert not budget.take()
    assert budget.exhausted


def test_budget_can_be_stopped_early_by_the_scenario() -> None:
    budget = RunBudget(duration=10, max_requests=10, now=FakeClock())
    budget.start()
    budget.stop("scenario end")
    assert not budget.take()
    assert budget.stopped_by == "scenario end"


def test_budget_refuses_to_hand_out_requests_before_the_start() -> None:
    with pytest.raises(RuntimeError):
        RunBudget(duration=10, max_requests=10, now=FakeClock()).take()


def test_elapsed_follows_the_clock() -> None:
    clock = FakeClock()
    budget = RunBudget(duration=10, max_requests=10, now=clock)
    assert budget.elapsed() == 0.0
    budget.start()
    clock.now += 2.5
    assert budget.elapsed() == 2.5


@pytest.mark.parametrize(
    ("duration", "requests", "users", "connections"),
    [
        (0, 10, 1, 1),
        (-1, 10, 1, 1),
        (MAX_DURATION_SECONDS + 1, 10, 1, 1),
        (float("inf"), 10, 1, 1),
        (10, 0, 1, 1),
        (10, MAX_REQUESTS + 1, 1, 1),
        (10, 10, 0, 1),
        (10, 10, 1, 0),
        (10, 10, 1, 100_000),
    ],
)
def test_unbounded_or_absurd_runs_are_refused(
    duration: float, requests: int, users: int, connections: int
) -> None:
    with pytest.raises(BoundsError):
        check_bounds(duration, requests, users, connections)


def test_reasonable_bounds_pass() -> None:
    check_bounds(15, 1_000_000, 200, 64)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080",
        "http://127.1.2.3:80/prefix",
        "http://localhost:9000",
        "http://[::1]:8080",
    ],
)
def test_loopback_targets_are_accepted(url: str) -> None:
    target = loopback_target(url)
    assert target.host in ("127.0.0.1", "127.1.2.3", "::1")


def test_target_keeps_port_and_prefix() -> None:
    target = loopback_target("http://127.0.0.1:8080/gw/")
    assert (target.port, target.base_path, target.host_header) == (8080, "/gw", "127.0.0.1:8080")
    assert loopback_target("http://[::1]:81").host_header == "[::1]:81"


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1:8080",
        "http://192.168.1.10",
        "http://8.8.8.8",
        "http://0.0.0.0:8080",
        "http://example.com",
        "http://localhost.example.com",
        "https://127.0.0.1",
        "127.0.0.1:8080",
        "http://127.0.0.1:8080/?q=1",
        "http://[::2]:80",
    ],
)
def test_other_targets_are_refused(url: str) -> None:
    with pytest.raises(TargetError):
        loopback_target(url)


def test_flood_source_addresses_must_be_loopback() -> None:
    assert loopback_source("127.0.1.7") == "127.0.1.7"
    with pytest.raises(TargetError):
        loopback_source("10.1.1.1")
    with pytest.raises(TargetError):
        loopback_source("not-an-ip")


def test_run_refuses_a_remote_target_before_starting_anything(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(TargetError):
        run(RunSpec("session-traffic", target="http://10.9.8.7:80", out=tmp_path, pin=False))
    assert not list(tmp_path.iterdir())


def test_run_refuses_bad_bounds_before_starting_anything(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(BoundsError):
        run(RunSpec("login-storm", duration=MAX_DURATION_SECONDS * 2, out=tmp_path, pin=False))
    with pytest.raises(ValueError, match="unknown scenario"):
        run(RunSpec("no-such-scenario", out=tmp_path, pin=False))
