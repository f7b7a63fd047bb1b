"""SQLite specifics: restart, encryption at rest, write-through, write order,
running off the event loop."""

from __future__ import annotations

import sqlite3
import stat
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest
import trio
import trio.testing

from gateway.auth.core import LoginCore
from gateway.auth.flow import LoggedIn
from gateway.auth.lockout import LockState
from gateway.auth.passwords import InlineHasher, PasswordHasher
from gateway.clock import TestClock
from gateway.config import Argon2Config, Config
from gateway.errors import InvalidCredentials, Locked
from gateway.store.encryption import MasterKeyError
from gateway.store.sqlite import DATABASE_FILE, SqliteStore

from .helpers import MASTER_KEY, files_bytes

T0 = 1_700_000_000.0
SEED = b"SEED-0123456789-XYZ!"
IP = "192.0.2.1"
PASSWORD = "secret123"
_T = TypeVar("_T")


async def populated(data_dir: Path) -> SqliteStore:
    store = await SqliteStore.open(data_dir, MASTER_KEY)
    await store.create_account("U1", None, T0)
    await store.create_user("alice", "U1", "$argon2id$hash", "a@example.com", None, T0)
    return store


async def test_restart_keeps_users_devices_counters_and_lock_state(tmp_path: Path) -> None:
    store = await populated(tmp_path)
    device = await store.add_device("alice", "totp", SEED, "phone", T0)
    await store.claim_counter(device.device_id, 56_666_666)
    lock = LockState(failures=(T0, T0 + 1), locked_until=T0 + 86_400)
    await store.update_lock("alice", lambda _: (lock, None))
    await store.update_lock("nobody", lambda _: (LockState(failures=(T0,)), None))
    await store.close()

    reopened = await SqliteStore.open(tmp_path, MASTER_KEY)
    user = await reopened.get_user("alice")
    assert user is not None
    assert (user.account_id, user.password_hash, user.email) == (
        "U1",
        "$argon2id$hash",
        "a@example.com",
    )
    (stored,) = await reopened.devices_of("alice")
    assert (stored.device_id, stored.secret, stored.counter, stored.label) == (
        device.device_id,
        SEED,
        56_666_666,
        "phone",
    )
    assert await reopened.get_lock("alice") == lock
    # A guessed name's lock state was never written: it lived in memory.
    assert await reopened.get_lock("nobody") == LockState()
    assert not await reopened.claim_counter(device.device_id, 56_666_666)
    await reopened.close()


async def test_emptied_lock_state_is_deleted(tmp_path: Path) -> None:
    store = await populated(tmp_path)
    await store.update_lock("alice", lambda _: (LockState(failures=(T0,)), None))
    await store.update_lock("alice", lambda _: (LockState(), None))
    await store.close()
    with sqlite3.connect(tmp_path / DATABASE_FILE) as conn:
        assert conn.execute("SELECT count(*) FROM lock_state").fetchone() == (0,)


async def test_pruned_lock_state_is_pruned_on_disk(tmp_path: Path) -> None:
    store = await populated(tmp_path)
    await store.update_lock("guessed", lambda _: (LockState(failures=(T0,)), None))
    await store.update_lock("alice", lambda _: (LockState(failures=(T0, T0 + 100)), None))
    assert await store.prune_locks(lambda s: LockState(failures=s.failures[1:])) == 1
    await store.close()
    reopened = await SqliteStore.open(tmp_path, MASTER_KEY)
    assert await reopened.get_lock("guessed") == LockState()
    assert await reopened.get_lock("alice") == LockState(failures=(T0 + 100,))
    await reopened.close()


def lock_rows(data_dir: Path) -> list[str]:
    with sqlite3.connect(data_dir / DATABASE_FILE) as conn:
        return [row[0] for row in conn.execute("SELECT username FROM lock_state")]


async def test_guessed_names_leave_no_row_and_bounded_memory(tmp_path: Path) -> None:
    store = await populated(tmp_path)
    store._memory.guessed.capacity = 100
    for i in range(1_000):
        await store.update_lock(f"guess{i}", lambda _: (LockState(failures=(T0,)), None))
    await store.update_lock("alice", lambda _: (LockState(failures=(T0,)), None))
    assert lock_rows(tmp_path) == ["alice"]
    assert len(store._memory.guessed) == 100
    assert await store.get_lock("guess999") == LockState(failures=(T0,))  # the newest stay
    assert await store.get_lock("guess0") == LockState()
    await store.close()


