"""The composition root: the login core wired to Trio, threads and the store.

This is the one place where the sans-IO core meets the event loop: Argon2id
and SQLite run in worker threads behind capacity limiters, a sweeper task
expires sessions and logins, and the test clock (only when asked for) can be
moved from the admin API.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import trio

from gateway.addresses import DEFAULT_IPV6_PREFIX, client_group
from gateway.audit import AuditLog
from gateway.auth.core import LoginCore
from gateway.auth.events import SecurityEvent
from gateway.auth.passwords import PasswordHasher, serialized
from gateway.auth.trust import derive_device_key
from gateway.clock import Clock, RefillClock, SystemClock, TestClock
from gateway.config import Config
from gateway.errors import BadRequest
from gateway.fairness import FairShare
from gateway.metrics import Metrics
from gateway.notify import build_notifier
from gateway.store.base import Store, ThreadRunner
from gateway.store.encryption import (
    ADMIN_TOKEN_FILE,
    beside_the_data,
    load_or_create_admin_token,
    resolve_master_key,
)
from gateway.store.memory import MemoryStore
from gateway.store.sqlite import SqliteStore

log = logging.getLogger("gateway")

T = TypeVar("T")
SWEEP_INTERVAL = 1.0
PRUNE_INTERVAL = 3600.0
TEST_CLOCK_SETTING = "test_clock"


class ThreadedHasher:
    """Argon2id in worker threads, shared fairly (``FairShare``).

    Login attempts (``verify``) get ``limit`` hash slots, with the queueing
    rules of ``FairShare``: trusted-device attempts first, the others
    round-robin by client address, at most ``per_client`` admitted per
    address and ``queue`` waiting per class; past that, ``rate_limited`` at
    once instead of a queue that grows without end in front of everyone.

    Support setting a password (``hash``) has a lane of its own and never
    waits behind login attempts. (Multi-lane hashes still run one at a time
    in the process, see ``auth.passwords``: it waits for at most the one
    hash running.)"""

    def __init__(
        self,
        hasher: PasswordHasher,
        limit: int,
        queue: int,
        per_client: int = 4,
        ipv6_prefix: int = DEFAULT_IPV6_PREFIX,
    ) -> None:
        self._hasher = hasher
        self._ipv6_prefix = ipv6_prefix
        self._share = FairShare(limit, queue, per_client, "Too many logins in progress")
        self._threads = trio.CapacityLimiter(limit)
        self._support = trio.CapacityLimiter(1)
        self.hashes = 0  # how many were computed

    @property
    def dummy_hash(self) -> str:
        return self._hasher.dummy_hash

    @property
    def waiting(self) -> int:
        return self._share.waiting

    @property
    def shed(self) -> int:
        """How many were refused because a queue or a client's share was full."""
        return self._share.shed

    async def hash(self, password: str) -> str:
        self.hashes += 1
        return await trio.to_thread.run_sync(self._hasher.hash, password, limiter=self._support)

    async def verify(
        self, password: str, encoded: str, *, client: str = "", trusted: bool = False
    ) -> bool:
        async with self._share.slot(client_group(client, self._ipv6_prefix), trusted):
            self.hashes += 1
            return await trio.to_thread.run_sync(
                self._hasher.verify, password, encoded, limiter=self._threads
            )


def thread_runner(limit: int) -> ThreadRunner:
    """Blocking store calls in worker threads, ``limit`` at a time."""
    limiter = trio.CapacityLimiter(limit)

    async def run(fn: Callable[[], T]) -> T:
        return await trio.to_thread.run_sync(fn, limiter=limiter)

    return run


