"""Durable accounts, users, devices and lock state in SQLite (stdlib sqlite3, WAL).

Reads come from an in-memory copy (a ``MemoryStore``) loaded at open, so the
hot path never touches the database. Every write changes the memory copy first (atomically:
nothing awaits in between, so concurrent attempts see each other's
reservations at once), then goes through to SQLite before the awaiting call
returns.

Write order: writes are queued in the order they were made and a worker
thread drains the queue in that order under one lock, committing together
the writes that queued up while the previous commit ran (group commit).
Two racing updates of one username therefore reach the disk in the order
they were applied in memory, whatever order the threads run in.

Lock state of guessed names (no such user) is kept in bounded memory only
(``memory.GuessedLocks``), never as a row.

Device secrets are sealed with AES-256-GCM (``SecretSealer``) before they
reach SQLite. Sessions are not stored here: they live in memory
(``gateway.auth.sessions``).

Durability: ``synchronous=NORMAL`` in WAL mode. A committed write survives a
crash or restart of the gateway; a power cut may lose the last commits.
"""

from __future__ import annotations

import itertools
import os
import sqlite3
import threading
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import msgspec

from gateway.store.base import (
    Account,
    ApiKeyRecord,
    Device,
    LockState,
    ThreadRunner,
    User,
    run_inline,
)
from gateway.store.encryption import MasterKeyError, SecretSealer
from gateway.store.memory import GUESSED_LOCKS, MemoryStore, lock_owner

_T = TypeVar("_T")

