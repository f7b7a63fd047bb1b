"""The lockout rule of SPEC section 3, and nothing else.

``LockoutPolicy`` is pure: functions from (lock state, time) to a new lock
state and a decision. It knows attempts, windows and locks; it knows nothing
of passwords, factors or HTTP. ``LockoutGuard`` applies it through a store's
atomic ``update_lock``, so a shared store (Redis) can run the same functions
in a WATCH/MULTI loop or a script.

Race freedom: an attempt is *reserved* before the password is hashed and
*settled* after. A reservation counts toward the limit while it is in flight:
with 7 failures on record only 3 attempts may be in flight, so hundreds of
concurrent wrong guesses get exactly 10 evaluations before the lock.
A reservation never settled (the process died mid-hash) counts as a failure
once it is ``attempt_ttl`` old, so a crash cannot buy extra guesses.

Window edges, chosen and tested:
- a failure at ``t`` counts while ``now - t < window``; at exactly 24 h it has
  dropped out;
- a lock holds while ``now < locked_until``; at exactly ``locked_until`` the
  user may try again.
"""

from __future__ import annotations

import enum
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol, TypeVar

from gateway.clock import Clock
from gateway.config import LockoutConfig
from gateway.errors import Locked, RateLimited
from gateway.store.base import LockState, PendingAttempt

_T = TypeVar("_T")

__all__ = ["LockState", "LockoutGuard", "LockoutPolicy", "Outcome", "PendingAttempt"]


class Outcome(enum.Enum):
    """How a reserved attempt ended."""

    FAILED = "failed"  # wrong password or wrong second factor: counts
    RELEASED = "released"  # a step passed (login not complete yet) or nothing was evaluated
    SUCCEEDED = "succeeded"  # the login completed: the count starts again


class Refusal(enum.Enum):
    LOCKED = "locked"
    BUSY = "busy"  # the remaining attempts are all in flight


@dataclass(frozen=True, slots=True)
class Admitted:
    attempt_id: str


@dataclass(frozen=True, slots=True)
class Refused:
    reason: Refusal
    retry_after: float


@dataclass(frozen=True, slots=True)
class LockStatus:
    """What support sees about a user."""

    locked: bool
    retry_after: float
    failures: int
    in_flight: int


class LockoutPolicy:
    """``max_failures`` consecutive failures within ``window`` seconds lock the
    user until ``lock_duration`` after the last unsuccessful attempt."""

    def __init__(
        self,
        max_failures: int = 10,
        window: float = 86_400.0,
        lock_duration: float = 86_400.0,
        attempt_ttl: float = 60.0,
        busy_retry_after: float = 1.0,
    ) -> None:
        if max_failures < 1:
            raise ValueError("max_failures must be at least 1")
        self.max_failures = max_failures
        self.window = window
        self.lock_duration = lock_duration
        self.attempt_ttl = attempt_ttl
        self.busy_retry_after = busy_retry_after

    @classmethod
    def from_config(cls, config: LockoutConfig) -> LockoutPolicy:
        return cls(
            max_failures=config.max_failures,
            window=config.window_seconds,
            lock_duration=config.lock_seconds,
            attempt_ttl=config.attempt_ttl_seconds,
        )

    def normalize(self, state: LockState, now: float) -> LockState:
        """Turn orphaned reservations into failures, drop failures older than
        the window and end a lock whose time is up."""
        orphans = [p for p in state.pending if now - p.reserved_at >= self.attempt_ttl]
        if orphans:
            state = replace(state, pending=tuple(p for p in state.pending if p not in orphans))
            for orphan in orphans:
                state = self._record_failure(state, orphan.reserved_at)
        failures = tuple(t for t in state.failures if now - t < self.window)
        locked_until = state.locked_until
        if locked_until is not None and now >= locked_until:
            locked_until = None
        if failures != state.failures or locked_until != state.locked_until:
            state = replace(state, failures=failures, locked_until=locked_until)
        return state

    def is_locked(self, state: LockState, now: float) -> bool:
        return self.normalize(state, now).locked_until is not None

    def reserve(
        self, state: LockState, now: float, attempt_id: str
    ) -> tuple[LockState, Admitted | Refused]:
        """Admit one attempt, or refuse it. A refusal while locked extends the
        lock to ``lock_duration`` after this attempt."""
        state = self.normalize(state, now)
        if state.locked_until is not None:
            until = max(state.locked_until, now + self.lock_duration)
            return replace(state, locked_until=until), Refused(Refusal.LOCKED, until - now)
        if len(state.failures) + len(state.pending) >= self.max_failures:
            return state, Refused(Refusal.BUSY, self.busy_retry_after)
        pending = (*state.pending, PendingAttempt(attempt_id, now))
        return replace(state, pending=pending), Admitted(attempt_id)

    def settle(
        self, state: LockState, now: float, attempt_id: str, outcome: Outcome
    ) -> tuple[LockState, Refused | None]:
        """Record how an admitted attempt ended. Returns a refusal only when a
        success arrives while the user is locked (it must not log in)."""
        state = self.normalize(state, now)
        remaining = tuple(p for p in state.pending if p.attempt_id != attempt_id)
        was_pending = len(remaining) != len(state.pending)
        state = replace(state, pending=remaining)
        if outcome is Outcome.FAILED:
            # An attempt no longer pending was already counted as an orphan.
            return (self._record_failure(state, now) if was_pending else state), None
        if state.locked_until is not None:
            return state, Refused(Refusal.LOCKED, state.locked_until - now)
        if outcome is Outcome.SUCCEEDED:
            state = replace(state, failures=())
        return state, None

    def unlock(self, state: LockState) -> LockState:
        """Support unlock: forget failures and the lock. Attempts in flight
        stay reserved and are settled as usual."""
        return LockState(pending=state.pending)

    def status(self, state: LockState, now: float) -> LockStatus:
        state = self.normalize(state, now)
        until = state.locked_until
        return LockStatus(
            locked=until is not None,
            retry_after=0.0 if until is None else until - now,
            failures=len(state.failures),
            in_flight=len(state.pending),
        )

    def _record_failure(self, state: LockState, at: float) -> LockState:
        failures = tuple(sorted((*state.failures, at)))
        if len(failures) < self.max_failures:
            return replace(state, failures=failures)
        until = at + self.lock_duration
        if state.locked_until is not None:
            until = max(until, state.locked_until)
        # The lock replaces the count: when it ends, every failure behind it is
        # older than the window anyway.
        return replace(state, failures=(), locked_until=until)


