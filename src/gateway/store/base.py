"""The Store protocol and the records it holds.

A store keeps accounts, users, devices and lock state. Every method is async
so that a store may do I/O (SQLite in a worker thread, Redis over the
network); reads that the hot path makes come from memory in the embedded
stores. Atomic read-modify-write goes through functions of the current value
(``update_lock``) or compare-and-set (``claim_counter``), which a Redis store
can run as WATCH/MULTI or a script.

Records are immutable; secrets (a device's seed, a password hash) are kept
out of their reprs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from gateway.errors import BadRequest

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class PendingAttempt:
    attempt_id: str
    reserved_at: float


@dataclass(frozen=True, slots=True)
class LockState:
    """Per-username lock state, the record the lockout rule
    (``gateway.auth.lockout``) reads and writes. Kept for any well-formed
    username, known or not, so that a lock cannot tell an attacker which
    users exist."""

    failures: tuple[float, ...] = ()  # times of counted failures, oldest first
    pending: tuple[PendingAttempt, ...] = ()  # reserved, not yet settled
    locked_until: float | None = None

    @property
    def is_empty(self) -> bool:
        return not self.failures and not self.pending and self.locked_until is None


class AlreadyExists(BadRequest):
    """A user or account with that name already exists (admin API only)."""

    status = 409


@dataclass(frozen=True, slots=True)
class Account:
    account_id: str
    name: str | None
    created_at: float


@dataclass(frozen=True, slots=True)
class User:
    username: str
    account_id: str
    password_hash: str = field(repr=False)
    email: str | None
    phone: str | None
    created_at: float


@dataclass(frozen=True, slots=True)
class Device:
    """An enrolled second factor. ``counter`` is the last used TOTP step (or
    HOTP/OCRA counter): a step at or below it is never accepted again."""

    device_id: str
    username: str
    type: str
    label: str | None
    secret: bytes = field(repr=False)
    counter: int
    created_at: float


@dataclass(frozen=True, slots=True)
class ApiKeyScope:
    """A route scope an API key may use, and with which methods (empty: all)."""

    route: str
    methods: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    """An API key as stored: only the SHA-256 of its token."""

    key_id: str
    username: str
    account_id: str
    name: str
    token_hash: str = field(repr=False)
    scopes: tuple[ApiKeyScope, ...]
    rate: float
    burst: float
    created_at: float
    created_by: str  # "user" or "support"


class ThreadRunner(Protocol):
    """Runs a blocking function off the event loop and awaits its result.

    The edge passes ``lambda fn: trio.to_thread.run_sync(fn, limiter=limiter)``;
    tests pass ``run_inline``.
    """

    def __call__(self, fn: Callable[[], _T], /) -> Awaitable[_T]: ...


async def run_inline(fn: Callable[[], _T]) -> _T:
    """A ``ThreadRunner`` that calls ``fn`` on the spot (tests, tools)."""
    return fn()


class Store(Protocol):
    async def create_account(self, account_id: str, name: str | None, now: float) -> Account: ...

    async def get_account(self, account_id: str) -> Account | None: ...

    async def create_user(
        self,
        username: str,
        account_id: str,
        password_hash: str,
        email: str | None,
        phone: str | None,
        now: float,
    ) -> User:
        """Raises ``AlreadyExists`` for a taken username and ``LookupError``
        for an unknown account."""
        ...

    async def get_user(self, username: str) -> User | None: ...

    async def users_of_account(self, account_id: str) -> list[User]: ...

    async def users_with_email(self, email: str) -> list[User]: ...

    async def set_password_hash(self, username: str, password_hash: str) -> None: ...

    async def set_contacts(self, username: str, email: str | None, phone: str | None) -> User:
        """Replace the e-mail and phone on record (both, as given; already
        checked); raises ``LookupError`` for an unknown user."""
        ...

    async def add_device(
        self, username: str, device_type: str, secret: bytes, label: str | None, now: float
    ) -> Device: ...

    async def devices_of(self, username: str) -> list[Device]: ...

    async def get_device(self, device_id: str) -> Device | None: ...

    async def remove_device(self, device_id: str) -> bool: ...

    async def replace_device_secret(self, device_id: str, secret: bytes) -> bool:
        """Store a device's new secret material (a changed PIN); False for
        an unknown device."""
        ...

    async def claim_counter(self, device_id: str, counter: int) -> bool:
        """Atomically raise the device's counter to ``counter`` if it is
        higher; False when it is not (a replay, or a concurrent use)."""
        ...

    async def add_api_key(self, record: ApiKeyRecord) -> None:
        """Raises ``LookupError`` for an unknown user."""
        ...

    async def remove_api_key(self, key_id: str) -> bool: ...

    async def api_keys(self) -> list[ApiKeyRecord]: ...

    async def get_lock(self, username: str) -> LockState: ...

    async def update_lock(
        self, username: str, change: Callable[[LockState], tuple[LockState, _T]]
    ) -> _T:
        """Apply ``change`` to the username's lock state atomically, store the
        new state (durably, before returning) and return the second value."""
        ...

    async def lock_keys(self, username: str) -> list[str]:
        """The lock keys holding state for ``username``: its own and those
        of its trusted devices (``username/device``)."""
        ...

    async def prune_locks(self, normalize: Callable[[LockState], LockState]) -> int:
        """Apply ``normalize`` to every stored lock state and drop the ones it
        empties (old failures of guessed names); returns how many were dropped."""
        ...

    async def record_withdrawal(self, username: str, at: float, cents: int) -> None:
        """Keep a withdrawal (durably, before returning)."""
        ...

    async def withdrawals_since(self, since: float) -> list[tuple[str, float, int]]:
        """Every withdrawal at or after ``since``: (username, time, cents)."""
        ...

    async def get_setting(self, name: str) -> str | None:
        """A small value the gateway keeps for itself (the test clock)."""
        ...

    async def put_setting(self, name: str, value: str) -> None:
        """Store ``value`` under ``name`` (durably, before returning)."""
        ...

    async def close(self) -> None: ...
