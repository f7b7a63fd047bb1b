"""The login transaction: password, second factor, lockout, rate limits,
takeover. Everything through ``LoginCore`` with a test clock."""

from __future__ import annotations

import functools

import pytest
import trio
import trio.testing

import _fastcore
from gateway.auth.core import LoginCore
from gateway.auth.flow import LoggedIn, LoginState, SecondFactorRequired
from gateway.auth.sessions import Platform, TradingSession
from gateway.clock import TestClock
from gateway.errors import (
    BadCharacter,
    BadRequest,
    InvalidCredentials,
    Locked,
    LoginFailed,
    NotFound,
    RateLimited,
    SessionExists,
    SessionReplaced,
)
from gateway.store.base import Device
from gateway.store.memory import MemoryStore

from .helpers import IP, PASSWORD, CountingHasher, add_user, make_config

DAY = 86_400.0


def code(device: Device, clock: TestClock, offset: int = 0) -> str:
    step = int(clock.now()) // 30 + offset
    return _fastcore.hotp(_fastcore.HmacKey(device.secret), step)


async def password_step(
    core: LoginCore, username: str = "alice", password: str = PASSWORD, platform: str = "tws"
) -> SecondFactorRequired:
    result = await core.flow.login(username, password, platform, ip=IP)
    assert isinstance(result, SecondFactorRequired), result
    return result


async def totp_login(core: LoginCore, device: Device, clock: TestClock, **kw: str) -> LoggedIn:
    pending = await password_step(core, **kw)
    return await core.flow.verify(pending.login_id, "totp", code(device, clock), ip=IP)


async def fail_passwords(core: LoginCore, n: int, username: str = "alice") -> None:
    for _ in range(n):
        with pytest.raises(InvalidCredentials):
            await core.flow.login(username, "wrong123", "tws", ip=IP)


# --- password step -------------------------------------------------------------


async def test_password_only_user_gets_a_session(core: LoginCore) -> None:
    await add_user(core)
    result = await core.flow.login("alice", PASSWORD, "tws", ip=IP)
    assert isinstance(result, LoggedIn)
    assert isinstance(result.session, TradingSession)
    assert result.session.method == "none"
    assert result.tier.daily_limit == 50_000
    assert core.sessions.authenticate(result.token) is result.session


async def test_wrong_password_and_unknown_user_get_the_same_answer(
    core: LoginCore, hasher: CountingHasher
) -> None:
    await add_user(core)
    answers = []
    for username, password in [("alice", "wrong123"), ("nobody", PASSWORD)]:
        with pytest.raises(InvalidCredentials) as caught:
            await core.flow.login(username, password, "tws", ip=IP)
        answers.append((caught.value.status, caught.value.body()))
    assert answers[0] == answers[1]
    assert answers[0][1]["message"] == "Invalid user name password combination"


@pytest.mark.parametrize("username", ["alice", "nobody"])
async def test_every_password_check_costs_exactly_one_hash(
    core: LoginCore, hasher: CountingHasher, username: str
) -> None:
    await add_user(core)
    before = hasher.verify_calls
    with pytest.raises(InvalidCredentials):
        await core.flow.login(username, "wrong123", "tws", ip=IP)
    assert hasher.verify_calls == before + 1


class SpyStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.looked_up: list[str] = []

    async def get_user(self, username: str):  # type: ignore[no-untyped-def]
        self.looked_up.append(username)
        return await super().get_user(username)


async def test_bad_character_is_refused_before_any_lookup_and_not_counted(
    clock: TestClock, hasher: CountingHasher
) -> None:
    store = SpyStore()
    core = LoginCore.build(make_config(), store=store, clock=clock, hasher=hasher)
    await add_user(core)
    store.looked_up.clear()
    for _ in range(20):
        with pytest.raises(BadCharacter):
            await core.flow.login("alice!", PASSWORD, "tws", ip=IP)
        with pytest.raises(BadCharacter):
            await core.flow.login("Alice", PASSWORD, "tws", ip=IP)
    assert store.looked_up == []
    assert hasher.verify_calls == 0
    assert (await core.guard.status("alice")).failures == 0
    assert (await store.get_lock("alice!")).is_empty


async def test_unknown_platform_is_a_bad_request(core: LoginCore) -> None:
    await add_user(core)
    with pytest.raises(BadRequest):
        await core.flow.login("alice", PASSWORD, "fax", ip=IP)


# --- lockout through the flow ----------------------------------------------------


