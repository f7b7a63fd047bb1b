"""Scenario building blocks that need no server: mixes, the user pool and
its test-clock steps, the profiles and configs the generator writes."""

import asyncio
from collections import Counter
from pathlib import Path

import msgspec
import pytest
import uvloop
from bench.load.baseline import parse_wrk
from bench.load.scenarios import SCENARIOS
from bench.load.scenarios.sessions import ENDPOINTS, parse_mix, schedule
from bench.load.servers import load_test_profile, nginx_config
from bench.load.stats import check_bounds
from bench.load.users import TOTP_STEP, LoadUser, UserPool, usernames

from gateway.auth.passwords import check_username
from gateway.config import Config


def test_every_scenario_has_defaults_within_the_bounds() -> None:
    assert set(SCENARIOS) >= {
        "login-storm",
        "session-traffic",
        "credential-stuffing",
        "takeover-churn",
        "lockout-storm",
    }
    for name, scenario in SCENARIOS.items():
        assert scenario.name == name and scenario.description
        check_bounds(15, 1_000_000, scenario.default_users, scenario.default_connections)


def test_mix_parsing() -> None:
    assert parse_mix("session=9,tickle=1") == {"session": 9, "tickle": 1}
    assert parse_mix("session") == {"session": 1}
    assert parse_mix("session=2, session=1") == {"session": 3}
    for bad in ("nope=1", "session=-1", "session=0", "session=x"):
        with pytest.raises(ValueError):
            parse_mix(bad)


def test_schedule_keeps_the_proportions_and_interleaves() -> None:
    cycle = schedule({"session": 9, "tickle": 1})
    assert Counter(cycle) == {"session": 9, "tickle": 1}
    cycle = schedule({"session": 2, "tickle": 2})
    assert cycle in (["session", "tickle"] * 2, ["tickle", "session"] * 2)


def test_every_endpoint_is_a_method_and_a_path() -> None:
    for method, path in ENDPOINTS.values():
        assert method in ("GET", "POST") and path.startswith("/")


def test_generated_usernames_are_valid_and_distinct() -> None:
    names = usernames("ltabc123", 1000)
    assert len(set(names)) == 1000
    for name in names[:50]:
        check_username(name)  # raises on a bad character


class FakeAdmin:
    """The admin API as the pool sees it: a test clock that moves on demand."""

    test_clock = True

    def __init__(self, now: float) -> None:
        self.clock = now
        self.advances = 0

    async def advance(self, seconds: float) -> float:
        await asyncio.sleep(0)  # let other borrowers pile up behind the advance
        self.advances += 1
        self.clock += seconds
        return self.clock


def test_pool_moves_the_clock_once_when_every_user_has_spent_the_step() -> None:
    async def scenario() -> None:
        admin = FakeAdmin(now=30 * 1000.0)
        users = [LoadUser(f"u{i}", "pw", key=None) for i in range(3)]
        pool = UserPool(users, admin, admin.clock)  # type: ignore[arg-type]
        first_step = pool.step
        taken = [await pool.acquire() for _ in range(3)]
        for user in taken:
            user.last_step = first_step  # each logged in during this step
            pool.release(user)
        # Three borrowers at once: one advance serves them all.
        again = await asyncio.gather(*(pool.acquire() for _ in range(3)))
        assert admin.advances == 1 and pool.advances == 1
        assert pool.step == first_step + 1
        assert {u.username for u in again} == {"u0", "u1", "u2"}

    uvloop.run(asyncio.wait_for(scenario(), timeout=10))


def test_pool_lends_each_user_to_one_borrower_at_a_time() -> None:
    async def scenario() -> None:
        admin = FakeAdmin(now=0.0)
        pool = UserPool([LoadUser("only", "pw", key=None)], admin, 0.0)  # type: ignore[arg-type]
        user = await pool.acquire()
        waiting = asyncio.ensure_future(pool.acquire())
        await asyncio.sleep(0)
        assert not waiting.done()
        user.last_step = pool.step
        pool.release(user)  # spent: the waiting borrower gets it after an advance
        assert (await waiting) is user
        assert admin.advances == 1

    uvloop.run(asyncio.wait_for(scenario(), timeout=10))


def test_a_user_with_an_unused_step_is_lent_again_without_moving_the_clock() -> None:
    async def scenario() -> None:
        admin = FakeAdmin(now=TOTP_STEP * 10.0)
        pool = UserPool([LoadUser("a", "pw", key=None)], admin, admin.clock)  # type: ignore[arg-type]
        user = await pool.acquire()
        pool.release(user)  # failed before sending a code: step not spent
        assert (await pool.acquire()) is user
        assert admin.advances == 0

    uvloop.run(asyncio.wait_for(scenario(), timeout=10))


@pytest.mark.parametrize("argon2", ["insecure-load-test", "production"])
def test_load_test_profile_is_a_valid_gateway_config(argon2: str) -> None:
    text = load_test_profile(argon2, {"user_burst": 1e9}, store="memory")
    config = msgspec.toml.decode(text.encode(), type=Config)
    assert config.argon2.profile == argon2
    assert config.rate_limits.ip_burst >= 1e8  # out of the way: one client IP
    assert config.rate_limits.user_burst == 1e9
    assert config.rate_limits.user_rate == Config().rate_limits.user_rate  # not asked: default
    assert config.store.backend == "memory"
    if argon2 != "production":
        assert "INSECURE" in text


def test_load_test_profile_refuses_unknown_costs() -> None:
    with pytest.raises(ValueError):
        load_test_profile("cheap")


def test_nginx_config_stays_on_loopback_in_its_directory(tmp_path: Path) -> None:
    text = nginx_config(tmp_path, 18123)
    assert "listen 127.0.0.1:18123;" in text
    assert "daemon off;" in text and "return 200" in text
    paths = [line.split()[1].rstrip(";") for line in text.splitlines() if "_path " in line]
    assert paths and all(p.startswith(str(tmp_path)) for p in paths)
    assert f"pid {tmp_path}/nginx.pid;" in text


def test_wrk_output_is_parsed() -> None:
    output = """Running 5s test @ http://127.0.0.1:8080/
  1 threads and 64 connections
  Latency Distribution
     50%  163.00us
     90%  318.00us
     99%    1.36ms
  944000 requests in 5.00s, 140.00MB read
Requests/sec: 188799.46
Transfer/sec:     28.00MB
"""
    assert parse_wrk(output) == {
        "requests_per_s": 188799.46,
        "p50_us": 163.0,
        "p90_us": 318.0,
        "p99_us": 1360.0,
    }