class LockStore(Protocol):
    """The part of the store the guard needs. ``update_lock`` applies
    ``change`` atomically: no other update of that username runs between
    reading the state and writing the result."""

    async def get_lock(self, username: str) -> LockState: ...

    async def update_lock(
        self, username: str, change: Callable[[LockState], tuple[LockState, _T]]
    ) -> _T: ...

    async def prune_locks(self, normalize: Callable[[LockState], LockState]) -> int: ...

    async def lock_keys(self, username: str) -> list[str]:
        """The username's lock keys with state: its own and its trusted
        devices' (``username/device``)."""
        ...


@dataclass(frozen=True, slots=True)
class Attempt:
    """A reserved attempt, to be settled exactly once."""

    username: str
    attempt_id: str


class LockoutGuard:
    """Applies a ``LockoutPolicy`` to stored lock state."""

    def __init__(self, policy: LockoutPolicy, store: LockStore, clock: Clock) -> None:
        self.policy = policy
        self._store = store
        self._clock = clock

    async def reserve(self, username: str) -> Attempt:
        """Reserve an attempt before any password or factor is checked.
        Raises ``Locked`` or, when all remaining attempts are in flight,
        ``RateLimited``."""
        now = self._clock.now()
        attempt_id = secrets.token_hex(8)
        decision = await self._store.update_lock(
            username, lambda state: self.policy.reserve(state, now, attempt_id)
        )
        if isinstance(decision, Refused):
            raise _refusal_error(decision)
        return Attempt(username, attempt_id)

    async def settle(self, attempt: Attempt, outcome: Outcome) -> None:
        """Settle an attempt. Raises ``Locked`` if a success lands while the
        user is locked."""
        now = self._clock.now()
        refusal = await self._store.update_lock(
            attempt.username,
            lambda state: self.policy.settle(state, now, attempt.attempt_id, outcome),
        )
        if refusal is not None:
            raise _refusal_error(refusal)

    async def release(self, attempt: Attempt) -> None:
        """Give back an attempt that was never evaluated (an error or a
        cancellation interrupted it). Never raises a refusal, so it cannot
        hide the exception being handled."""
        now = self._clock.now()
        await self._store.update_lock(
            attempt.username,
            lambda state: self.policy.settle(state, now, attempt.attempt_id, Outcome.RELEASED),
        )

    async def unlock(self, username: str) -> None:
        """Support unlock: the username and each of its trusted devices."""
        for key in {username, *await self._store.lock_keys(username)}:
            await self._store.update_lock(key, lambda state: (self.policy.unlock(state), None))

    async def status(self, username: str) -> LockStatus:
        return self.policy.status(await self._store.get_lock(username), self._clock.now())

    async def prune(self) -> int:
        """Forget lock state that has aged to nothing (failures of guessed
        names older than the window, ended locks). The edge calls it now and
        then (hourly, say); returns how many usernames were forgotten."""
        now = self._clock.now()
        return await self._store.prune_locks(lambda state: self.policy.normalize(state, now))


def _refusal_error(refused: Refused) -> Locked | RateLimited:
    if refused.reason is Refusal.LOCKED:
        return Locked(refused.retry_after)
    return RateLimited(refused.retry_after, "Too many login attempts in progress")
