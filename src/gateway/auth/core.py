"""The login core wired together, for the edge to hold.

The edge provides the I/O-facing pieces: a store (opened with its thread
runner), a clock and an ``AsyncPasswordHasher`` that runs Argon2id in worker
threads.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from gateway.auth.account import AccountDesk
from gateway.auth.apikeys import ApiKeyRegistry, ScopeReach
from gateway.auth.events import EventBus
from gateway.auth.factors import Factor, default_factors
from gateway.auth.flow import LoginFlow
from gateway.auth.ibkey import IbKeyService
from gateway.auth.lockout import LockoutGuard, LockoutPolicy
from gateway.auth.passkeys import PasskeyDesk
from gateway.auth.passwords import AsyncPasswordHasher, PasswordPolicy
from gateway.auth.ratelimit import LoginRateLimits
from gateway.auth.recovery import RecoveryDesk
from gateway.auth.sessions import SessionRegistry
from gateway.auth.support import SupportDesk
from gateway.auth.trust import DeviceCookies
from gateway.auth.withdrawals import WithdrawalLedger
from gateway.clock import Clock
from gateway.config import Config
from gateway.notify import Outbox
from gateway.store.base import Store


@dataclass(frozen=True, slots=True)
class LoginCore:
    flow: LoginFlow
    sessions: SessionRegistry
    support: SupportDesk
    guard: LockoutGuard
    factors: Mapping[str, Factor]
    clock: Clock
    events: EventBus
    api_keys: ApiKeyRegistry
    devices: DeviceCookies
    outbox: Outbox  # the notifier: every message sent, readable by support
    ibkey: IbKeyService
    withdrawals: WithdrawalLedger
    store: Store
    recovery: RecoveryDesk
    passkeys: PasskeyDesk
    account: AccountDesk

    @classmethod
    def build(
        cls,
        config: Config,
        *,
        store: Store,
        clock: Clock,
        hasher: AsyncPasswordHasher,
        bucket_clock: Clock | None = None,
        device_key: bytes | None = None,
        notifier: Outbox | None = None,
    ) -> LoginCore:
        """``bucket_clock``: the time the login token buckets refill on
        (default ``clock``; under a test clock the server passes a
        ``RefillClock``). ``device_key``: the key of trusted-device cookies
        (default: a random one, good for this process only)."""
        events = EventBus()
        api_keys = ApiKeyRegistry(
            store, clock, config.api_keys, events=events, reach=ScopeReach.of(config)
        )
        factors = default_factors(config.totp, config.sms, config.passkeys)
        sessions = SessionRegistry(clock, config.sessions)
        guard = LockoutGuard(LockoutPolicy.from_config(config.lockout), store, clock)
        devices = DeviceCookies(device_key or secrets.token_bytes(32), clock)
        flow = LoginFlow(
            store=store,
            sessions=sessions,
            hasher=hasher,
            guard=guard,
            limits=LoginRateLimits(
                bucket_clock or clock, config.rate_limits, config.http.ipv6_prefix
            ),
            factors=factors,
            clock=clock,
            config=config.login,
            events=events,
            devices=devices,
            notifier=notifier,
        )
        support = SupportDesk(
            store=store,
            hasher=hasher,
            policy=PasswordPolicy.from_config(config.passwords),
            guard=guard,
            sessions=sessions,
            clock=clock,
            totp_config=config.totp,
            events=events,
            api_keys=api_keys,
            devices=config.devices,
        )
        outbox = notifier if notifier is not None else Outbox(clock, config.notifier.outbox_size)
        if notifier is None:
            flow.use_notifier(outbox)
        ibkey = IbKeyService(store, flow, outbox, clock, events)
        flow.on_push(ibkey.register)
        ledger = WithdrawalLedger(config.withdrawal_limits, clock, config.withdrawals.time_zone)
        recovery = RecoveryDesk(
            store,
            guard,
            hasher,
            PasswordPolicy.from_config(config.passwords),
            sessions,
            outbox,
            ibkey,
            clock,
            events,
            api_keys=api_keys,
            config=config,
            bucket_clock=bucket_clock,
        )
        passkeys = PasskeyDesk(store, config.passkeys, clock, events, sessions, outbox)
        return cls(
            flow,
            sessions,
            support,
            guard,
            factors,
            clock,
            events,
            api_keys,
            devices,
            outbox,
            ibkey,
            ledger,
            store,
            recovery,
            passkeys,
            AccountDesk(store, flow, guard, outbox, clock, events),
        )

    def sweep(self) -> None:
        """Expire sessions and logins whose time is up (call every second or
        so, and after moving the test clock)."""
        self.sessions.sweep()
        self.flow.sweep()

    async def load(self) -> None:
        """Read back what the core keeps from the store: API keys, and the
        withdrawals the limit windows can still see (8 days)."""
        await self.api_keys.load()
        recent: dict[str, list[tuple[float, int]]] = {}
        since = self.clock.now() - 8 * 86_400
        for username, at, cents in await self.store.withdrawals_since(since):
            recent.setdefault(username, []).append((at, cents))
        for username, entries in recent.items():
            self.withdrawals.restore(username, entries)

    async def prune(self) -> int:
        """Forget lock state that has aged to nothing (call hourly or so:
        it bounds what guessed usernames leave behind)."""
        return await self.guard.prune()