async def test_tenth_failure_locks_and_the_right_password_is_then_refused_unchecked(
    core: LoginCore, hasher: CountingHasher, clock: TestClock
) -> None:
    await add_user(core)
    await fail_passwords(core, 10)
    assert hasher.verify_calls == 10
    clock.advance(3600)
    with pytest.raises(Locked) as caught:
        await core.flow.login("alice", PASSWORD, "tws", ip=IP)
    assert hasher.verify_calls == 10  # the password was not checked
    assert caught.value.retry_after == DAY  # extended: 24 h from this attempt
    clock.set(clock.now() + DAY - 1)
    with pytest.raises(Locked):
        await core.flow.login("alice", PASSWORD, "tws", ip=IP)


async def test_lock_ends_24_hours_after_the_last_refused_attempt(
    core: LoginCore, clock: TestClock
) -> None:
    await add_user(core)
    await fail_passwords(core, 10)
    clock.advance(5000)
    with pytest.raises(Locked):
        await core.flow.login("alice", PASSWORD, "tws", ip=IP)
    clock.advance(DAY)
    assert isinstance(await core.flow.login("alice", PASSWORD, "tws", ip=IP), LoggedIn)


async def test_unknown_users_lock_like_known_ones(core: LoginCore) -> None:
    await fail_passwords(core, 10, username="nobody")
    with pytest.raises(Locked):
        await core.flow.login("nobody", PASSWORD, "tws", ip=IP)


async def test_support_unlock(core: LoginCore) -> None:
    await add_user(core)
    await fail_passwords(core, 10)
    await core.support.unlock("alice")
    assert isinstance(await core.flow.login("alice", PASSWORD, "tws", ip=IP), LoggedIn)


async def test_success_resets_the_count(core: LoginCore) -> None:
    await add_user(core)
    await fail_passwords(core, 9)
    result = await core.flow.login("alice", PASSWORD, "portal", ip=IP)
    assert isinstance(result, LoggedIn)
    await fail_passwords(core, 9)
    assert (await core.guard.status("alice")).failures == 9


async def test_hundreds_of_concurrent_wrong_attempts_evaluate_exactly_ten(
    clock: TestClock, store: MemoryStore
) -> None:
    release = trio.Event()
    hasher = CountingHasher(pause=release.wait)
    core = LoginCore.build(make_config(), store=store, clock=clock, hasher=hasher)
    await add_user(core)
    outcomes: list[str] = []

    async def guess(i: int) -> None:
        try:
            await core.flow.login("alice", f"wrong{i}", "tws", ip=f"10.0.{i // 250}.{i % 250}")
        except (InvalidCredentials, Locked, RateLimited) as error:
            outcomes.append(error.code)

    async with trio.open_nursery() as nursery:
        for i in range(300):
            nursery.start_soon(guess, i)
        await trio.testing.wait_all_tasks_blocked()
        assert hasher.verify_calls == 10  # the rest were refused while ten were in flight
        release.set()
    assert outcomes.count("invalid_credentials") == 10
    assert hasher.verify_calls == 10
    assert (await core.guard.status("alice")).locked


async def test_interleaved_attempts_evaluate_exactly_ten(
    clock: TestClock, store: MemoryStore
) -> None:
    hasher = CountingHasher(pause=trio.lowlevel.checkpoint)
    core = LoginCore.build(make_config(), store=store, clock=clock, hasher=hasher)
    await add_user(core)

    async def guess(i: int) -> None:
        for _ in range(3):
            try:
                await core.flow.login("alice", f"wrong{i}", "tws", ip=IP)
            except (InvalidCredentials, Locked, RateLimited):
                await trio.lowlevel.checkpoint()

    async with trio.open_nursery() as nursery:
        for i in range(200):
            nursery.start_soon(guess, i)
    assert hasher.verify_calls == 10
    assert (await core.guard.status("alice")).locked


# --- rate limits -------------------------------------------------------------------


async def test_per_ip_limit_sheds_before_any_hash(clock: TestClock, hasher: CountingHasher) -> None:
    core = LoginCore.build(
        make_config(ip_burst=3.0, ip_rate=0.5), store=MemoryStore(), clock=clock, hasher=hasher
    )
    await add_user(core)
    for i in range(3):
        with pytest.raises(InvalidCredentials):
            await core.flow.login(f"user{i}", "wrong123", "tws", ip=IP)
    with pytest.raises(RateLimited) as caught:
        await core.flow.login("alice", PASSWORD, "tws", ip=IP)
    assert caught.value.retry_after == 2
    assert hasher.verify_calls == 3
    # Another address is not affected; after the wait this one may try again.
    await core.flow.login("alice", PASSWORD, "tws", ip="198.51.100.7")
    clock.advance(2)
    await core.flow.login("alice", PASSWORD, "portal", ip=IP)


