"""Login admission on the data plane: which requests queue for the control
plane, which go first, and how long one may wait (clock: trio's MockClock)."""

from types import SimpleNamespace

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
