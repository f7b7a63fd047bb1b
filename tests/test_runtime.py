"""The edge's hasher: worker threads, fair queues, shedding, a support lane."""

import threading

import pytest
import trio
import trio.testing

from gateway.errors import RateLimited
from gateway.runtime import ThreadedHasher


class GatedHasher:
    """Stands in for Argon2id. Login hashes (``verify``) wait until the test
    lets them go, and the order they started in is recorded; support hashes
    (``hash``) never wait."""

    dummy_hash = "dummy"

    def __init__(self) -> None:
        self.release = threading.Event()
        self.order: list[str] = []
        self.changed = threading.Condition()

    def hash(self, password: str) -> str:
        return "h:" + password

    def verify(self, password: str, encoded: str) -> bool:
        with self.changed:
            self.order.append(password)
            self.changed.notify_all()
        self.release.wait(30)
        return encoded == "h:" + password

    def wait_started(self, count: int) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: len(self.order) >= count, timeout=30)


async def start(nursery: trio.Nursery, hasher: ThreadedHasher, *attempts: tuple) -> None:
    """Start each (password, client, trusted) attempt, in order, each queued
    before the next starts."""
    for password, client, trusted in attempts:
        nursery.start_soon(
            lambda p=password, c=client, t=trusted: hasher.verify(p, "h:" + p, client=c, trusted=t)
        )
        await trio.testing.wait_all_tasks_blocked()


async def test_at_most_limit_hashes_run_at_once_and_a_full_queue_sheds() -> None:
    inner = GatedHasher()
    hasher = ThreadedHasher(inner, limit=2, queue=3, per_client=10)  # type: ignore[arg-type]
    async with trio.open_nursery() as nursery:
        await start(nursery, hasher, *[(f"p{i}", f"10.0.0.{i}", False) for i in range(5)])
        assert await trio.to_thread.run_sync(inner.wait_started, 2)
        await trio.testing.wait_all_tasks_blocked()
        assert len(inner.order) == 2 and hasher.waiting == 3
        with pytest.raises(RateLimited) as shed:
            await hasher.verify("one too many", "x", client="10.0.0.9")
        assert shed.value.retry_after == 1 and hasher.shed == 1
        inner.release.set()
    assert sorted(inner.order) == [f"p{i}" for i in range(5)]  # the shed one never ran
    assert await hasher.verify("again", "h:again", client="10.0.0.9") is True


async def test_one_address_gets_its_share_and_no_more() -> None:
    inner = GatedHasher()
    hasher = ThreadedHasher(inner, limit=1, queue=100, per_client=2)  # type: ignore[arg-type]
    async with trio.open_nursery() as nursery:
        await start(nursery, hasher, ("a1", "flood", False), ("a2", "flood", False))
        with pytest.raises(RateLimited):
            await hasher.verify("a3", "h:a3", client="flood")
        # Another address still has room.
        await start(nursery, hasher, ("b1", "other", False))
        assert hasher.waiting == 2
        inner.release.set()


async def test_waiting_addresses_are_served_in_turn() -> None:
    inner = GatedHasher()
    hasher = ThreadedHasher(inner, limit=1, queue=100, per_client=10)  # type: ignore[arg-type]
    async with trio.open_nursery() as nursery:
        await start(
            nursery,
            hasher,
            *[(f"a{i}", "flood", False) for i in range(4)],
            ("b0", "legit", False),
            ("c0", "third", False),
        )
        assert await trio.to_thread.run_sync(inner.wait_started, 1)
        inner.release.set()
    # a0 was running; then one each in turn, not the flood's queue first, and
    # not the flood twice in a row while others wait.
    assert inner.order == ["a0", "b0", "a1", "c0", "a2", "a3"]


async def test_trusted_devices_go_first() -> None:
    inner = GatedHasher()
    hasher = ThreadedHasher(inner, limit=1, queue=2, per_client=10)  # type: ignore[arg-type]
    async with trio.open_nursery() as nursery:
        await start(nursery, hasher, ("u0", "x", False), ("u1", "y", False), ("u2", "z", False))
        # The untrusted queue is full; a trusted attempt still gets in, first.
        await start(nursery, hasher, ("t0", "w", True))
        with pytest.raises(RateLimited):
            await hasher.verify("u3", "h:u3", client="v")
        assert await trio.to_thread.run_sync(inner.wait_started, 1)
        inner.release.set()
    assert inner.order == ["u0", "t0", "u1", "u2"]


async def test_support_never_waits_behind_login_hashes() -> None:
    inner = GatedHasher()
    hasher = ThreadedHasher(inner, limit=1, queue=5, per_client=10)  # type: ignore[arg-type]
    async with trio.open_nursery() as nursery:
        await start(nursery, hasher, *[(f"p{i}", f"c{i}", False) for i in range(6)])
        assert hasher.waiting == 5
        with trio.fail_after(10):
            assert await hasher.hash("support") == "h:support"
        inner.release.set()


async def test_a_cancelled_wait_gives_its_place_back() -> None:
    inner = GatedHasher()
    hasher = ThreadedHasher(inner, limit=1, queue=1, per_client=1)  # type: ignore[arg-type]
    async with trio.open_nursery() as nursery:
        await start(nursery, hasher, ("p0", "a", False))
        async with trio.open_nursery() as waiting:
            await start(waiting, hasher, ("p1", "b", False))
            assert hasher.waiting == 1
            waiting.cancel_scope.cancel()
        assert hasher.waiting == 0
        # Both the queue place and the address's share are free again.
        await start(nursery, hasher, ("p2", "b", False))
        assert hasher.waiting == 1
        inner.release.set()
    assert inner.order == ["p0", "p2"]


async def test_a_full_queue_refuses_the_busiest_address_not_a_newcomer() -> None:
    inner = GatedHasher()
    hasher = ThreadedHasher(inner, limit=1, queue=3, per_client=10)  # type: ignore[arg-type]
    refused: list[str] = []

    async def attempt(password: str, client: str) -> None:
        try:
            await hasher.verify(password, "h:" + password, client=client)
        except RateLimited:
            refused.append(password)

    async with trio.open_nursery() as nursery:
        for password, client in [("a0", "flood"), ("a1", "flood"), ("a2", "flood")]:
            nursery.start_soon(attempt, password, client)
            await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(attempt, "b0", "other")  # waiting: a1 a2 b0 (full)
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(attempt, "c0", "third")  # pushes out a2, the flood's newest
        await trio.testing.wait_all_tasks_blocked()
        assert refused == ["a2"] and hasher.waiting == 3
        nursery.start_soon(attempt, "a3", "flood")  # the flood is no longer the longest
        await trio.testing.wait_all_tasks_blocked()
        assert refused == ["a2", "a3"]
        assert await trio.to_thread.run_sync(inner.wait_started, 1)
        inner.release.set()
    assert inner.order == ["a0", "b0", "a1", "c0"]
