"""Trusted devices (SPEC 3, OWASP device cookies): a completed login hands
out a signed cookie; attempts presenting it are counted apart, so guesses
from elsewhere cannot lock the owner out of a device already used."""

from __future__ import annotations

import pytest

from gateway.auth.core import LoginCore
from gateway.auth.flow import LoggedIn
from gateway.auth.trust import DeviceCookies, device_cookie
from gateway.clock import TestClock
from gateway.errors import InvalidCredentials, Locked, RateLimited
from gateway.store.memory import MemoryStore

from .helpers import IP, PASSWORD, CountingHasher, add_user, make_config

KEY = bytes(range(32))
T0 = 1_700_000_000.0


async def trusted_cookie(core: LoginCore, username: str = "alice") -> str:
    result = await core.flow.login(username, PASSWORD, "tws", ip=IP)
    assert isinstance(result, LoggedIn) and result.device_cookie is not None
    core.sessions.logout(result.token)
    return result.device_cookie


def test_a_cookie_is_bound_to_its_user_key_and_age() -> None:
    clock = TestClock(T0)
    cookies = DeviceCookies(KEY, clock, max_age=100)
    value = cookies.issue("alice")
    device = cookies.verify(value, "alice")
    assert device is not None and device in value
    assert cookies.verify(value, "bob") is None
    assert DeviceCookies(bytes(32), clock).verify(value, "alice") is None  # another key
    forged = value.replace("alice.", "bob.", 1)
    assert cookies.verify(forged, "bob") is None
    for garbage in ("", ".", "alice...", "alice.x.1.", value + "x", "x" * 10_000):
        assert cookies.verify(garbage, "alice") is None
    clock.advance(100)
    assert cookies.verify(value, "alice") is None  # expired


def test_the_cookie_header_is_found_among_others() -> None:
    headers = [(b"cookie", b"theme=dark; gw_device=abc.def; gw_session=s")]
    assert device_cookie(headers) == "abc.def"
    assert device_cookie([(b"cookie", b"gw_devicex=1")]) is None


async def test_a_completed_login_hands_out_a_cookie_once(core: LoginCore) -> None:
    await add_user(core)
    cookie = await trusted_cookie(core)
    again = await core.flow.login("alice", PASSWORD, "tws", ip=IP, device=cookie)
    assert isinstance(again, LoggedIn) and again.device_cookie is None  # already trusted


async def test_guesses_from_elsewhere_do_not_lock_the_owners_device(core: LoginCore) -> None:
    await add_user(core)
    cookie = await trusted_cookie(core)
    for _ in range(10):
        with pytest.raises(InvalidCredentials):
            await core.flow.login("alice", "wrong123", "tws", ip="198.51.100.9")
    with pytest.raises(Locked):
        await core.flow.login("alice", PASSWORD, "tws", ip="198.51.100.9")
    owner = await core.flow.login("alice", PASSWORD, "tws", ip=IP, device=cookie)
    assert isinstance(owner, LoggedIn)
    # Support still sees the attack's lock on the account.
    assert (await core.support.lock_status("alice")).locked


async def test_failures_with_the_cookie_lock_that_device_only(core: LoginCore) -> None:
    await add_user(core)
    cookie = await trusted_cookie(core)
    for _ in range(10):
        with pytest.raises(InvalidCredentials):
            await core.flow.login("alice", "wrong123", "tws", ip=IP, device=cookie)
    with pytest.raises(Locked):
        await core.flow.login("alice", PASSWORD, "tws", ip=IP, device=cookie)
    elsewhere = await core.flow.login("alice", PASSWORD, "tws", ip=IP)
    assert isinstance(elsewhere, LoggedIn)
    core.sessions.logout(elsewhere.token)
    await core.support.unlock("alice")  # support unlocks the devices too
    unlocked = await core.flow.login("alice", PASSWORD, "tws", ip=IP, device=cookie)
    assert isinstance(unlocked, LoggedIn)


async def test_another_users_cookie_is_no_trust(core: LoginCore) -> None:
    await add_user(core, "alice")
    await add_user(core, "bob")
    bobs = await trusted_cookie(core, "bob")
    for _ in range(10):
        with pytest.raises(InvalidCredentials):
            await core.flow.login("alice", "wrong123", "tws", ip=IP, device=bobs)
    with pytest.raises(Locked):
        await core.flow.login("alice", PASSWORD, "tws", ip=IP)


async def test_trusted_attempts_hash_first_and_have_their_own_bucket(
    clock: TestClock, store: MemoryStore
) -> None:
    seen: list[tuple[str, bool]] = []

    class Recording(CountingHasher):
        async def verify(
            self, password: str, encoded: str, *, client: str = "", trusted: bool = False
        ) -> bool:
            seen.append((client, trusted))
            return await super().verify(password, encoded)

    config = make_config(user_rate=0.0, user_burst=2.0)
    core = LoginCore.build(config, store=store, clock=clock, hasher=Recording())
    await add_user(core)
    cookie = await trusted_cookie(core)
    # The first login took one of the name's two tokens; a guess takes the other.
    with pytest.raises(InvalidCredentials):
        await core.flow.login("alice", "wrong123", "tws", ip="198.51.100.9")
    with pytest.raises(RateLimited):
        await core.flow.login("alice", "wrong123", "tws", ip="198.51.100.9")
    owner = await core.flow.login("alice", PASSWORD, "tws", ip=IP, device=cookie)
    assert isinstance(owner, LoggedIn)
    assert seen[-1] == (IP, True)
    assert ("198.51.100.9", False) in seen
