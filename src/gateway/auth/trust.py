"""Trusted devices: OWASP's "Slow Down Online Guessing Attacks with Device
Cookies", as SPEC section 3 asks.

A completed login gives the client a device cookie for that user, signed by
the gateway. A password attempt that presents a valid one for the username
it names is *trusted*:

- it is counted under a lock key of its own, ``username/device``: failures
  from elsewhere (an attacker guessing the password) lock the untrusted key
  and the owner's device logs in all the same; failures with the cookie lock
  that device alone;
- it has a per-user rate-limit bucket of its own, for the same reason;
- it goes ahead of untrusted attempts for hashing capacity and, on the data
  plane, for the control plane's login capacity (``gateway.edge.admission``),
  so a flood of guesses does not queue in front of it.

Format: ``<username>.<device id>.<issued, unix seconds>.<MAC>``, the MAC
being HMAC-SHA256 (first 16 bytes, base64url) of the rest under a key
derived from the master key (random per process on the memory store). The
cookie holds no secret of the user's; forging one needs the key, and a stolen
one gives no more than the owner's own device has: ten failures lock it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable

from gateway.clock import Clock
from gateway.encoding import b64u

DEVICE_COOKIE = "gw_device"
DEVICE_COOKIE_MAX_AGE = 365 * 86_400
MAX_COOKIE_LENGTH = 200
_PREFIX = DEVICE_COOKIE.encode() + b"="
_MAC_BYTES = 16


def derive_device_key(master_key: bytes) -> bytes:
    """The cookie key, bound to the master key but not equal to it."""
    return hmac.new(master_key, b"login-gateway device cookie key v1", hashlib.sha256).digest()


class DeviceCookies:
    def __init__(self, key: bytes, clock: Clock, max_age: float = DEVICE_COOKIE_MAX_AGE) -> None:
        self._key = key
        self._clock = clock
        self.max_age = max_age

    def issue(self, username: str) -> str:
        """A new cookie value for ``username`` on a new device."""
        payload = f"{username}.{secrets.token_urlsafe(12)}.{int(self._clock.now())}"
        return f"{payload}.{self._mac(payload)}"

    def verify(self, value: str | None, username: str) -> str | None:
        """The device id of a valid, unexpired cookie for ``username``, else
        ``None`` (never an error: a bad cookie is just an untrusted attempt)."""
        if not value or len(value) > MAX_COOKIE_LENGTH:
            return None
        payload, _, mac = value.rpartition(".")
        parts = payload.split(".")
        if len(parts) != 3 or parts[0] != username or not parts[2].isdigit():
            return None
        if not hmac.compare_digest(mac, self._mac(payload)):
            return None
        if int(parts[2]) + self.max_age <= self._clock.now():
            return None
        return parts[1]

    def set_cookie(self, value: str) -> str:
        """The ``Set-Cookie`` value. ``Path=/v1/login``: only the login
        endpoints ever see it."""
        return (
            f"{DEVICE_COOKIE}={value}; Path=/v1/login; Max-Age={int(self.max_age)}; "
            "Secure; HttpOnly; SameSite=Strict"
        )

    def _mac(self, payload: str) -> str:
        digest = hmac.new(self._key, payload.encode(), hashlib.sha256).digest()[:_MAC_BYTES]
        return b64u(digest)

    def __repr__(self) -> str:
        return "DeviceCookies(<key hidden>)"


def device_cookie(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """The ``gw_device`` cookie of a request (header names in lower case)."""
    for name, value in headers:
        if name != b"cookie" or _PREFIX not in value:
            continue
        for part in value.split(b";"):
            part = part.strip()
            if part.startswith(_PREFIX):
                found = part[len(_PREFIX) :]
                if 0 < len(found) <= MAX_COOKIE_LENGTH:
                    return found.decode("latin-1")
    return None


def lock_key(username: str, device_id: str | None) -> str:
    """The lockout key of an attempt: the username, or ``username/device``
    for a trusted one (``/`` is never in a username)."""
    return username if device_id is None else f"{username}/{device_id}"