async def test_a_full_lru_evicts_unlocked_names_before_locked_ones(tmp_path: Path) -> None:
    store = await populated(tmp_path)
    store._memory.guessed.capacity = 10
    locked = LockState(locked_until=T0 + 86_400)
    await store.update_lock("lockedguess", lambda _: (locked, None))
    for i in range(20):
        await store.update_lock(f"guess{i}", lambda _: (LockState(failures=(T0,)), None))
    assert await store.get_lock("lockedguess") == locked
    await store.close()


async def test_a_name_guessed_before_it_was_created_keeps_its_lock(tmp_path: Path) -> None:
    store = await populated(tmp_path)
    locked = LockState(locked_until=T0 + 86_400)
    await store.update_lock("carol", lambda _: (locked, None))
    assert lock_rows(tmp_path) == []
    await store.create_user("carol", "U1", "h", None, None, T0)
    assert await store.get_lock("carol") == locked
    await store.close()
    reopened = await SqliteStore.open(tmp_path, MASTER_KEY)
    assert await reopened.get_lock("carol") == locked
    await reopened.close()


async def test_rows_of_guessed_names_from_older_versions_are_dropped(tmp_path: Path) -> None:
    store = await populated(tmp_path)
    await store.close()
    with sqlite3.connect(tmp_path / DATABASE_FILE) as conn:
        conn.execute("INSERT INTO lock_state VALUES ('oldguess', '{}')")
        conn.execute("INSERT INTO lock_state VALUES ('alice/device1', '{}')")
    reopened = await SqliteStore.open(tmp_path, MASTER_KEY)
    assert lock_rows(tmp_path) == ["alice/device1"]  # a trusted device's state: kept
    await reopened.close()


async def test_refused_attempts_on_a_locked_user_do_not_each_write(tmp_path: Path) -> None:
    store = await populated(tmp_path)
    locked = LockState(locked_until=T0 + 86_400)
    await store.update_lock("alice", lambda _: (locked, None))
    writes = 0
    original = store._write

    async def counting(write: Callable[[sqlite3.Connection], object]) -> None:
        nonlocal writes
        writes += 1
        await original(write)

    store._write = counting  # type: ignore[method-assign]
    for i in range(100):  # each refusal moves the lock on by a second
        extended = LockState(locked_until=T0 + 86_400 + i)
        await store.update_lock("alice", lambda _, s=extended: (s, None))
    assert writes == 1  # once the extension passed the slack (60 s)
    await store.close()
    reopened = await SqliteStore.open(tmp_path, MASTER_KEY)
    until = (await reopened.get_lock("alice")).locked_until
    assert until is not None and T0 + 86_400 + 60 <= until <= T0 + 86_400 + 99
    await reopened.close()


async def test_device_secrets_are_encrypted_on_disk(tmp_path: Path) -> None:
    store = await populated(tmp_path)
    await store.add_device("alice", "totp", SEED, None, T0)
    raw = files_bytes(tmp_path)
    assert b"alice" in raw  # we are looking at the right bytes
    assert SEED not in raw
    assert SEED.hex().encode() not in raw
    await store.close()
    assert SEED not in files_bytes(tmp_path)


async def test_a_different_master_key_is_refused(tmp_path: Path) -> None:
    store = await populated(tmp_path)
    await store.add_device("alice", "totp", SEED, None, T0)
    await store.close()
    with pytest.raises(MasterKeyError):
        await SqliteStore.open(tmp_path, bytes(32))


async def test_database_file_is_private(tmp_path: Path) -> None:
    store = await populated(tmp_path)
    await store.close()
    assert stat.S_IMODE((tmp_path / DATABASE_FILE).stat().st_mode) == 0o600


async def test_writes_reach_sqlite_before_the_call_returns(tmp_path: Path) -> None:
    store = await populated(tmp_path)
    await store.update_lock("alice", lambda _: (LockState(failures=(T0,)), None))
    with sqlite3.connect(tmp_path / DATABASE_FILE) as conn:
        assert conn.execute("SELECT username FROM users").fetchall() == [("alice",)]
        assert conn.execute("SELECT username FROM lock_state").fetchall() == [("alice",)]
    await store.close()


async def test_reads_come_from_memory(tmp_path: Path) -> None:
    calls = 0

    async def counting(fn: Callable[[], _T]) -> _T:
        nonlocal calls
        calls += 1
        return fn()

    store = await SqliteStore.open(tmp_path, MASTER_KEY, counting)
    await store.create_account("U1", None, T0)
    await store.create_user("alice", "U1", "h", None, None, T0)
    calls = 0
    await store.get_user("alice")
    await store.devices_of("alice")
    await store.get_lock("alice")
    await store.users_of_account("U1")
    assert calls == 0
    await store.close()


