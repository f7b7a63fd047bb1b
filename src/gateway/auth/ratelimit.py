"""Per-IP and per-user token buckets in front of every password check.

They shed floods before any Argon2id hash is computed (SPEC 3). Buckets are
keyed by the username as typed, whether or not the user exists, so the limit
does not reveal which users exist.
"""

from __future__ import annotations

import _fastcore
from gateway.addresses import DEFAULT_IPV6_PREFIX, client_group
from gateway.clock import Clock
from gateway.config import RateLimitConfig
from gateway.errors import RateLimited


class LoginRateLimits:
    def __init__(
        self,
        clock: Clock,
        config: RateLimitConfig | None = None,
        ipv6_prefix: int = DEFAULT_IPV6_PREFIX,
    ) -> None:
        config = config if config is not None else RateLimitConfig()
        self._clock = clock
        self._ipv6_prefix = ipv6_prefix
        self._per_ip = _fastcore.TokenBuckets(config.ip_rate, config.ip_burst, config.max_keys)
        self._per_user = _fastcore.TokenBuckets(
            config.user_rate, config.user_burst, config.max_keys
        )

    def check_ip(self, ip: str) -> None:
        """Take a token for the client address (an IPv6 one for its
        network, ``gateway.addresses``) or raise ``RateLimited``."""
        _take(self._per_ip, client_group(ip, self._ipv6_prefix), self._clock.now())

    def check_user(self, username: str) -> None:
        """Take a token for the username or raise ``RateLimited``."""
        _take(self._per_user, username, self._clock.now())


def _take(buckets: _fastcore.TokenBuckets, key: str, now: float) -> None:
    if not buckets.take(key, now):
        raise RateLimited(buckets.retry_after(key, now))