async def test_per_user_limit_sheds_before_any_hash(
    clock: TestClock, hasher: CountingHasher
) -> None:
    core = LoginCore.build(
        make_config(user_burst=2.0, user_rate=0.1), store=MemoryStore(), clock=clock, hasher=hasher
    )
    for i in range(2):
        with pytest.raises(InvalidCredentials):
            await core.flow.login("nobody", "wrong123", "tws", ip=f"10.0.0.{i}")
    with pytest.raises(RateLimited) as caught:
        await core.flow.login("nobody", "wrong123", "tws", ip="10.0.0.9")
    assert caught.value.retry_after == 10
    assert hasher.verify_calls == 2
    assert (await core.guard.status("nobody")).failures == 2  # shed, not counted


# --- second factor ---------------------------------------------------------------


async def test_totp_login(core: LoginCore, clock: TestClock) -> None:
    enrolment = await add_user(core, totp=True)
    assert enrolment is not None
    pending = await password_step(core)
    assert pending.methods == ("totp",)
    assert pending.expires_in == 300
    assert core.flow.state(pending.login_id) is LoginState.SECOND_FACTOR
    result = await core.flow.verify(pending.login_id, "totp", code(enrolment.device, clock), ip=IP)
    assert result.session.method == "totp"
    assert result.tier.daily_limit == 1_000_000
    with pytest.raises(NotFound):  # the login id is spent
        core.flow.state(pending.login_id)


async def test_totp_challenge_step_is_optional_and_empty(core: LoginCore, clock: TestClock) -> None:
    enrolment = await add_user(core, totp=True)
    assert enrolment is not None
    pending = await password_step(core)
    challenge = await core.flow.challenge(pending.login_id, "totp")
    assert challenge.public() == {}
    assert core.flow.state(pending.login_id) is LoginState.CHALLENGE_SENT
    await core.flow.verify(pending.login_id, "totp", code(enrolment.device, clock), ip=IP)


@pytest.mark.parametrize("offset", [-1, 1])
async def test_totp_one_step_either_side(core: LoginCore, clock: TestClock, offset: int) -> None:
    enrolment = await add_user(core, totp=True)
    assert enrolment is not None
    pending = await password_step(core)
    response = code(enrolment.device, clock, offset)
    await core.flow.verify(pending.login_id, "totp", response, ip=IP)


async def test_replayed_totp_code_is_refused(core: LoginCore, clock: TestClock) -> None:
    enrolment = await add_user(core, totp=True)
    assert enrolment is not None
    used = code(enrolment.device, clock)
    first = await password_step(core, platform="tws")
    await core.flow.verify(first.login_id, "totp", used, ip=IP)
    clock.advance(5)  # same 30 s step
    second = await password_step(core, platform="portal")
    with pytest.raises(LoginFailed):
        await core.flow.verify(second.login_id, "totp", used, ip=IP)
    # Nor the previous step's code once a later one was used.
    with pytest.raises(LoginFailed):
        await core.flow.verify(second.login_id, "totp", code(enrolment.device, clock, -1), ip=IP)


async def test_same_code_racing_in_twice_is_accepted_once(
    core: LoginCore, clock: TestClock
) -> None:
    enrolment = await add_user(core, totp=True)
    assert enrolment is not None
    one = await password_step(core, platform="tws")
    two = await password_step(core, platform="portal")
    response = code(enrolment.device, clock)
    results: list[str] = []

    async def verify(login_id: str) -> None:
        try:
            await core.flow.verify(login_id, "totp", response, ip=IP)
            results.append("ok")
        except LoginFailed:
            results.append("failed")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(verify, one.login_id)
        nursery.start_soon(verify, two.login_id)
    assert sorted(results) == ["failed", "ok"]


@pytest.mark.parametrize("response", ["123 456", "12345", "1234567", "abcdef", ""])
async def test_malformed_code_is_a_failed_attempt(
    core: LoginCore, clock: TestClock, response: str
) -> None:
    await add_user(core, totp=True)
    pending = await password_step(core)
    for _ in range(10):
        with pytest.raises(LoginFailed) as caught:
            await core.flow.verify(pending.login_id, "totp", response, ip=IP)
    assert caught.value.body() == {"error": "login_failed", "message": "Login failed"}
    with pytest.raises(Locked):
        await core.flow.verify(pending.login_id, "totp", response, ip=IP)