@dataclass(eq=False)
class Runtime:
    config: Config
    clock: Clock
    store: Store
    core: LoginCore
    hasher: ThreadedHasher
    admin_token: str = ""
    test_clock: TestClock | None = None
    admin_token_generated: bool = False
    admin_token_file: Path | None = None  # where a generated token is kept
    metrics: Metrics = field(default_factory=Metrics)
    audit: AuditLog | None = None
    ready: bool = False  # the store is open and the listeners are up

    @classmethod
    async def open(
        cls, config: Config, *, data_dir: Path | None = None, test_clock: bool = False
    ) -> Runtime:
        directory = Path(data_dir if data_dir is not None else config.store.data_dir)
        store: Store
        device_key: bytes | None = None
        if config.store.backend == "memory":
            store = MemoryStore(config.lockout.max_guessed_names)
        else:
            master_key, key_path = await trio.to_thread.run_sync(
                resolve_master_key,
                config.secrets.master_key,
                directory,
                config.secrets.master_key_file,
            )
            if beside_the_data(key_path, directory):
                log.warning(
                    "the master key is in %s, beside the database it protects: a copy or "
                    "backup of the data directory carries both. Keep it elsewhere: set "
                    "GATEWAY_MASTER_KEY, or GATEWAY_MASTER_KEY_FILE / [secrets] "
                    "master_key_file to a path outside %s",
                    key_path,
                    directory,
                )
            store = await SqliteStore.open(
                directory, master_key, thread_runner(1), config.lockout.max_guessed_names
            )
            device_key = derive_device_key(master_key)
        clock: Clock = SystemClock()
        bucket_clock: Clock | None = None
        if test_clock:
            # Resumes where it was moved to last on this data (SPEC 7).
            saved = await store.get_setting(TEST_CLOCK_SETTING)
            clock = TestClock(start=float(saved) if saved else SystemClock().now())
            bucket_clock = RefillClock(clock)
        password_hasher = await trio.to_thread.run_sync(PasswordHasher, config.argon2)
        # Multi-lane hashes run one at a time (see auth.passwords): more
        # threads would only wait on the lock.
        argon2 = config.argon2
        limit = 1 if serialized(argon2.lanes) else argon2.max_concurrent_hashes
        hasher = ThreadedHasher(
            password_hasher,
            limit,
            argon2.max_queued_hashes,
            argon2.max_hashes_per_client,
            config.http.ipv6_prefix,
        )
        core = LoginCore.build(
            config,
            store=store,
            clock=clock,
            hasher=hasher,
            bucket_clock=bucket_clock,
            device_key=device_key,
            notifier=build_notifier(config.notifier, clock),
        )
        await core.load()
        token = config.secrets.admin_token
        token_file: Path | None = None
        created = False
        if not token and config.store.backend != "memory":
            # Kept beside the data it guards, so support's token survives a restart.
            token, created = await trio.to_thread.run_sync(load_or_create_admin_token, directory)
            token_file = directory / ADMIN_TOKEN_FILE
        runtime = cls(
            config,
            clock,
            store,
            core,
            hasher,
            admin_token=token or secrets.token_urlsafe(32),
            test_clock=clock if isinstance(clock, TestClock) else None,
            admin_token_generated=created or not token,
            admin_token_file=token_file,
            audit=AuditLog(config.audit.path) if config.audit.path else None,
        )
        runtime._observe()
        return runtime

    def _observe(self) -> None:
        """Security events to the audit log and the metrics; gauges read at
        scrape time."""
        events, metrics = self.core.events, self.metrics
        if self.audit is not None:
            events.subscribe(self.audit)

        def count(event: SecurityEvent) -> None:
            metrics.security_events.inc(event.kind)
            if event.kind == "login_ok":
                metrics.logins.inc("ok", str(event.fields.get("method", "")))
            elif event.kind == "login_failed":
                metrics.logins.inc("failed", str(event.fields.get("method", "password")))
            elif event.kind == "login_refused":
                reason = str(event.fields.get("reason", ""))
                metrics.logins.inc(reason, str(event.fields.get("method", "password")))
                if reason == "rate_limited":
                    metrics.rate_limited.inc("login")
            elif event.kind == "locked":
                metrics.lockouts.inc()

        events.subscribe(count)
        sessions = self.core.sessions

        def active_sessions() -> dict[tuple[str, ...], float]:
            found: dict[tuple[str, ...], float] = {("trading",): 0.0, ("portal",): 0.0}
            for session in sessions.sessions():
                found[(session.kind.value,)] += 1
            return found

        metrics.gauge(
            "gateway_active_sessions", "Active sessions by kind.", ("kind",), active_sessions
        )
        metrics.gauge(
            "gateway_api_keys",
            "API keys that are not revoked.",
            (),
            lambda: {(): float(len(self.core.api_keys))},
        )

    async def close(self) -> None:
        await self.store.close()
        if self.audit is not None:
            self.audit.close()

    async def sweep_forever(self) -> None:
        """Expire sessions and logins on time (the test clock also sweeps
        whenever it is moved)."""
        sweeps_per_prune = int(PRUNE_INTERVAL / SWEEP_INTERVAL)
        count = 0
        while True:
            self.core.sweep()
            count += 1
            if count % sweeps_per_prune == 0:
                await self.core.prune()  # forget aged lock state of guessed usernames
            await trio.sleep(SWEEP_INTERVAL)

    async def move_clock(
        self, *, advance: float | None = None, set_to: float | None = None
    ) -> float:
        """Move the test clock forward (never back: lock and session deadlines
        assume time does not go back), keep its new value with the data (a
        restart resumes from it), then expire what is due."""
        if self.test_clock is None:
            raise RuntimeError("the clock only moves under --test-clock")
        if set_to is not None:
            if set_to < self.test_clock.now():
                raise BadRequest("the test clock does not go backwards")
            self.test_clock.set(set_to)
        if advance is not None:
            self.test_clock.advance(advance)
        now = self.test_clock.now()
        await self.store.put_setting(TEST_CLOCK_SETTING, repr(now))
        self.core.sweep()
        return now
