"""The 10-in-24h rule, its extension while locked, and race-free reservation.

Window edges (chosen, documented in lockout.py): a failure exactly 24 h old
has dropped out; a lock ends exactly at ``locked_until``.
"""

from __future__ import annotations

import pytest

from gateway.auth.lockout import (
    Admitted,
    LockoutGuard,
    LockoutPolicy,
    LockState,
    Outcome,
    PendingAttempt,
    Refusal,
    Refused,
)
from gateway.clock import TestClock
from gateway.errors import Locked, RateLimited
from gateway.store.memory import MemoryStore

DAY = 86_400.0
T0 = 1_700_000_000.0
policy = LockoutPolicy()


def attempt(state: LockState, now: float, outcome: Outcome, n: int = 1) -> LockState:
    """Reserve and settle ``n`` attempts one after the other."""
    for i in range(n):
        state, decision = policy.reserve(state, now, f"a{now}-{i}")
        assert isinstance(decision, Admitted), decision
        state, refusal = policy.settle(state, now, decision.attempt_id, outcome)
        assert refusal is None
    return state


def refusal_of(state: LockState, now: float) -> Refused | None:
    _, decision = policy.reserve(state, now, "probe")
    return decision if isinstance(decision, Refused) else None


def test_nine_failures_do_not_lock() -> None:
    state = attempt(LockState(), T0, Outcome.FAILED, 9)
    assert not policy.is_locked(state, T0)
    assert policy.status(state, T0).failures == 9


def test_tenth_failure_locks_for_24_hours() -> None:
    state = attempt(LockState(), T0, Outcome.FAILED, 10)
    assert policy.is_locked(state, T0)
    assert state.locked_until == T0 + DAY
    assert policy.status(state, T0 + 1).retry_after == DAY - 1


def test_failures_spread_over_a_day_lock() -> None:
    state = LockState()
    for i in range(10):
        state = attempt(state, T0 + i * 9_000, Outcome.FAILED)  # last one 22.5 h after the first
    assert policy.is_locked(state, T0 + 81_000)


def test_failure_just_under_24_hours_old_still_counts() -> None:
    state = attempt(LockState(), T0, Outcome.FAILED)
    state = attempt(state, T0 + DAY - 1, Outcome.FAILED, 9)
    assert policy.is_locked(state, T0 + DAY - 1)


def test_failure_exactly_24_hours_old_has_dropped_out() -> None:
    state = attempt(LockState(), T0, Outcome.FAILED)
    state = attempt(state, T0 + DAY, Outcome.FAILED, 9)
    assert not policy.is_locked(state, T0 + DAY)
    assert policy.status(state, T0 + DAY).failures == 9


def test_locked_attempt_is_refused_and_extends_the_lock() -> None:
    state = attempt(LockState(), T0, Outcome.FAILED, 10)
    later = T0 + 10 * 3600
    state, decision = policy.reserve(state, later, "x")
    assert decision == Refused(Refusal.LOCKED, DAY)
    assert state.locked_until == later + DAY
    # Not free at the original end any more.
    assert policy.is_locked(state, T0 + DAY)
    assert policy.is_locked(state, later + DAY - 1)


def test_lock_ends_exactly_at_locked_until() -> None:
    state = attempt(LockState(), T0, Outcome.FAILED, 10)
    assert policy.is_locked(state, T0 + DAY - 0.001)
    assert not policy.is_locked(state, T0 + DAY)
    _, decision = policy.reserve(state, T0 + DAY, "after")
    assert isinstance(decision, Admitted)


def test_count_starts_again_after_a_lock_ends() -> None:
    state = attempt(LockState(), T0, Outcome.FAILED, 10)
    state = attempt(state, T0 + DAY, Outcome.FAILED, 9)
    assert not policy.is_locked(state, T0 + DAY)


def test_success_resets_the_count() -> None:
    state = attempt(LockState(), T0, Outcome.FAILED, 9)
    state = attempt(state, T0, Outcome.SUCCEEDED)
    assert state == LockState()
    state = attempt(state, T0, Outcome.FAILED, 9)
    assert not policy.is_locked(state, T0)


def test_a_passed_step_releases_without_resetting() -> None:
    # A right password with a second factor still to come is no success yet.
    state = attempt(LockState(), T0, Outcome.FAILED, 9)
    state = attempt(state, T0, Outcome.RELEASED)
    assert policy.status(state, T0).failures == 9
    state = attempt(state, T0, Outcome.FAILED)
    assert policy.is_locked(state, T0)


def test_support_unlock_clears_the_lock_and_the_count() -> None:
    state = attempt(LockState(), T0, Outcome.FAILED, 10)
    state = policy.unlock(state)
    assert not policy.is_locked(state, T0)
    state = attempt(state, T0, Outcome.FAILED, 9)
    assert not policy.is_locked(state, T0)


