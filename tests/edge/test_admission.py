"""Login admission on the data plane: which requests queue for the control
plane, which go first, and how long one may wait (clock: trio's MockClock)."""

from types import SimpleNamespace

import httpx
import pytest
import trio
import trio.testing

from gateway.auth.trust import DeviceCookies
from gateway.clock import TestClock
from gateway.config import LoginAdmissionConfig
from gateway.edge.admission import LoginAdmission
from gateway.edge.listener import ConnectionLimits, Request
from gateway.edge.paths import decide
from gateway.errors import RateLimited
from tests.edge.conftest import TRUSTED_PROXY
from tests.http.harness import TEST_CONFIG, GatewayProcess

COOKIES = DeviceCookies(bytes(32), TestClock())


def request(method: str, target: bytes, cookie: str | None = None) -> Request:
    connection = SimpleNamespace(limits=ConnectionLimits())
    made = Request(connection)  # type: ignore[arg-type]
    made.method, made.target = method, target
    if cookie is not None:
        made.headers = [(b"cookie", b"gw_device=" + cookie.encode())]
    return made


def admission(**config: float) -> LoginAdmission:
    return LoginAdmission(LoginAdmissionConfig(**config), COOKIES)  # type: ignore[arg-type]


def lane(gate: LoginAdmission, method: str, target: bytes) -> object:
    return gate.lane(method, decide(target).path)


def test_the_lanes() -> None:
    gate = admission()
    assert lane(gate, "POST", b"/v1/login") is gate.password
    assert lane(gate, "POST", b"/v1/login?x=1") is gate.password
    assert lane(gate, "POST", b"/v1/%6cogin") is gate.password
    assert lane(gate, "POST", b"/v1/%6C%6Fgin?x") is gate.password
    assert lane(gate, "POST", b"/v1/login/abc/verify") is gate.steps
    assert lane(gate, "GET", b"/v1/login/abc") is None
    assert lane(gate, "POST", b"/v1/logout") is None
    assert lane(gate, "GET", b"/healthz") is None


def test_recovery_has_a_lane_of_its_own() -> None:
    gate = admission()
    for target in (
        b"/v1/recovery/password",
        b"/v1/recovery/password/abc",
        b"/v1/recovery/username",
        b"/v1/%72ecovery/password?x=1",
        b"/v1/recovery/%75sername",
    ):
        assert lane(gate, "POST", target) is gate.recovery, target
    assert gate.recovery not in (gate.password, gate.steps)
    assert lane(gate, "GET", b"/v1/recovery/password") is None
    assert gate.name(gate.recovery) == "recovery" and gate.name(gate.steps) == "steps"


async def test_recovery_is_shed_per_address_before_it_queues(
    mock_clock: trio.testing.MockClock,
) -> None:
    gate = admission(recovery_rate=0.5, recovery_burst=3)
    for _ in range(3):
        async with await gate.enter(gate.recovery, "10.0.0.1", False):
            pass
    with pytest.raises(RateLimited) as refused:
        await gate.enter(gate.recovery, "10.0.0.1", False)
    assert refused.value.retry_after == 2 and gate.recovery.shed == 1
    async with await gate.enter(gate.recovery, "10.0.0.2", False):
        pass  # another address has its own bucket
    async with await gate.enter(gate.password, "10.0.0.1", False):
        pass  # and logins are no part of it
    mock_clock.jump(2.0)
    async with await gate.enter(gate.recovery, "10.0.0.1", False):
        pass


def test_trust_needs_a_valid_cookie_for_the_username_in_the_body() -> None:
    gate = admission()
    cookie = COOKIES.issue("alice")
    login = request("POST", b"/v1/login", cookie)
    path = b"/v1/login"
    assert gate.trusted(login, path, b'{"username": "alice", "password": "x"}')
    assert not gate.trusted(login, path, b'{"username": "bob", "password": "x"}')
    assert not gate.trusted(request("POST", path), path, b'{"username": "alice"}')
    forged = request("POST", path, cookie[:-2] + "AA")
    assert not gate.trusted(forged, path, b'{"username": "alice"}')
    for body in (None, b"", b"not json", b"[]", b'{"username": 5}', b"\xff\xfe"):
        assert not gate.trusted(login, path, body)


async def test_a_code_check_never_waits_behind_password_steps() -> None:
    gate = admission(concurrency=1, second_step_concurrency=1)
    held = await gate.enter(gate.password, "10.0.0.1", False)
    async with held, trio.open_nursery() as nursery:
        nursery.start_soon(gate.enter, gate.password, "10.0.0.2", False)
        await trio.testing.wait_all_tasks_blocked()
        assert gate.password.waiting == 1  # the password lane is full
        with trio.fail_after(1):
            async with await gate.enter(gate.steps, "10.0.0.3", False):
                pass
        nursery.cancel_scope.cancel()


async def test_waiting_too_long_is_rate_limited(mock_clock: trio.testing.MockClock) -> None:
    mock_clock.autojump_threshold = 0
    gate = admission(concurrency=1, max_wait_seconds=2.0)
    async with await gate.enter(gate.password, "10.0.0.1", False):
        started = trio.current_time()
        with pytest.raises(RateLimited):
            await gate.enter(gate.password, "10.0.0.2", False)
        assert trio.current_time() - started == pytest.approx(2.0)
    assert gate.timed_out == 1 and gate.password.waiting == 0 and gate.password.running == 0


def test_a_recovery_flood_is_answered_at_the_edge(tmp_path) -> None:
    """Past the per-address bucket the edge answers; the control plane never
    sees the request (no recovery_started, no recovery_refused of its own)."""
    limited = TEST_CONFIG + (
        "\n[login_admission]\nrecovery_rate = 0.001\nrecovery_burst = 3\n"
        f'\n[http]\ntrusted_proxies = ["{TRUSTED_PROXY}/32"]\n'
    )
    gateway = GatewayProcess(tmp_path / "data", limited).start()
    try:
        transport = httpx.HTTPTransport(local_address=TRUSTED_PROXY)
        with httpx.Client(base_url=gateway.public_url, transport=transport) as proxy:

            def recover(client: str, name: str = "nobody") -> httpx.Response:
                return proxy.post(
                    "/v1/recovery/password",
                    json={"username": name},
                    headers={"X-Forwarded-For": client},
                )

            mark = len(gateway.output)
            answers = [recover("198.51.100.1").status_code for _ in range(3)]
            flood = [recover("198.51.100.1") for _ in range(20)]
            assert answers == [202, 202, 202]
            assert {a.status_code for a in flood} == {429}
            assert int(flood[0].headers["Retry-After"]) > 0
            assert flood[0].json()["error"] == "rate_limited"
            # Another address (and another name: "nobody" has had its 3 too).
            assert recover("198.51.100.2", "somebody").status_code == 202
            started = gateway.lines_after(mark, "recovery_started", 4)
            assert len(started) == 4
            assert not [line for line in gateway.output[mark:] if "recovery_refused" in line]
    finally:
        gateway.stop()