async def test_writes_reach_the_disk_in_the_order_they_were_made(tmp_path: Path) -> None:
    """The first write's thread is held back; the second's runs first. The
    disk must still end with the second state."""
    hold = trio.Event()
    held = False

    async def runner(fn: Callable[[], _T]) -> _T:
        nonlocal held
        if not held:
            held = True
            await hold.wait()
        return fn()

    store = await populated(tmp_path)
    store._run = runner  # the held-back runner, from now on
    first, second = LockState(failures=(T0,)), LockState(failures=(T0, T0 + 1))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(store.update_lock, "alice", lambda _: (first, None))
        await trio.testing.wait_all_tasks_blocked()
        await store.update_lock("alice", lambda _: (second, None))
        hold.set()
    await store.close()
    reopened = await SqliteStore.open(tmp_path, MASTER_KEY)
    assert await reopened.get_lock("alice") == second
    await reopened.close()


async def test_runs_in_worker_threads(tmp_path: Path) -> None:
    limiter = trio.CapacityLimiter(2)

    async def in_thread(fn: Callable[[], _T]) -> _T:
        return await trio.to_thread.run_sync(fn, limiter=limiter)

    store = await SqliteStore.open(tmp_path, MASTER_KEY, in_thread)
    await store.create_account("U1", None, T0)
    await store.create_user("alice", "U1", "h", None, None, T0)

    async def bump(i: int) -> None:
        await store.update_lock(
            "alice", lambda old: (LockState(failures=(*old.failures, T0 + i)), None)
        )

    async with trio.open_nursery() as nursery:
        for i in range(50):
            nursery.start_soon(bump, i)
    await store.close()
    reopened = await SqliteStore.open(tmp_path, MASTER_KEY)
    assert len((await reopened.get_lock("alice")).failures) == 50
    await reopened.close()


async def test_lockout_survives_a_restart_of_the_gateway(tmp_path: Path) -> None:
    clock = TestClock(T0)
    config = Config(argon2=Argon2Config(profile="insecure-load-test"))
    hasher = InlineHasher(PasswordHasher(config.argon2))
    store = await SqliteStore.open(tmp_path, MASTER_KEY)
    core = LoginCore.build(config, store=store, clock=clock, hasher=hasher)
    await core.support.create_user("alice", PASSWORD)
    enrolment = await core.support.enrol_totp("alice")
    for i in range(10):
        with pytest.raises(InvalidCredentials):
            await core.flow.login("alice", "wrong123", "tws", ip=f"10.0.0.{i}")
    await store.close()

    clock.advance(3600)
    store = await SqliteStore.open(tmp_path, MASTER_KEY)
    core = LoginCore.build(config, store=store, clock=clock, hasher=hasher)
    with pytest.raises(Locked):
        await core.flow.login("alice", PASSWORD, "tws", ip=IP)
    assert [d.secret for d in await store.devices_of("alice")] == [enrolment.device.secret]
    await core.support.unlock("alice")
    await store.close()

    store = await SqliteStore.open(tmp_path, MASTER_KEY)
    core = LoginCore.build(config, store=store, clock=clock, hasher=hasher)
    await store.remove_device(enrolment.device.device_id)
    assert isinstance(await core.flow.login("alice", PASSWORD, "tws", ip=IP), LoggedIn)
    await store.close()


def test_queued_writes_share_one_commit_and_fail_alone(tmp_path: Path) -> None:
    from gateway.store.sqlite import _Database

    db = _Database(tmp_path / DATABASE_FILE)
    statements: list[str] = []
    db.conn.set_trace_callback(statements.append)
    first = db.enqueue(lambda c: c.execute("INSERT INTO meta VALUES ('a', x'01')"))
    broken = db.enqueue(lambda c: c.execute("INSERT INTO meta VALUES ('a', x'02')"))  # dup key
    last = db.enqueue(lambda c: c.execute("INSERT INTO meta VALUES ('b', x'03')"))
    db.flush(last)
    assert statements.count("COMMIT") == 1
    db.flush(first)  # already written: no error of its own
    with pytest.raises(sqlite3.IntegrityError):
        db.flush(broken)
    rows = dict(db.conn.execute("SELECT key, value FROM meta WHERE key IN ('a', 'b')"))
    assert rows == {"a": b"\x01", "b": b"\x03"}
    db.close()
