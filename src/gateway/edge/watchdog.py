"""Deadlines of the data plane's connections, on one coarse timer."""

from __future__ import annotations

from typing import Protocol

import trio

from gateway.edge.wire import http_date


class Watched(Protocol):
    """A client or upstream connection: ``deadline`` (trio time) of the wait
    it is in, ``expire()`` when it passes."""

    deadline: float

    def expire(self) -> None: ...


class Watchdog:
    """The deadlines of every open connection, checked on a coarse tick.

    A cancel scope per receive and per send would cost the hot path two
    scope set-ups and two deadline-heap updates per request (a third of the
    data plane's CPU when measured); instead a connection writes its next
    deadline into a float before it waits, and this one task cancels the
    connections whose deadline has passed. Deadlines are precise to a tick.
    """

    def __init__(self, tick: float = 0.25) -> None:
        self.tick = tick
        self.now = trio.current_time()
        self._watched: set[Watched] = set()

    def watch(self, item: Watched) -> None:
        self._watched.add(item)

    def forget(self, item: Watched) -> None:
        self._watched.discard(item)

    async def run(self) -> None:
        while True:
            await trio.sleep(self.tick)
            self.now = now = trio.current_time()
            http_date.refresh()
            for connection in [c for c in self._watched if c.deadline <= now]:
                connection.expire()
