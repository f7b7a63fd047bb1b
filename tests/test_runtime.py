"""The edge's hasher: worker threads, a bounded queue, shedding."""

import threading

import pytest
import trio

from gateway.errors import RateLimited
from gateway.runtime import ThreadedHasher


class BlockingHasher:
    """Stands in for Argon2id: each hash waits until the test lets it go."""

    dummy_hash = "dummy"

    def __init__(self) -> None:
        self.release = threading.Event()
        self.started = 0
        self.changed = threading.Condition()

    def hash(self, password: str) -> str:
        with self.changed:
            self.started += 1
            self.changed.notify_all()
        self.release.wait(30)
        return "h:" + password

    def wait_started(self, count: int) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: self.started >= count, timeout=30)

    def verify(self, password: str, encoded: str) -> bool:
        return self.hash(password) == encoded


async def test_full_queue_sheds_with_rate_limited() -> None:
    inner = BlockingHasher()
    hasher = ThreadedHasher(inner, limit=2, queue=3)  # type: ignore[arg-type]
    results: list[str] = []

    async def one(i: int) -> None:
        results.append(await hasher.hash(f"p{i}"))

    async with trio.open_nursery() as nursery:
        for i in range(5):
            nursery.start_soon(one, i)
        await trio.testing.wait_all_tasks_blocked()
        with pytest.raises(RateLimited) as shed:
            await hasher.hash("one too many")
        assert shed.value.retry_after == 1
        assert hasher.shed == 1
        inner.release.set()
    assert sorted(results) == [f"h:p{i}" for i in range(5)]
    assert inner.started == 5  # the shed one never reached a thread
    # Room again once the queue drained.
    assert await hasher.verify("again", "h:again") is True


async def test_at_most_limit_hashes_run_at_once() -> None:
    inner = BlockingHasher()
    hasher = ThreadedHasher(inner, limit=2, queue=10)  # type: ignore[arg-type]
    async with trio.open_nursery() as nursery:
        for i in range(6):
            nursery.start_soon(hasher.hash, f"p{i}")
        await trio.testing.wait_all_tasks_blocked()
        assert await trio.to_thread.run_sync(inner.wait_started, 2)
        await trio.testing.wait_all_tasks_blocked()
        assert inner.started == 2  # the other four wait for a thread
        inner.release.set()
    assert inner.started == 6
