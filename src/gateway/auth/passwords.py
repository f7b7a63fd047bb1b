"""Identity rules of SPEC section 2: usernames, the password policy, Argon2id.

Hashing is synchronous and CPU-bound (``PasswordHasher``); the edge runs it in
a worker thread behind a capacity limiter and hands the core an
``AsyncPasswordHasher``. ``InlineHasher`` is the same thing without threads,
for tests and one-shot tools.
"""

from __future__ import annotations

import os
import re
import secrets
import threading
import unicodedata
from typing import Protocol

from cryptography.exceptions import InvalidKey
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

from gateway.config import Argon2Config, PasswordPolicyConfig
from gateway.errors import BadCharacter, BadRequest

USERNAME_MAX_LENGTH = 64
_USERNAME = re.compile(r"[a-z0-9]+")


class WeakPassword(BadRequest):
    """A new password does not meet the policy."""


def check_username(username: str) -> None:
    """Refuse a username with any character but a-z and 0-9.

    Called before any lookup. Upper case is not folded: ``Alice`` is refused
    here rather than silently matching ``alice``.
    """
    if not username:
        raise BadRequest("username is empty")
    if _USERNAME.fullmatch(username) is None:
        raise BadCharacter()
    # No real user can have a longer name, so this reveals nothing.
    if len(username) > USERNAME_MAX_LENGTH:
        raise BadRequest(f"username is longer than {USERNAME_MAX_LENGTH} characters")


class PasswordPolicy:
    """Length bounds, at least one letter and at least one digit (0-9), no
    control characters.

    Enforced when a password is set or reset, never at login: a login with a
    password that breaks the policy is simply a wrong password.
    """

    def __init__(self, min_length: int = 6, max_length: int = 40) -> None:
        self.min_length = min_length
        self.max_length = max_length

    @classmethod
    def from_config(cls, config: PasswordPolicyConfig) -> PasswordPolicy:
        return cls(config.min_length, config.max_length)

    def check(self, password: str) -> None:
        rule = (
            f"a password has {self.min_length} to {self.max_length} characters "
            "with at least one letter and one digit"
        )
        if not self.min_length <= len(password) <= self.max_length:
            raise WeakPassword(rule)
        if not any(c.isalpha() for c in password):
            raise WeakPassword(rule)
        if not any(c in "0123456789" for c in password):
            raise WeakPassword(rule)
        if any(unicodedata.category(c) == "Cc" for c in password):
            # A NUL or a line break cannot be typed at a login screen, and
            # some clients cut a password at a NUL.
            raise WeakPassword("a password may not contain control characters")


# OpenSSL computes the lanes of one Argon2id hash on its own thread pool,
# which ``cryptography`` sizes to the number of cores. Two multi-lane hashes
# at once can each hold part of the pool and wait for the rest: on a 2-core
# machine two 4-lane hashes deadlock (or fail with MemoryError). So multi-lane
# hashes run one at a time in the process; each still uses every core.
_MULTI_LANE = threading.Lock()
_PHC_LANES = re.compile(r"[$,]p=(\d+)")


def serialized(lanes: int) -> bool:
    """Whether hashes with this many lanes must run one at a time."""
    return lanes > 1


def _lanes_of(encoded: str) -> int:
    match = _PHC_LANES.search(encoded)
    return int(match.group(1)) if match else 2  # unknown: play safe


class PasswordHasher:
    """Argon2id in PHC string form (``$argon2id$v=19$m=...,t=...,p=...$salt$hash``).

    Blocking: run it in a worker thread. The dummy hash has the same cost as a
    real one, so checking a password for an unknown user takes as long as for
    a known one (SPEC: timing must not reveal whether the user exists).
    Multi-lane hashes take a process-wide lock (see ``_MULTI_LANE``).
    """

    def __init__(self, config: Argon2Config) -> None:
        self._config = config
        # A random password nobody knows: verifying against it always fails,
        # at the full cost.
        self.dummy_hash = self.hash(secrets.token_urlsafe(24))

    def hash(self, password: str) -> str:
        config = self._config
        kdf = Argon2id(
            salt=os.urandom(config.salt_length),
            length=config.hash_length,
            iterations=config.iterations,
            lanes=config.lanes,
            memory_cost=config.memory_cost_kib,
        )
        if serialized(config.lanes):
            with _MULTI_LANE:
                return kdf.derive_phc_encoded(password.encode("utf-8"))
        return kdf.derive_phc_encoded(password.encode("utf-8"))

    def verify(self, password: str, encoded: str) -> bool:
        # The stored hash carries its own parameters, lanes included.
        try:
            if serialized(_lanes_of(encoded)):
                with _MULTI_LANE:
                    Argon2id.verify_phc_encoded(password.encode("utf-8"), encoded)
            else:
                Argon2id.verify_phc_encoded(password.encode("utf-8"), encoded)
        except InvalidKey:
            return False
        return True

    def __repr__(self) -> str:
        c = self._config
        return f"PasswordHasher(m={c.memory_cost_kib}, t={c.iterations}, p={c.lanes})"


class AsyncPasswordHasher(Protocol):
    """What the core awaits. The edge implements it with
    ``trio.to_thread.run_sync(..., limiter=CapacityLimiter(n))`` around a
    ``PasswordHasher``."""

    @property
    def dummy_hash(self) -> str: ...

    async def hash(self, password: str) -> str:
        """Support setting a password: never waits behind login hashes."""
        ...

    async def verify(
        self, password: str, encoded: str, *, client: str = "", trusted: bool = False
    ) -> bool:
        """A login attempt from ``client`` (an address); ``trusted`` ones
        (a valid device cookie) go first."""
        ...


class InlineHasher:
    """An ``AsyncPasswordHasher`` that hashes on the calling thread.

    For tests and command-line tools only: on a server it would stall the
    event loop for the whole hash.
    """

    def __init__(self, hasher: PasswordHasher) -> None:
        self._hasher = hasher

    @property
    def dummy_hash(self) -> str:
        return self._hasher.dummy_hash

    async def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    async def verify(
        self, password: str, encoded: str, *, client: str = "", trusted: bool = False
    ) -> bool:
        return self._hasher.verify(password, encoded)