DATABASE_FILE = "gateway.sqlite3"
_SCHEMA_VERSION = 1
_KEY_CHECK = b"login-gateway master key check"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS accounts (
    account_id TEXT PRIMARY KEY, name TEXT, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS users (
    username TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(account_id),
    password_hash TEXT NOT NULL, email TEXT, phone TEXT, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS devices (
    device_id TEXT PRIMARY KEY,
    username TEXT NOT NULL REFERENCES users(username) ON DELETE CASCADE,
    type TEXT NOT NULL, label TEXT, secret BLOB NOT NULL,
    counter INTEGER NOT NULL, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS lock_state (username TEXT PRIMARY KEY, state BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS withdrawals (
    username TEXT NOT NULL, at REAL NOT NULL, cents INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS withdrawals_at ON withdrawals (at);
CREATE TABLE IF NOT EXISTS api_keys (
    key_id TEXT PRIMARY KEY,
    username TEXT NOT NULL REFERENCES users(username) ON DELETE CASCADE,
    record BLOB NOT NULL);
"""

_Write = Callable[[sqlite3.Connection], object]
MAX_BATCH = 512  # writes per group commit
LOCK_EXTENSION_SLACK = 60.0  # seconds a lock's extension may go unwritten


def _nothing(conn: sqlite3.Connection) -> None:
    """A write that writes nothing (see ``SqliteStore.update_lock``)."""


_lock_encoder = msgspec.json.Encoder()
_lock_decoder = msgspec.json.Decoder(LockState)
_api_key_decoder = msgspec.json.Decoder(ApiKeyRecord)


def _device_context(device_id: str) -> bytes:
    return b"device:" + device_id.encode("ascii")


class _Database:
    """The blocking half: a connection used only from worker threads, one at
    a time, and the queue of writes waiting for it."""

    def __init__(self, path: Path) -> None:
        if not path.exists():
            # Hashes and sealed secrets: keep the file (and the WAL files
            # SQLite derives from it) private to the owner.
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        # Transactions are begun and committed here, explicitly (group commit).
        self.conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("PRAGMA foreign_keys=ON")
        self.conn.executescript(_SCHEMA)
        self.conn.execute(f"PRAGMA user_version={_SCHEMA_VERSION}")
        self._mutex = threading.Lock()
        self._queue: deque[tuple[int, _Write]] = deque()
        self._errors: dict[int, BaseException] = {}
        self._sequence = itertools.count()

    def enqueue(self, write: _Write) -> int:
        """Queue a write (event loop thread); returns its ticket."""
        ticket = next(self._sequence)
        self._queue.append((ticket, write))
        return ticket

    def flush(self, ticket: int) -> None:
        """Run every queued write in order (worker thread), then raise the
        error of ``ticket``'s write if it failed.

        Group commit: the writes queued by the time the thread gets here go
        in one transaction (up to ``MAX_BATCH``), each in a savepoint of its
        own, so one failing write is rolled back alone. Every caller whose
        write was in the batch returns after the one commit."""
        with self._mutex:
            while self._queue:
                batch: list[tuple[int, _Write]] = []
                while self._queue and len(batch) < MAX_BATCH:
                    batch.append(self._queue.popleft())
                self._commit(batch)
            error = self._errors.pop(ticket, None)
        if error is not None:
            raise error

    def _commit(self, batch: list[tuple[int, _Write]]) -> None:
        conn = self.conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            for number, write in batch:
                conn.execute("SAVEPOINT one_write")
                try:
                    write(conn)
                except Exception as exc:
                    conn.execute("ROLLBACK TO one_write")
                    self._errors[number] = exc
                conn.execute("RELEASE one_write")
            conn.execute("COMMIT")
        except Exception as exc:
            # BEGIN or COMMIT failed (disk full, say): nothing of the batch
            # was written, and every caller in it hears so.
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            for number, _ in batch:
                self._errors.setdefault(number, exc)

    def read_lock(self) -> threading.Lock:
        """Held while reading on the connection (the writer holds it too)."""
        return self._mutex

    def close(self) -> None:
        with self._mutex:
            self.conn.close()


class SqliteStore:
    """The embedded durable store. Create it with ``await SqliteStore.open(...)``.

    The records live in a ``MemoryStore`` (reads never touch the disk); each
    change is made there first and then written through.
    """

    def __init__(
        self,
        db: _Database,
        sealer: SecretSealer,
        run: ThreadRunner,
        guessed_locks: int = GUESSED_LOCKS,
    ) -> None:
        self._db = db
        self._sealer = sealer
        self._run = run
        self._memory = MemoryStore(guessed_locks)
        self._durable_until: dict[str, float] = {}  # locked_until as last written

    @classmethod
    async def open(
        cls,
        data_dir: Path,
        master_key: bytes,
        run: ThreadRunner = run_inline,
        guessed_locks: int = GUESSED_LOCKS,
    ) -> SqliteStore:
        """Open (or create) the database in ``data_dir`` and load it into
        memory. Raises ``MasterKeyError`` if the data was sealed under another
        key."""
        sealer = SecretSealer(master_key)

        def load() -> SqliteStore:
            data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            db = _Database(data_dir / DATABASE_FILE)
            try:
                store = cls(db, sealer, run, guessed_locks)
                store._check_master_key()
                store._load()
            except BaseException:
                db.close()
                raise
            return store

        return await run(load)

    def _check_master_key(self) -> None:
        conn = self._db.conn
        row = conn.execute("SELECT value FROM meta WHERE key = 'key_check'").fetchone()
        if row is None:
            with conn:
                sealed = self._sealer.seal(_KEY_CHECK, b"meta:key_check")
                conn.execute("INSERT INTO meta VALUES ('key_check', ?)", (sealed,))
        elif self._sealer.open(row[0], b"meta:key_check") != _KEY_CHECK:
            raise MasterKeyError("the data directory was sealed under another master key")

    def _load(self) -> None:
        conn = self._db.conn
        accounts = [Account(*row) for row in conn.execute("SELECT * FROM accounts")]
        users = [
            User(*row)
            for row in conn.execute(
                "SELECT username, account_id, password_hash, email, phone, created_at FROM users"
            )
        ]
        devices = [
            Device(
                device_id,
                username,
                kind,
                label,
                self._sealer.open(sealed, _device_context(device_id)),
                counter,
                created,
            )
            for device_id, username, kind, label, sealed, counter, created in conn.execute(
                "SELECT device_id, username, type, label, secret, counter, created_at FROM devices"
            )
        ]
        known = {user.username for user in users}
        locks, guessed = [], []
        for key, state in conn.execute("SELECT username, state FROM lock_state"):
            if lock_owner(key) in known:
                locks.append((key, _lock_decoder.decode(state)))
            else:
                guessed.append((key,))
        if guessed:
            # Rows of guessed names (written before they were kept in memory only).
            with conn:
                conn.executemany("DELETE FROM lock_state WHERE username = ?", guessed)
        self._durable_until.update(
            (key, state.locked_until) for key, state in locks if state.locked_until is not None
        )
        api_keys = [
            _api_key_decoder.decode(record)
            for (record,) in conn.execute("SELECT record FROM api_keys")
        ]
        self._memory.restore(accounts, users, devices, locks, api_keys)
        settings = conn.execute("SELECT key, value FROM meta WHERE key LIKE 'setting:%'")
        for key, value in settings:
            self._memory.restore_setting(key.removeprefix("setting:"), bytes(value).decode())

    async def _write(self, write: _Write) -> None:
        ticket = self._db.enqueue(write)
        await self._run(lambda: self._db.flush(ticket))

    # --- accounts and users ------------------------------------------------

    async def create_account(self, account_id: str, name: str | None, now: float) -> Account:
        account = await self._memory.create_account(account_id, name, now)
        await self._write(
            lambda c: c.execute("INSERT INTO accounts VALUES (?, ?, ?)", (account_id, name, now))
        )
        return account

    async def get_account(self, account_id: str) -> Account | None:
        return await self._memory.get_account(account_id)

    async def create_user(
        self,
        username: str,
        account_id: str,
        password_hash: str,
        email: str | None,
        phone: str | None,
        now: float,
    ) -> User:
        user = await self._memory.create_user(
            username, account_id, password_hash, email, phone, now
        )
        carried = await self._memory.get_lock(username)  # of the name, guessed before

        def write(c: sqlite3.Connection) -> None:
            c.execute(
                "INSERT INTO users VALUES (?, ?, ?, ?, ?, ?)",
                (username, account_id, password_hash, email, phone, now),
            )
            if not carried.is_empty:
                c.execute(
                    "INSERT OR REPLACE INTO lock_state VALUES (?, ?)",
                    (username, _lock_encoder.encode(carried)),
                )

        await self._write(write)
        return user

    async def get_user(self, username: str) -> User | None:
        return await self._memory.get_user(username)

    async def users_with_email(self, email: str) -> list[User]:
        return await self._memory.users_with_email(email)

    async def users_of_account(self, account_id: str) -> list[User]:
        return await self._memory.users_of_account(account_id)

    async def set_password_hash(self, username: str, password_hash: str) -> None:
        await self._memory.set_password_hash(username, password_hash)
        await self._write(
            lambda c: c.execute(
                "UPDATE users SET password_hash = ? WHERE username = ?", (password_hash, username)
            )
        )

    async def set_contacts(self, username: str, email: str | None, phone: str | None) -> User:
        user = await self._memory.set_contacts(username, email, phone)
        await self._write(
            lambda c: c.execute(
                "UPDATE users SET email = ?, phone = ? WHERE username = ?", (email, phone, username)
            )
        )
        return user

    # --- devices -------------------------------------------------------------

    async def add_device(
        self, username: str, device_type: str, secret: bytes, label: str | None, now: float
    ) -> Device:
        device = await self._memory.add_device(username, device_type, secret, label, now)
        device_id = device.device_id
        sealed = self._sealer.seal(secret, _device_context(device_id))
        await self._write(
            lambda c: c.execute(
                "INSERT INTO devices VALUES (?, ?, ?, ?, ?, ?, ?)",
                (device_id, username, device_type, label, sealed, device.counter, now),
            )
        )
        return device

    async def devices_of(self, username: str) -> list[Device]:
        return await self._memory.devices_of(username)

    async def remove_device(self, device_id: str) -> bool:
        if not await self._memory.remove_device(device_id):
            return False
        await self._write(
            lambda c: c.execute("DELETE FROM devices WHERE device_id = ?", (device_id,))
        )
        return True

    async def get_device(self, device_id: str) -> Device | None:
        return await self._memory.get_device(device_id)

    async def replace_device_secret(self, device_id: str, secret: bytes) -> bool:
        if not await self._memory.replace_device_secret(device_id, secret):
            return False
        sealed = self._sealer.seal(secret, _device_context(device_id))
        await self._write(
            lambda c: c.execute(
                "UPDATE devices SET secret = ? WHERE device_id = ?", (sealed, device_id)
            )
        )
        return True

    async def claim_counter(self, device_id: str, counter: int) -> bool:
        if not await self._memory.claim_counter(device_id, counter):
            return False
        await self._write(
            lambda c: c.execute(
                "UPDATE devices SET counter = ? WHERE device_id = ?", (counter, device_id)
            )
        )
        return True

    # --- API keys (only the token's hash is kept) ----------------------------

    async def add_api_key(self, record: ApiKeyRecord) -> None:
        await self._memory.add_api_key(record)
        encoded = _lock_encoder.encode(record)
        await self._write(
            lambda c: c.execute(
                "INSERT INTO api_keys VALUES (?, ?, ?)", (record.key_id, record.username, encoded)
            )
        )

    async def remove_api_key(self, key_id: str) -> bool:
        if not await self._memory.remove_api_key(key_id):
            return False
        await self._write(lambda c: c.execute("DELETE FROM api_keys WHERE key_id = ?", (key_id,)))
        return True

    async def api_keys(self) -> list[ApiKeyRecord]:
        return await self._memory.api_keys()

    # --- lock state ----------------------------------------------------------

    async def get_lock(self, username: str) -> LockState:
        return await self._memory.get_lock(username)

    async def update_lock(
        self, username: str, change: Callable[[LockState], tuple[LockState, _T]]
    ) -> _T:
        # The memory store's methods never yield, so nothing runs between
        # these three calls: the change is atomic, as the protocol requires.
        old = await self._memory.get_lock(username)
        result = await self._memory.update_lock(username, change)
        state = await self._memory.get_lock(username)
        if not self._memory.is_known(username):
            # A guessed name's state stays in bounded memory, never on disk.
            # It still waits its turn in the write queue, as a known user's
            # write does: the time an answer takes must not say who exists.
            await self._write(_nothing)
            return result
        if state == old or self._only_extends_lock(username, old, state):
            return result
        if state.locked_until is None:
            self._durable_until.pop(username, None)
        else:
            self._durable_until[username] = state.locked_until
        if state.is_empty:
            await self._write(
                lambda c: c.execute("DELETE FROM lock_state WHERE username = ?", (username,))
            )
        else:
            encoded = _lock_encoder.encode(state)
            await self._write(
                lambda c: c.execute(
                    "INSERT INTO lock_state VALUES (?, ?) "
                    "ON CONFLICT(username) DO UPDATE SET state = excluded.state",
                    (username, encoded),
                )
            )
        return result

    def _only_extends_lock(self, username: str, old: LockState, new: LockState) -> bool:
        """A refused attempt on a locked user moves ``locked_until`` on and
        nothing else; written every time, a flood on one locked name would
        be a flood of disk writes. It is written once the extension passes
        ``LOCK_EXTENSION_SLACK``: a crash loses at most that much of it."""
        if old.locked_until is None or new.locked_until is None:
            return False
        if old.failures != new.failures or old.pending != new.pending:
            return False
        durable = self._durable_until.get(username, old.locked_until)
        return new.locked_until - durable < LOCK_EXTENSION_SLACK

    async def lock_keys(self, username: str) -> list[str]:
        return await self._memory.lock_keys(username)

    async def prune_locks(self, normalize: Callable[[LockState], LockState]) -> int:
        dropped, changed = self._memory.normalize_locks(normalize)
        encoded = [(_lock_encoder.encode(state), u) for u, state in changed]

        def write(c: sqlite3.Connection) -> None:
            c.executemany("DELETE FROM lock_state WHERE username = ?", [(u,) for u in dropped])
            c.executemany("UPDATE lock_state SET state = ? WHERE username = ?", encoded)

        if dropped or changed:
            await self._write(write)
        return len(dropped) + self._memory.guessed.normalize(normalize)

    # --- withdrawals ---------------------------------------------------------------

    async def record_withdrawal(self, username: str, at: float, cents: int) -> None:
        await self._write(
            lambda c: c.execute("INSERT INTO withdrawals VALUES (?, ?, ?)", (username, at, cents))
        )

    async def withdrawals_since(self, since: float) -> list[tuple[str, float, int]]:
        def read() -> list[tuple[str, float, int]]:
            with self._db.read_lock():
                rows = self._db.conn.execute(
                    "SELECT username, at, cents FROM withdrawals WHERE at >= ? ORDER BY at",
                    (since,),
                )
                return [(str(u), float(a), int(c)) for u, a, c in rows]

        return await self._run(read)

    # --- settings ----------------------------------------------------------------

    async def get_setting(self, name: str) -> str | None:
        return await self._memory.get_setting(name)

    async def put_setting(self, name: str, value: str) -> None:
        await self._memory.put_setting(name, value)
        key = "setting:" + name
        await self._write(
            lambda c: c.execute(
                "INSERT INTO meta VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value.encode()),
            )
        )

    async def close(self) -> None:
        """Write what is still queued (a write whose caller was cancelled)
        and close the database."""

        def finish() -> None:
            self._db.flush(-1)
            self._db.close()

        await self._run(finish)

    def __repr__(self) -> str:
        return f"SqliteStore(users={len(self._memory)})"
