"""Everything in memory: for tests, demos and load tests that need no disk.

Atomicity comes from the event loop: no method awaits between reading and
writing, so on one loop nothing interleaves inside a method.

Lock state is kept for any well-formed username (a lock must not tell who
exists), but that of names nobody has lives in ``GuessedLocks``: a bounded
LRU, so a million guessed names cost a bounded amount of memory and, in the
durable store, no row at all. Lock keys are a username, or
``username/device`` for attempts made with a trusted-device cookie.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import TypeVar

from gateway.store.base import Account, AlreadyExists, ApiKeyRecord, Device, LockState, User

_T = TypeVar("_T")

GUESSED_LOCKS = 100_000
_EVICTION_SCAN = 32


def lock_owner(key: str) -> str:
    """The username a lock key belongs to (``alice`` for ``alice/d1``)."""
    return key.partition("/")[0]


class GuessedLocks:
    """Lock state of names that are no user's, least recently used first,
    at most ``capacity`` of them.

    When full, the oldest entry that is not locked goes first (a scan of the
    oldest few); only when those are all locked does the oldest lock go.
    Evicting a lock early would let an attacker tell a guessed name from a
    real one (whose lock stays), so it takes ``capacity`` locked names at
    once, each ``max_failures`` failed attempts, to get there."""

    def __init__(self, capacity: int = GUESSED_LOCKS) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._entries: OrderedDict[str, LockState] = OrderedDict()
        self.evicted = 0

    def get(self, key: str) -> LockState | None:
        return self._entries.get(key)

    def put(self, key: str, state: LockState) -> None:
        entries = self._entries
        if state.is_empty:
            entries.pop(key, None)
            return
        entries[key] = state
        entries.move_to_end(key)
        while len(entries) > self.capacity:
            self._evict_one()

    def pop(self, key: str) -> LockState | None:
        return self._entries.pop(key, None)

    def _evict_one(self) -> None:
        entries = self._entries
        for index, (key, state) in enumerate(entries.items()):
            if index >= _EVICTION_SCAN:
                break
            if state.locked_until is None:
                del entries[key]
                self.evicted += 1
                return
        entries.popitem(last=False)
        self.evicted += 1

    def normalize(self, normalize: Callable[[LockState], LockState]) -> int:
        """Apply ``normalize`` to every entry; returns how many it emptied."""
        dropped = 0
        for key, old in list(self._entries.items()):
            state = normalize(old)
            if state.is_empty:
                del self._entries[key]
                dropped += 1
            elif state != old:
                self._entries[key] = state
        return dropped

    def __len__(self) -> int:
        return len(self._entries)


class MemoryStore:
    def __init__(self, guessed_locks: int = GUESSED_LOCKS) -> None:
        self.guessed = GuessedLocks(guessed_locks)
        self._settings: dict[str, str] = {}
        self._withdrawals: list[tuple[str, float, int]] = []
        self._accounts: dict[str, Account] = {}
        self._users: dict[str, User] = {}
        self._devices: dict[str, Device] = {}
        self._devices_by_user: dict[str, dict[str, Device]] = {}
        self._locks: dict[str, LockState] = {}
        self._api_keys: dict[str, ApiKeyRecord] = {}

    async def create_account(self, account_id: str, name: str | None, now: float) -> Account:
        if account_id in self._accounts:
            raise AlreadyExists("account already exists")
        account = self._accounts[account_id] = Account(account_id, name, now)
        return account

    async def get_account(self, account_id: str) -> Account | None:
        return self._accounts.get(account_id)

    async def create_user(
        self,
        username: str,
        account_id: str,
        password_hash: str,
        email: str | None,
        phone: str | None,
        now: float,
    ) -> User:
        if username in self._users:
            raise AlreadyExists("user already exists")
        if account_id not in self._accounts:
            raise LookupError(f"no account {account_id!r}")
        user = User(username, account_id, password_hash, email, phone, now)
        self._users[username] = user
        # A name guessed (and maybe locked) before it was anyone's keeps its
        # lock state, now with the users'.
        guessed = self.guessed.pop(username)
        if guessed is not None:
            self._locks[username] = guessed
        return user

    async def get_user(self, username: str) -> User | None:
        return self._users.get(username)

    async def users_with_email(self, email: str) -> list[User]:
        return [u for u in self._users.values() if u.email == email]

    async def users_of_account(self, account_id: str) -> list[User]:
        return [u for u in self._users.values() if u.account_id == account_id]

    async def set_password_hash(self, username: str, password_hash: str) -> None:
        self._users[username] = replace(self._users[username], password_hash=password_hash)

    async def set_contacts(self, username: str, email: str | None, phone: str | None) -> User:
        if username not in self._users:
            raise LookupError(f"no user {username!r}")
        user = self._users[username] = replace(self._users[username], email=email, phone=phone)
        return user

    async def add_device(
        self, username: str, device_type: str, secret: bytes, label: str | None, now: float
    ) -> Device:
        if username not in self._users:
            raise LookupError(f"no user {username!r}")
        device = Device(secrets.token_hex(8), username, device_type, label, secret, -1, now)
        self._put_device(device)
        return device

    async def devices_of(self, username: str) -> list[Device]:
        return list(self._devices_by_user.get(username, {}).values())

    async def get_device(self, device_id: str) -> Device | None:
        return self._devices.get(device_id)

    async def replace_device_secret(self, device_id: str, secret: bytes) -> bool:
        device = self._devices.get(device_id)
        if device is None:
            return False
        self._put_device(replace(device, secret=secret))
        return True

    async def remove_device(self, device_id: str) -> bool:
        device = self._devices.pop(device_id, None)
        if device is None:
            return False
        del self._devices_by_user[device.username][device_id]
        return True

    async def claim_counter(self, device_id: str, counter: int) -> bool:
        device = self._devices.get(device_id)
        if device is None or counter <= device.counter:
            return False
        self._put_device(replace(device, counter=counter))
        return True

    def _put_device(self, device: Device) -> None:
        self._devices[device.device_id] = device
        self._devices_by_user.setdefault(device.username, {})[device.device_id] = device

    async def add_api_key(self, record: ApiKeyRecord) -> None:
        if record.username not in self._users:
            raise LookupError(f"no user {record.username!r}")
        self._api_keys[record.key_id] = record

    async def remove_api_key(self, key_id: str) -> bool:
        return self._api_keys.pop(key_id, None) is not None

    async def api_keys(self) -> list[ApiKeyRecord]:
        return list(self._api_keys.values())

    def is_known(self, key: str) -> bool:
        """Whether a lock key belongs to a user that exists."""
        return lock_owner(key) in self._users

    async def get_lock(self, username: str) -> LockState:
        if self.is_known(username):
            return self._locks.get(username, LockState())
        return self.guessed.get(username) or LockState()

    async def update_lock(
        self, username: str, change: Callable[[LockState], tuple[LockState, _T]]
    ) -> _T:
        if not self.is_known(username):
            state, result = change(self.guessed.get(username) or LockState())
            self.guessed.put(username, state)
            return result
        state, result = change(self._locks.get(username, LockState()))
        if state.is_empty:
            self._locks.pop(username, None)
        else:
            self._locks[username] = state
        return result

    async def lock_keys(self, username: str) -> list[str]:
        prefix = username + "/"
        keys = [k for k in self._locks if k == username or k.startswith(prefix)]
        if self.guessed.get(username) is not None:
            keys.append(username)
        return keys

    async def prune_locks(self, normalize: Callable[[LockState], LockState]) -> int:
        dropped, _ = self.normalize_locks(normalize)
        return len(dropped) + self.guessed.normalize(normalize)

    def normalize_locks(
        self, normalize: Callable[[LockState], LockState]
    ) -> tuple[list[str], list[tuple[str, LockState]]]:
        """Apply ``normalize`` to every lock state; returns the usernames whose
        state became empty (dropped) and those whose state changed."""
        dropped: list[str] = []
        changed: list[tuple[str, LockState]] = []
        for username, old in list(self._locks.items()):
            state = normalize(old)
            if state.is_empty:
                del self._locks[username]
                dropped.append(username)
            elif state != old:
                self._locks[username] = state
                changed.append((username, state))
        return dropped, changed

    def restore(
        self,
        accounts: Iterable[Account],
        users: Iterable[User],
        devices: Iterable[Device],
        locks: Iterable[tuple[str, LockState]],
        api_keys: Iterable[ApiKeyRecord] = (),
    ) -> None:
        """Load records read back from durable storage."""
        self._api_keys.update((k.key_id, k) for k in api_keys)
        self._accounts.update((a.account_id, a) for a in accounts)
        self._users.update((u.username, u) for u in users)
        for device in devices:
            self._put_device(device)
        self._locks.update(locks)

    def __len__(self) -> int:
        return len(self._users)

    async def record_withdrawal(self, username: str, at: float, cents: int) -> None:
        self._withdrawals.append((username, at, cents))

    async def withdrawals_since(self, since: float) -> list[tuple[str, float, int]]:
        return [w for w in self._withdrawals if w[1] >= since]

    async def get_setting(self, name: str) -> str | None:
        return self._settings.get(name)

    async def put_setting(self, name: str, value: str) -> None:
        self._settings[name] = value

    def restore_setting(self, name: str, value: str) -> None:
        self._settings[name] = value

    async def close(self) -> None:
        return None
