"""The process's file descriptors as a budget that every connection draws on.

Each client connection, each relayed request's connection to the control
plane (two descriptors: ours and the control plane's end of it) and each
upstream connection holds a descriptor, and they all come out of one table
of ``RLIMIT_NOFILE`` entries. When clients can take every entry (thousands
of event streams, or connections trickling bodies), ``accept`` fails with
EMFILE for everyone: no ``/healthz``, no admin, no login. So the gateway
raises its soft limit to the hard one at start, keeps some descriptors
aside for what is not a connection (the store, logs, threads), and divides
the rest:

- the clients' share, which public connections and the upstream and
  control-plane connections they cause draw on;
- a reserve past it, for the admin listener and for public connections
  that may ask ``/healthz`` or ``/readyz`` and nothing else (at most half
  of the reserve, so health checks cannot crowd out support).

A public connection accepted while the clients' share is spent is a
health-only one. When even those are used up, accepting waits, and new
clients wait in the listen backlog, where the kernel keeps them without a
descriptor.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import os
import resource

import trio

log = logging.getLogger("gateway")

SPARE_MIN = 32  # descriptors that are not connections: the store, logs, threads, clients
RESERVE_MIN = 16


class Share(enum.Enum):
    CLIENT = "client"
    HEALTH = "health"  # a public connection that may only ask /healthz and /readyz
    RESERVE = "reserve"  # support (the admin listener)


class DescriptorBudget:
    """Descriptors that connections may hold: ``total``, of which
    ``reserve`` only for admin and health checks."""

    def __init__(self, total: int, reserve: int) -> None:
        self.total = max(total, 2)
        self.reserve = min(max(reserve, 1), self.total - 1)
        self.client_limit = self.total - self.reserve
        self.health_limit = max(1, self.reserve // 2)
        self.used = 0
        self.health = 0
        self.refused = 0
        self._freed = trio.lowlevel.ParkingLot()

    def take(self, cost: int = 1) -> bool:
        """Take ``cost`` from the clients' share, if it has room."""
        if self.used + cost > self.client_limit:
            self.refused += 1
            return False
        self.used += cost
        return True

    def take_anyway(self, cost: int = 1) -> None:
        """Count descriptors already open that cannot be refused."""
        self.used += cost

    def give(self, cost: int = 1, share: Share = Share.CLIENT) -> None:
        self.used -= cost
        if share is Share.HEALTH:
            self.health -= cost
        if self._freed.statistics().tasks_waiting:
            self._freed.unpark_all()

    async def take_public(self) -> Share:
        """A place for a public connection: in the clients' share, else a
        health-only one in the reserve; waits while there is neither."""
        while True:
            if self.used < self.client_limit:
                self.used += 1
                return Share.CLIENT
            if self.health < self.health_limit and self.used < self.total:
                self.used += 1
                self.health += 1
                return Share.HEALTH
            await self._freed.park()

    async def take_client(self) -> None:
        """A place in the clients' share; waits until there is one."""
        while not self.take():
            await self._freed.park()

    async def take_reserved(self) -> None:
        """A place anywhere, the reserve included; waits until there is one."""
        while self.used >= self.total:
            await self._freed.park()
        self.used += 1


def open_descriptors() -> int | None:
    """How many descriptors the process has open, where the system says."""
    for directory in ("/proc/self/fd", "/dev/fd"):
        with contextlib.suppress(OSError):
            return len(os.listdir(directory)) - 1  # the listing's own
    return None


def raise_limit() -> int:
    """Raise the soft ``RLIMIT_NOFILE`` to the hard one; the limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError) as error:
            log.warning("cannot raise the descriptor limit to %d: %s", hard, error)
    elif hard == resource.RLIM_INFINITY and soft == resource.RLIM_INFINITY:
        soft = 1 << 20
    return soft


def budget_from_limit() -> DescriptorBudget:
    """The budget of this process, after raising its limit: the limit, less
    what is open now and a spare for what is not a connection; a twentieth
    of the rest (at least ``RESERVE_MIN``) is the reserve."""
    limit = raise_limit()
    in_use = open_descriptors() or 64
    spare = max(SPARE_MIN, limit // 32)
    total = limit - in_use - spare
    return DescriptorBudget(total, max(RESERVE_MIN, total // 20))
