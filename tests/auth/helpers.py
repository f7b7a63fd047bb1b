"""Helpers of the login core tests: a cheap Argon2id that counts its calls,
a config that stays out of the way, and user creation."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from gateway.auth.core import LoginCore
from gateway.auth.passwords import PasswordHasher
from gateway.auth.support import TotpEnrolment
from gateway.config import Argon2Config, Config, RateLimitConfig

CHEAP_ARGON2 = Argon2Config(profile="insecure-load-test")
PASSWORD = "secret123"
IP = "192.0.2.1"


class CountingHasher:
    """An ``AsyncPasswordHasher`` over a cheap Argon2id that counts calls and
    can be made to wait (``pause``) so that attempts overlap."""

    def __init__(self, pause: Callable[[], Awaitable[None]] | None = None) -> None:
        self._inner = PasswordHasher(CHEAP_ARGON2)
        self.pause = pause
        self.verify_calls = 0
        self.hash_calls = 0

    @property
    def dummy_hash(self) -> str:
        return self._inner.dummy_hash

    async def hash(self, password: str) -> str:
        self.hash_calls += 1
        return self._inner.hash(password)

    async def verify(
        self, password: str, encoded: str, *, client: str = "", trusted: bool = False
    ) -> bool:
        self.verify_calls += 1
        if self.pause is not None:
            await self.pause()
        return self._inner.verify(password, encoded)


def make_config(**rate_limits: Any) -> Config:
    """Cheap hashing; rate limits high enough to stay out of the way unless
    a test sets them."""
    limits = {"ip_burst": 100_000.0, "user_burst": 100_000.0, **rate_limits}
    return Config(argon2=CHEAP_ARGON2, rate_limits=RateLimitConfig(**limits))


async def add_user(
    core: LoginCore, username: str = "alice", *, totp: bool = False, account: str | None = None
) -> TotpEnrolment | None:
    await core.support.create_user(username, PASSWORD, account_id=account)
    return await core.support.enrol_totp(username) if totp else None
