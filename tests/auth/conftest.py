"""Fixtures of the login core tests: a test clock, a memory store, a
counting hasher and the core wired from them."""

from __future__ import annotations

import pytest

from gateway.auth.core import LoginCore
from gateway.clock import TestClock
from gateway.store.memory import MemoryStore

from .helpers import CountingHasher, make_config


@pytest.fixture
def clock() -> TestClock:
    return TestClock(1_700_000_000.0)


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def hasher() -> CountingHasher:
    return CountingHasher()


@pytest.fixture
def core(clock: TestClock, store: MemoryStore, hasher: CountingHasher) -> LoginCore:
    return LoginCore.build(make_config(), store=store, clock=clock, hasher=hasher)
