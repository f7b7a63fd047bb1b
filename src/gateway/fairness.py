"""Fair sharing of a scarce capacity (hash threads, the control plane's
login capacity) between clients, so that legit users come first under a
flood (SPEC 3, "a reserved share of hashing capacity").

``FairShare`` has ``slots`` places. While one is free and nobody waits, a
request takes it at once. Otherwise it waits in one of two queues:

- *trusted* requests (a valid trusted-device cookie) wait in order and are
  served first: a flood of guesses does not queue in front of them;
- the others wait per client address and are served round-robin: the
  address first in turn gives one request and goes to the back of the turn,
  so one address with a hundred requests waiting gets one place in turn,
  like everyone else, not a hundred in a row. The address served last is
  never served twice in a row while another waits: one that arrives while
  a flood's request holds the place goes next, not after one more of the
  flood's.

Each address may have at most ``per_client`` requests admitted (holding a
place or waiting) and each queue at most ``queue`` waiting; past either a
request is refused at once with ``rate_limited`` (and ``Retry-After``),
which costs nothing, rather than joining a queue that would grow in front
of everyone. When the untrusted queue is full, the one refused is the
newest of the address with the most waiting, not the newcomer: a flood
cannot fill the queue and keep everyone else out of it.

Trusted requests are bounded by their own per-user rules (a device cookie
is one user's, on a device that completed a login).
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import trio

from gateway.errors import RateLimited

RETRY_AFTER = 1.0


@dataclass(eq=False, slots=True)
class _Waiter:
    client: str
    trusted: bool
    granted: trio.Event = field(default_factory=trio.Event)
    pushed_out: bool = False  # woken to be refused, to make room (see _make_room)


class FairShare:
    def __init__(self, slots: int, queue: int, per_client: int, refusal: str) -> None:
        if slots < 1:
            raise ValueError("slots must be at least 1")
        self.slots = slots
        self._queue_cap = queue
        self._per_client = per_client
        self._refusal = refusal
        self.running = 0
        self._trusted: deque[_Waiter] = deque()
        self._untrusted: dict[str, deque[_Waiter]] = {}  # by client, in turn order
        self._waiting_untrusted = 0
        self._admitted: Counter[str] = Counter()  # untrusted, holding or waiting, by client
        self.shed = 0  # refused because a queue or a client's share was full
        self._last_granted: str | None = None  # the untrusted client served last

    @property
    def waiting(self) -> int:
        return len(self._trusted) + self._waiting_untrusted

    @asynccontextmanager
    async def slot(self, client: str, trusted: bool = False) -> AsyncIterator[None]:
        """Hold a place for the ``async with`` block (or raise ``RateLimited``)."""
        await self.acquire(client, trusted)
        try:
            yield
        finally:
            self.release(client, trusted)

    async def acquire(self, client: str, trusted: bool = False) -> None:
        if not trusted:
            if self._admitted[client] >= self._per_client:
                self._refuse()
            self._admitted[client] += 1
        if self.running < self.slots and not self.waiting:
            self.running += 1
            if not trusted:
                self._last_granted = client
            return
        if trusted:
            if len(self._trusted) >= self._queue_cap:
                self._refuse()
        elif self._waiting_untrusted >= self._queue_cap and not self._make_room(client):
            self._forget(client)
            self._refuse()
        waiter = _Waiter(client, trusted)
        if trusted:
            self._trusted.append(waiter)
        else:
            self._untrusted.setdefault(client, deque()).append(waiter)
            self._waiting_untrusted += 1
        try:
            await waiter.granted.wait()
        except BaseException:
            if waiter.pushed_out:
                pass  # already out of the queue and forgotten
            elif waiter.granted.is_set():
                self.release(client, trusted)
            else:
                self._withdraw(waiter)
            raise
        if waiter.pushed_out:
            self._refuse()

    def release(self, client: str, trusted: bool = False) -> None:
        if not trusted:
            self._forget(client)
        self.running -= 1
        while self.running < self.slots:
            waiter = self._next()
            if waiter is None:
                return
            self.running += 1
            waiter.granted.set()

    def _make_room(self, client: str) -> bool:
        """Refuse the newest waiter of the address with the most waiting, if
        that address would still have more waiting than ``client`` with its
        new one; True if it did."""
        longest = max(self._untrusted, key=lambda c: len(self._untrusted[c]), default=None)
        if longest is None:
            return False
        theirs = self._untrusted[longest]
        if len(theirs) <= len(self._untrusted.get(client, ())) + 1:
            return False
        waiter = theirs.pop()
        if not theirs:
            del self._untrusted[longest]
        self._waiting_untrusted -= 1
        self._forget(longest)
        waiter.pushed_out = True
        waiter.granted.set()
        return True

    def _refuse(self) -> None:
        self.shed += 1
        raise RateLimited(RETRY_AFTER, self._refusal)

    def _forget(self, client: str) -> None:
        self._admitted[client] -= 1
        if self._admitted[client] <= 0:
            del self._admitted[client]

    def _withdraw(self, waiter: _Waiter) -> None:
        if waiter.trusted:
            self._trusted.remove(waiter)
            return
        mine = self._untrusted[waiter.client]
        mine.remove(waiter)
        if not mine:
            del self._untrusted[waiter.client]
        self._waiting_untrusted -= 1
        self._forget(waiter.client)

    def _next(self) -> _Waiter | None:
        if self._trusted:
            return self._trusted.popleft()
        if not self._untrusted:
            return None
        turn = iter(self._untrusted)
        client = next(turn)
        if client == self._last_granted:
            client = next(turn, client)  # not twice in a row while another waits
        self._last_granted = client
        mine = self._untrusted.pop(client)
        waiter = mine.popleft()
        if mine:
            self._untrusted[client] = mine  # to the back of the turn
        self._waiting_untrusted -= 1
        return waiter