def test_in_flight_attempts_count_toward_the_limit() -> None:
    state = LockState()
    decisions = []
    for i in range(300):
        state, decision = policy.reserve(state, T0, f"a{i}")
        decisions.append(decision)
    admitted = [d for d in decisions if isinstance(d, Admitted)]
    assert len(admitted) == 10
    assert all(d == Refused(Refusal.BUSY, 1.0) for d in decisions[10:])
    for d in admitted:
        state, _ = policy.settle(state, T0, d.attempt_id, Outcome.FAILED)
    assert policy.is_locked(state, T0)


def test_only_the_remaining_attempts_may_be_in_flight() -> None:
    state = attempt(LockState(), T0, Outcome.FAILED, 7)
    admitted = 0
    for i in range(50):
        state, decision = policy.reserve(state, T0, f"a{i}")
        admitted += isinstance(decision, Admitted)
    assert admitted == 3


def test_settling_frees_the_slot() -> None:
    state = LockState()
    ids = []
    for i in range(10):
        state, decision = policy.reserve(state, T0, f"a{i}")
        assert isinstance(decision, Admitted)
        ids.append(decision.attempt_id)
    assert refusal_of(state, T0) == Refused(Refusal.BUSY, 1.0)
    state, _ = policy.settle(state, T0, ids[0], Outcome.RELEASED)
    assert refusal_of(state, T0) is None


def test_an_attempt_never_settled_counts_as_a_failure() -> None:
    state = attempt(LockState(), T0, Outcome.FAILED, 9)
    state, _ = policy.reserve(state, T0, "orphan")
    assert not policy.is_locked(state, T0 + 59)
    assert policy.is_locked(state, T0 + 60)
    # A late settlement does not count it twice, nor unlock.
    late, refusal = policy.settle(state, T0 + 61, "orphan", Outcome.FAILED)
    assert refusal is None
    assert late.locked_until == T0 + DAY


def test_late_failure_of_an_orphan_is_not_counted_twice() -> None:
    state, _ = policy.reserve(LockState(), T0, "orphan")
    state = policy.normalize(state, T0 + 60)
    state, _ = policy.settle(state, T0 + 61, "orphan", Outcome.FAILED)
    assert policy.status(state, T0 + 61).failures == 1


def test_a_success_while_locked_is_refused() -> None:
    state = LockState(pending=(PendingAttempt("right", T0),), locked_until=T0 + DAY)
    state, refusal = policy.settle(state, T0 + 1, "right", Outcome.SUCCEEDED)
    assert refusal is not None and refusal.reason is Refusal.LOCKED
    assert state.locked_until == T0 + DAY


def test_lock_state_of_a_reset_user_is_empty() -> None:
    state = attempt(LockState(), T0, Outcome.FAILED, 3)
    state = attempt(state, T0, Outcome.SUCCEEDED)
    assert state.is_empty


# --- the guard over a store --------------------------------------------------


async def test_guard_raises_locked_with_retry_after() -> None:
    clock = TestClock(T0)
    guard = LockoutGuard(LockoutPolicy(max_failures=2), MemoryStore(), clock)
    for _ in range(2):
        await guard.settle(await guard.reserve("bob"), Outcome.FAILED)
    clock.advance(3600)
    with pytest.raises(Locked) as caught:
        await guard.reserve("bob")
    assert caught.value.retry_after == DAY
    status = await guard.status("bob")
    assert status.locked and status.retry_after == DAY


async def test_guard_refuses_when_every_attempt_is_in_flight() -> None:
    guard = LockoutGuard(LockoutPolicy(max_failures=2), MemoryStore(), TestClock(T0))
    await guard.reserve("bob")
    await guard.reserve("bob")
    with pytest.raises(RateLimited):
        await guard.reserve("bob")


async def test_guard_unlock() -> None:
    guard = LockoutGuard(LockoutPolicy(max_failures=1), MemoryStore(), TestClock(T0))
    await guard.settle(await guard.reserve("bob"), Outcome.FAILED)
    assert (await guard.status("bob")).locked
    await guard.unlock("bob")
    assert not (await guard.status("bob")).locked
    await guard.reserve("bob")


async def test_lock_state_is_per_username() -> None:
    guard = LockoutGuard(LockoutPolicy(max_failures=1), MemoryStore(), TestClock(T0))
    await guard.settle(await guard.reserve("bob"), Outcome.FAILED)
    await guard.reserve("carol")


async def test_prune_forgets_failures_older_than_the_window() -> None:
    clock = TestClock(T0)
    store = MemoryStore()
    guard = LockoutGuard(LockoutPolicy(), store, clock)
    await guard.settle(await guard.reserve("guessed"), Outcome.FAILED)
    clock.advance(DAY - 1)
    await guard.settle(await guard.reserve("alice"), Outcome.FAILED)
    assert await guard.prune() == 0
    clock.advance(1)
    assert await guard.prune() == 1
    assert await store.get_lock("guessed") == LockState()
    assert (await guard.status("alice")).failures == 1
