"""The recovery desk without a server: floods of anonymous recoveries never
cost a real user the one they are in, and every name is answered alike."""

from __future__ import annotations

import pytest

from gateway.auth.core import LoginCore
from gateway.auth.recovery import CODE_SECONDS, RecoveryIds
from gateway.clock import TestClock
from gateway.config import LoginAdmissionConfig, RecoveryConfig
from gateway.errors import LoginFailed, NotFound, RateLimited
from gateway.store.memory import MemoryStore

from .helpers import PASSWORD, CountingHasher, make_config

IP = "192.0.2.1"


def build(clock: TestClock, store: MemoryStore, **recovery: float) -> LoginCore:
    config = make_config()
    limits = {"user_burst": 1e6, "destination_burst": 1e6, **recovery}
    config.recovery = RecoveryConfig(**limits)  # type: ignore[arg-type]
    config.login_admission = LoginAdmissionConfig(recovery_burst=1e6)
    return LoginCore.build(config, store=store, clock=clock, hasher=CountingHasher())


async def code_of(core: LoginCore, email: str) -> str:
    code = core.outbox.messages(to=email)[-1].code
    assert code is not None
    return code


async def test_a_flood_of_strangers_never_evicts_a_real_recovery(
    clock: TestClock, store: MemoryStore
) -> None:
    core = build(clock, store)
    await core.support.create_user("alice", PASSWORD, email="alice@example.com")
    mine = await core.recovery.start_password_reset("alice", ip=IP)
    code = await code_of(core, "alice@example.com")
    for n in range(10_001):
        await core.recovery.start_password_reset(f"guess{n}", ip=f"198.51.{n % 256}.{n // 256}")
    assert await core.recovery.finish_password_reset(mine, code, "newpass123", ip=IP) == 0


async def test_past_the_bounds_new_recoveries_are_refused_not_old_ones_evicted(
    clock: TestClock, store: MemoryStore
) -> None:
    core = build(clock, store, pending_per_user=2, max_pending=3)
    for name in ("alice", "bob", "carol"):
        await core.support.create_user(name, PASSWORD, email=f"{name}@example.com")
    first = await core.recovery.start_password_reset("alice", ip=IP)
    code = await code_of(core, "alice@example.com")
    await core.recovery.start_password_reset("alice", ip=IP)
    refused = await core.recovery.start_password_reset("alice", ip=IP)  # past pending_per_user
    assert len(core.outbox.messages(to="alice@example.com")) == 2
    await core.recovery.start_password_reset("bob", ip=IP)
    await core.recovery.start_password_reset("carol", ip=IP)  # past max_pending
    assert core.outbox.messages(to="carol@example.com") == []
    with pytest.raises(LoginFailed):  # a refused one answers as a stranger's
        await core.recovery.finish_password_reset(refused, code, "newpass123", ip=IP)
    assert await core.recovery.finish_password_reset(first, code, "newpass123", ip=IP) == 0


async def test_any_name_gets_an_id_that_answers_alike(clock: TestClock, store: MemoryStore) -> None:
    core = build(clock, store)
    await core.support.create_user("alice", PASSWORD, email="alice@example.com")
    known = await core.recovery.start_password_reset("alice", ip=IP)
    unknown = await core.recovery.start_password_reset("nobody", ip=IP)
    assert len(known) == len(unknown) == 112
    for recovery_id in (known, unknown):
        for _ in range(4):  # a real one stops taking codes after 3: no different answer
            with pytest.raises(LoginFailed):
                await core.recovery.finish_password_reset(recovery_id, "000000", "newpass1", ip=IP)
    assert (await core.guard.status("alice")).failures == 4
    assert (await core.guard.status("nobody")).failures == 4
    clock.advance(CODE_SECONDS)
    for recovery_id in (known, unknown):
        with pytest.raises(NotFound):
            await core.recovery.finish_password_reset(recovery_id, "000000", "newpass1", ip=IP)


async def test_the_per_name_limit_is_the_same_for_every_name(
    clock: TestClock, store: MemoryStore
) -> None:
    core = build(clock, store, user_burst=2)
    await core.support.create_user("alice", PASSWORD, email="alice@example.com")
    for name in ("alice", "nobody"):
        await core.recovery.start_password_reset(name, ip=IP)
        await core.recovery.start_password_reset(name, ip=IP)
        with pytest.raises(RateLimited) as refused:
            await core.recovery.start_password_reset(name, ip=IP)
        assert refused.value.retry_after == 300  # 12 an hour


def test_ids_carry_their_name_and_deadline_sealed() -> None:
    ids = RecoveryIds()
    for name in ("a", "0", "z9" * 32, "alice01"):
        opened = ids.open(ids.new(name, 1_700_000_900.5))
        assert opened is not None and opened == (name, 1_700_000_900.5)
    good = ids.new("alice", 1.0)
    tampered = ("A" if good[5] != "A" else "B").join((good[:5], good[6:]))
    assert ids.open(tampered) is None
    assert RecoveryIds().open(good) is None  # another process's key
    assert ids.open("not an id") is None and ids.open("") is None