async def test_wrong_codes_lock_and_then_the_right_code_is_refused(
    core: LoginCore, clock: TestClock
) -> None:
    enrolment = await add_user(core, totp=True)
    assert enrolment is not None
    pending = await password_step(core)
    for _ in range(10):
        with pytest.raises(LoginFailed):
            await core.flow.verify(pending.login_id, "totp", "000000", ip=IP)
    with pytest.raises(Locked):
        await core.flow.verify(pending.login_id, "totp", code(enrolment.device, clock), ip=IP)
    with pytest.raises(Locked):
        await core.flow.login("alice", PASSWORD, "tws", ip=IP)


async def test_a_right_password_alone_does_not_reset_the_count(core: LoginCore) -> None:
    await add_user(core, totp=True)
    await fail_passwords(core, 9)
    pending = await password_step(core)
    with pytest.raises(LoginFailed):
        await core.flow.verify(pending.login_id, "totp", "000000", ip=IP)
    with pytest.raises(Locked):
        await password_step(core)


async def test_a_completed_totp_login_resets_the_count(core: LoginCore, clock: TestClock) -> None:
    enrolment = await add_user(core, totp=True)
    assert enrolment is not None
    await fail_passwords(core, 9)
    await totp_login(core, enrolment.device, clock)
    assert (await core.guard.status("alice")).failures == 0


async def test_method_not_offered_is_a_bad_request(core: LoginCore) -> None:
    await add_user(core, totp=True)
    pending = await password_step(core)
    for method in ["sms", "none", "TOTP"]:
        with pytest.raises(BadRequest):
            await core.flow.verify(pending.login_id, method, "123456", ip=IP)
    assert (await core.guard.status("alice")).failures == 0


async def test_login_id_expires(core: LoginCore, clock: TestClock) -> None:
    enrolment = await add_user(core, totp=True)
    assert enrolment is not None
    pending = await password_step(core)
    clock.advance(300)
    with pytest.raises(NotFound):
        await core.flow.verify(pending.login_id, "totp", code(enrolment.device, clock), ip=IP)


async def test_sweep_forgets_expired_logins(core: LoginCore, clock: TestClock) -> None:
    await add_user(core, totp=True)
    pending = await password_step(core)
    clock.advance(299)
    assert core.flow.sweep() == 0
    clock.advance(1)
    assert core.flow.sweep() == 1
    with pytest.raises(NotFound):
        core.flow.state(pending.login_id)


async def test_unknown_login_id(core: LoginCore) -> None:
    with pytest.raises(NotFound):
        await core.flow.verify("no-such-login", "totp", "123456", ip=IP)
    with pytest.raises(NotFound):
        await core.flow.confirm("no-such-login", True)


async def test_devices_this_build_cannot_verify_fail_closed(
    core: LoginCore, store: MemoryStore
) -> None:
    await add_user(core)
    await store.add_device("alice", "pager", b"x" * 20, None, 0.0)
    with pytest.raises(LoginFailed):
        await core.flow.login("alice", PASSWORD, "tws", ip=IP)


# --- sessions and takeover -------------------------------------------------------------


async def test_second_trading_login_answers_session_exists_then_takeover(
    core: LoginCore, clock: TestClock, hasher: CountingHasher
) -> None:
    enrolment = await add_user(core, totp=True)
    assert enrolment is not None
    first = await totp_login(core, enrolment.device, clock, platform="tws")
    clock.advance(60)
    pending = await password_step(core, platform="mobile")
    with pytest.raises(SessionExists) as caught:
        await core.flow.verify(pending.login_id, "totp", code(enrolment.device, clock, 1), ip=IP)
    exists = caught.value
    assert (exists.platform, exists.started_at, exists.login_id) == (
        "tws",
        first.session.started_at,
        pending.login_id,
    )
    assert exists.message == "Another session already exists"
    assert core.flow.state(pending.login_id) is LoginState.SESSION_EXISTS
    hashes = hasher.verify_calls
    second = await core.flow.confirm(pending.login_id, takeover=True)
    assert second is not None
    assert hasher.verify_calls == hashes  # no second password or code
    assert second.session.platform is Platform.MOBILE
    assert second.session.method == "totp"
    assert second.replaced is first.session
    with pytest.raises(SessionReplaced):
        core.sessions.authenticate(first.token)
    with pytest.raises(NotFound):
        await core.flow.confirm(pending.login_id, takeover=True)


