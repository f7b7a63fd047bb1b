"""What every Store does, run against each implementation."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.auth.lockout import LockState, PendingAttempt
from gateway.store.base import AlreadyExists

from .helpers import StoreFactory, open_memory, open_sqlite

T0 = 1_700_000_000.0


@pytest.fixture(params=[open_memory, open_sqlite], ids=["memory", "sqlite"])
def open_store(request: pytest.FixtureRequest) -> StoreFactory:
    return request.param  # type: ignore[no-any-return]


async def test_accounts_and_users(open_store: StoreFactory, tmp_path: Path) -> None:
    store = await open_store(tmp_path)
    account = await store.create_account("U1", "Alice & Bob", T0)
    assert await store.get_account("U1") == account
    assert await store.get_account("U2") is None
    alice = await store.create_user("alice", "U1", "$argon2id$x", "a@example.com", None, T0)
    await store.create_user("bob", "U1", "$argon2id$y", None, "+15550100", T0)
    assert await store.get_user("alice") == alice
    assert await store.get_user("carol") is None
    assert sorted(u.username for u in await store.users_of_account("U1")) == ["alice", "bob"]
    await store.close()


async def test_duplicates_and_dangling_references_are_refused(
    open_store: StoreFactory, tmp_path: Path
) -> None:
    store = await open_store(tmp_path)
    await store.create_account("U1", None, T0)
    with pytest.raises(AlreadyExists):
        await store.create_account("U1", None, T0)
    await store.create_user("alice", "U1", "h", None, None, T0)
    with pytest.raises(AlreadyExists):
        await store.create_user("alice", "U1", "h", None, None, T0)
    with pytest.raises(LookupError):
        await store.create_user("bob", "U9", "h", None, None, T0)
    with pytest.raises(LookupError):
        await store.add_device("nobody", "totp", b"s", None, T0)
    await store.close()


async def test_set_password_hash(open_store: StoreFactory, tmp_path: Path) -> None:
    store = await open_store(tmp_path)
    await store.create_account("U1", None, T0)
    await store.create_user("alice", "U1", "old", None, None, T0)
    await store.set_password_hash("alice", "new")
    user = await store.get_user("alice")
    assert user is not None and user.password_hash == "new"
    await store.close()


async def test_devices(open_store: StoreFactory, tmp_path: Path) -> None:
    store = await open_store(tmp_path)
    await store.create_account("U1", None, T0)
    await store.create_user("alice", "U1", "h", None, None, T0)
    await store.create_user("bob", "U1", "h", None, None, T0)
    await store.add_device("bob", "totp", b"bob-seed", None, T0)
    phone = await store.add_device("alice", "totp", b"seed-one", "phone", T0)
    tablet = await store.add_device("alice", "totp", b"seed-two", None, T0)
    assert phone.device_id != tablet.device_id
    assert phone.counter == -1
    assert b"seed-one" not in repr(phone).encode()
    assert {d.device_id for d in await store.devices_of("alice")} == {
        phone.device_id,
        tablet.device_id,
    }
    assert await store.remove_device(tablet.device_id)
    assert not await store.remove_device(tablet.device_id)
    assert [d.secret for d in await store.devices_of("alice")] == [b"seed-one"]
    assert [d.secret for d in await store.devices_of("bob")] == [b"bob-seed"]
    assert await store.devices_of("carol") == []
    await store.close()


async def test_claim_counter_only_moves_forward(open_store: StoreFactory, tmp_path: Path) -> None:
    store = await open_store(tmp_path)
    await store.create_account("U1", None, T0)
    await store.create_user("alice", "U1", "h", None, None, T0)
    device = await store.add_device("alice", "totp", b"seed", None, T0)
    assert await store.claim_counter(device.device_id, 100)
    assert not await store.claim_counter(device.device_id, 100)
    assert not await store.claim_counter(device.device_id, 99)
    assert await store.claim_counter(device.device_id, 101)
    assert not await store.claim_counter("missing", 1)
    (stored,) = await store.devices_of("alice")
    assert stored.counter == 101
    await store.close()


async def test_update_lock_applies_a_function_and_returns_its_result(
    open_store: StoreFactory, tmp_path: Path
) -> None:
    store = await open_store(tmp_path)
    assert await store.get_lock("alice") == LockState()
    locked = LockState(failures=(T0,), pending=(PendingAttempt("a1", T0),), locked_until=T0 + 5)
    result = await store.update_lock("alice", lambda old: (locked, old))
    assert result == LockState()
    assert await store.get_lock("alice") == locked
    assert await store.get_lock("bob") == LockState()
    await store.update_lock("alice", lambda old: (LockState(), None))
    assert await store.get_lock("alice") == LockState()
    await store.close()


async def test_prune_locks_drops_what_normalizes_to_nothing(
    open_store: StoreFactory, tmp_path: Path
) -> None:
    store = await open_store(tmp_path)
    old, fresh = LockState(failures=(T0,)), LockState(failures=(T0, T0 + 100))
    await store.update_lock("guessed", lambda _: (old, None))
    await store.update_lock("alice", lambda _: (fresh, None))

    def forget_before_t0_plus_50(state: LockState) -> LockState:
        return LockState(failures=tuple(t for t in state.failures if t > T0 + 50))

    assert await store.prune_locks(forget_before_t0_plus_50) == 1
    assert await store.get_lock("guessed") == LockState()
    assert await store.get_lock("alice") == LockState(failures=(T0 + 100,))
    await store.close()
