"""Tiny runs of the scenarios against a real gateway on loopback.

Each run is bounded by a request count far below what its (generous)
duration allows, so it ends by count and the assertions are about what
happened, never about how fast.
"""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bench.load.__main__ import main
from bench.load.report import redraw
from bench.load.run import RunSpec, run
from bench.load.servers import LOAD_ADMIN_TOKEN, GatewayServer
from bench.load.suite import summarize

LONG_ENOUGH = 120.0  # the count bound ends every run long before this


@pytest.fixture(scope="module")
def gateway() -> Iterator[GatewayServer]:
    server = GatewayServer(pin=False).start()
    yield server
    server.stop()


def against(gateway: GatewayServer, scenario: str, out: Path, **settings: Any) -> dict[str, Any]:
    chosen: dict[str, Any] = {"argon2": None, "pin": False, "progress": False, **settings}
    spec = RunSpec(
        scenario,
        duration=LONG_ENOUGH,
        target=gateway.url,
        admin_url=gateway.admin_url,
        admin_token=LOAD_ADMIN_TOKEN,
        out=out,
        **chosen,
    )
    return run(spec)


def only_ok(op: dict[str, Any]) -> bool:
    return set(op["statuses"]) == {"200"} and not op["errors"]


def test_session_traffic_writes_json_markdown_and_png(
    gateway: GatewayServer, tmp_path: Path
) -> None:
    result = against(gateway, "session-traffic", tmp_path, users=3, connections=4, max_requests=300)
    assert result["bounds"]["stopped_by"] == "count"
    assert result["requests"] == 300
    ops = result["ops"]
    assert ops["session"]["requests"] + ops["tickle"]["requests"] == 300
    assert only_ok(ops["session"]) and only_ok(ops["tickle"])
    assert ops["session"]["requests"] > ops["tickle"]["requests"]  # mix 9:1
    assert ops["session"]["latency_us"]["percentiles"]["p99"] > 0

    saved = json.loads((tmp_path / "session-traffic.json").read_text())
    assert saved["ops"]["session"]["requests"] == ops["session"]["requests"]
    assert saved["target"]["started_by_generator"] is False
    assert "| session |" in (tmp_path / "session-traffic.md").read_text()
    assert (tmp_path / "session-traffic.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # The report command redraws from the JSON files and sums them up.
    (tmp_path / "session-traffic.png").unlink()
    assert tmp_path / "session-traffic.png" in redraw(tmp_path)
    table = summarize(tmp_path)
    assert "| session-traffic req/s, mix session 9, tickle 1 |" in table
    assert "Server pinned to CPU 0" in table


def test_login_storm_logs_in_across_totp_steps(gateway: GatewayServer, tmp_path: Path) -> None:
    result = against(
        gateway,
        "login-storm",
        tmp_path,
        users=2,
        connections=2,
        max_requests=45,
        argon2="insecure-load-test",
    )
    headline = result["headline"]
    assert headline["failed_logins"] == 0
    assert headline["logins"] >= 12  # 3 requests a login, 45 requests
    assert headline["clock_advances"] >= 5  # 2 users, one login per user per step
    assert only_ok(result["ops"]["verify"])
    assert result["argon2"]["hash_seconds"] > 0
    assert result["argon2"]["bound_logins_per_s"] == pytest.approx(
        2 / result["argon2"]["hash_seconds"]
    )


def test_passkey_storm_registers_and_logs_in_with_advancing_counters(
    gateway: GatewayServer, tmp_path: Path
) -> None:
    result = against(gateway, "passkey-storm", tmp_path, users=3, connections=2, max_requests=60)
    headline = result["headline"]
    # 4 requests a login (password, challenge, verify, logout): every one of
    # the ~15 logins of 3 users verifies, each with a higher sign counter.
    assert headline["failed_logins"] == 0
    assert headline["logins"] >= 12
    assert only_ok(result["ops"]["challenge"]) and only_ok(result["ops"]["verify"])


def test_takeover_churn_replaces_the_old_session_every_time(
    gateway: GatewayServer, tmp_path: Path
) -> None:
    result = against(gateway, "takeover-churn", tmp_path, users=2, connections=2, max_requests=60)
    headline = result["headline"]
    assert headline["takeovers"] >= 5
    assert headline["logins_without_takeover"] == 0
    assert headline["replaced_sessions_answering_otherwise"] == 0
    assert headline["replaced_sessions_answering_session_replaced"] >= 5
    assert set(result["ops"]["verify"]["errors"]) == {"session_exists"}


def test_lockout_storm_on_its_own_gateway_evaluates_exactly_max_failures(tmp_path: Path) -> None:
    # No target: the generator starts a gateway with the scenario's profile.
    spec = RunSpec(
        "lockout-storm",
        duration=LONG_ENOUGH,
        users=2,
        connections=40,
        max_requests=240,
        out=tmp_path,
        pin=False,
        progress=False,
    )
    result = run(spec)
    headline = result["headline"]
    assert result["target"]["started_by_generator"] is True
    assert "user_burst = 1000000000.0" in result["target"]["profile"]
    assert list(headline["evaluated_per_user"].values()) == [10, 10]
    assert headline["exactly_max_failures_evaluated"] is True
    assert headline["users_locked_after"] == 2
    assert headline["right_password_after_storm"] == {"locked": 2}
    answers = headline["answers"]
    assert set(answers) <= {"invalid_credentials", "locked", "rate_limited"}
    assert sum(answers.values()) == 240


def test_credential_stuffing_runs_its_three_phases(gateway: GatewayServer, tmp_path: Path) -> None:
    spec = RunSpec(
        "credential-stuffing",
        duration=2.0,
        users=20,
        connections=2,
        target=gateway.url,
        admin_url=gateway.admin_url,
        admin_token=LOAD_ADMIN_TOKEN,
        argon2=None,
        out=tmp_path,
        pin=False,
        progress=False,
        extra={"flood_usernames": 50, "flood_connections": 8, "flood_ips": 2},
    )
    result = run(spec)
    headline = result["headline"]
    assert headline["flood_source_ips"] == 2
    assert set(headline["flood_answers"]) <= {"invalid_credentials", "locked", "rate_limited"}
    for name, op in result["ops"].items():
        assert "0" not in op["statuses"], f"{name}: requests without an answer"
        if name.endswith("full_login"):
            assert not op["errors"], f"{name}: legit logins failed: {op['errors']}"


def test_cli_refuses_remote_targets_and_lists_scenarios(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "lockout-storm", "--target", "http://192.168.1.1:8080"]) == 2
    assert "not a loopback address" in capsys.readouterr().err
    assert main(["run", "ping", "--duration", "0"]) == 2
    assert main(["list"]) == 0
    assert "credential-stuffing" in capsys.readouterr().out


def test_forward_auth_runs_and_the_edge_table_sets_each_round_against_its_baseline(
    gateway: GatewayServer, tmp_path: Path
) -> None:
    from bench.load.edge import summarize_edge

    result = against(
        gateway,
        "session-traffic",
        tmp_path,
        users=2,
        connections=2,
        max_requests=200,
        extra={"mix": "auth_verify"},
        label="forward-auth-r1",
    )
    assert only_ok(result["ops"]["auth_verify"])
    rate = result["ops"]["auth_verify"]["ok_rate_per_s"]
    # A raw-Trio baseline of the same round that answered twice as fast.
    baseline = {"ops": {"ping": {**result["ops"]["auth_verify"], "ok_rate_per_s": 2 * rate}}}
    (tmp_path / "baseline-raw-trio-r1.json").write_text(json.dumps(baseline))
    table = summarize_edge(tmp_path, 1)
    assert "| forward-auth / raw | 0.50 | 0.50 | 0.50 | >= 0.5 |" in table
    assert "| 1 | forward-auth |" in table