async def test_takeover_can_be_declined(core: LoginCore) -> None:
    await add_user(core)
    first = await core.flow.login("alice", PASSWORD, "tws", ip=IP)
    assert isinstance(first, LoggedIn)
    with pytest.raises(SessionExists) as caught:
        await core.flow.login("alice", PASSWORD, "desktop", ip=IP)
    login_id = caught.value.login_id
    assert login_id is not None
    assert await core.flow.confirm(login_id, takeover=False) is None
    assert core.sessions.authenticate(first.token).active
    with pytest.raises(NotFound):
        await core.flow.confirm(login_id, takeover=True)


async def test_confirm_before_the_second_factor_is_refused(core: LoginCore) -> None:
    await add_user(core, totp=True)
    pending = await password_step(core)
    with pytest.raises(BadRequest):
        await core.flow.confirm(pending.login_id, takeover=True)


async def test_verify_after_session_exists_is_refused(core: LoginCore, clock: TestClock) -> None:
    enrolment = await add_user(core, totp=True)
    assert enrolment is not None
    await totp_login(core, enrolment.device, clock, platform="tws")
    pending = await password_step(core, platform="desktop")
    with pytest.raises(SessionExists):
        await core.flow.verify(pending.login_id, "totp", code(enrolment.device, clock, 1), ip=IP)
    with pytest.raises(BadRequest):
        await core.flow.verify(pending.login_id, "totp", code(enrolment.device, clock, 1), ip=IP)


async def test_portal_alongside_trading(core: LoginCore, clock: TestClock) -> None:
    enrolment = await add_user(core, totp=True)
    assert enrolment is not None
    trading = await totp_login(core, enrolment.device, clock, platform="tws")
    clock.advance(30)
    portal = await totp_login(core, enrolment.device, clock, platform="portal")
    assert core.sessions.authenticate(trading.token).active
    assert core.sessions.authenticate(portal.token).active


async def test_trading_portal_login_meets_the_trading_session(core: LoginCore) -> None:
    await add_user(core)
    await core.flow.login("alice", PASSWORD, "tws", ip=IP)
    with pytest.raises(SessionExists) as caught:
        await core.flow.login("alice", PASSWORD, "portal", ip=IP, trading=True)
    assert caught.value.platform == "tws"


async def test_users_of_one_account_each_have_their_own_session(core: LoginCore) -> None:
    await add_user(core, "alice", account="U1")
    await add_user(core, "bob", account="U1")
    a = await core.flow.login("alice", PASSWORD, "tws", ip=IP)
    b = await core.flow.login("bob", PASSWORD, "tws", ip=IP)
    assert isinstance(a, LoggedIn) and isinstance(b, LoggedIn)
    assert a.session.account_id == b.session.account_id == "U1"


class BrokenHasher(CountingHasher):
    async def verify(
        self, password: str, encoded: str, *, client: str = "", trusted: bool = False
    ) -> bool:
        raise RuntimeError("hash thread died")


async def test_an_interrupted_check_gives_its_attempt_back(
    clock: TestClock, store: MemoryStore
) -> None:
    core = LoginCore.build(make_config(), store=store, clock=clock, hasher=BrokenHasher())
    await add_user(core)
    for _ in range(20):
        with pytest.raises(RuntimeError):
            await core.flow.login("alice", PASSWORD, "tws", ip=IP)
    status = await core.guard.status("alice")
    assert (status.failures, status.in_flight, status.locked) == (0, 0, False)


async def test_a_cancelled_check_gives_its_attempt_back(
    clock: TestClock, store: MemoryStore
) -> None:
    hasher = CountingHasher(pause=trio.sleep_forever)
    core = LoginCore.build(make_config(), store=store, clock=clock, hasher=hasher)
    await add_user(core)
    async with trio.open_nursery() as nursery:
        for _ in range(10):
            nursery.start_soon(functools.partial(core.flow.login, "alice", PASSWORD, "tws", ip=IP))
        await trio.testing.wait_all_tasks_blocked()
        assert (await core.guard.status("alice")).in_flight == 10
        nursery.cancel_scope.cancel()
    status = await core.guard.status("alice")
    assert (status.failures, status.in_flight) == (0, 0)
