"""Recovery (SPEC 6): a forgotten password or username.

- ``POST /v1/recovery/password {username}`` answers ``202 {recovery_id}``
  whether or not the user exists, and at once either way (no hash, and the
  notifier only queues). Only a real user's recovery gets a code, sent to
  the e-mail on record (else the phone). With an IB Key active, the phone
  must also approve the reset (a push, as at login).
- ``POST /v1/recovery/password/{id} {code, new_password}`` sets the new
  password under the policy, ends every session of the user and revokes
  every API key of the user (whoever held the account before the reset
  opened and minted them). A code is good once and for ``CODE_SECONDS``; a
  wrong one counts toward the lockout like a failed login, and after
  ``TRIES`` wrong ones the recovery no longer takes any code.
- ``POST /v1/recovery/username {email}`` sends the username to that e-mail
  if a user has it; the answer is the same either way.

Anyone may ask for a recovery, so nothing anyone asks may cost a real user
theirs, and no answer may tell who exists:

- every recovery id is sealed (AES-GCM under a key of this process) and
  carries its name and deadline, so an id for a name nobody has costs no
  memory, and answers like a real one whose code is unknown: ``login_failed``
  (counted on that name) until it expires, then ``not_found``;
- a real user has at most ``pending_per_user`` open recoveries and the
  gateway ``max_pending``; past either, a new one is refused by opening
  nothing, so its id is one of those. Nothing is ever evicted: a flood
  cannot push out the recovery the user is in the middle of;
- per name (any name, as typed) a token bucket refuses floods with
  ``rate_limited``, the same for every name; per address the edge sheds
  them first (``[login_admission] recovery_rate``) and the desk holds the
  same limit for callers that reach it directly;
- per e-mail address or phone a bucket of its own, and the notifier's
  per-user limits, hold back messages: the answer does not change.

Open recoveries live in memory and expire on the clock.
"""

from __future__ import annotations

import os
import secrets
import struct
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from typing import NamedTuple

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

import _fastcore
from gateway.addresses import client_group
from gateway.auth.apikeys import ApiKeyRegistry
from gateway.auth.contacts import normalize_email
from gateway.auth.events import EventBus
from gateway.auth.factors.ibkey import PushTicket
from gateway.auth.ibkey import IbKeyService
from gateway.auth.lockout import LockoutGuard, Outcome
from gateway.auth.passwords import (
    USERNAME_MAX_LENGTH,
    AsyncPasswordHasher,
    PasswordPolicy,
    check_username,
)
from gateway.auth.sessions import SessionRegistry
from gateway.clock import Clock
from gateway.config import Config
from gateway.encoding import b64u, from_b64u
from gateway.errors import BadRequest, Forbidden, LoginFailed, NotFound, RateLimited
from gateway.notify import Notifier
from gateway.store.base import Store, User

CODE_SECONDS = 900.0
TRIES = 3
HOUR = 3600.0


@dataclass(eq=False, slots=True)
class Recovery:
    username: str
    code: str = field(repr=False)
    expires_at: float
    tries: int = 0
    used: bool = False  # kept until it expires, so a second use is not_found
    approval: PushTicket | None = None  # the IB Key's, when one is active


class SealedId(NamedTuple):
    username: str
    expires_at: float


class RecoveryIds:
    """Recovery ids that carry their name and deadline: nonce, then AES-GCM
    of the deadline and the name packed at 6 bits a character to a fixed
    length, so every id is as long as every other (112 characters)."""

    _NAME_BYTES = USERNAME_MAX_LENGTH * 6 // 8
    _ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"  # check_username's; 0 pads
    _AD = b"recovery"

    def __init__(self, key: bytes | None = None) -> None:
        self._aead = AESGCM(key or os.urandom(32))
        self._size = 12 + 8 + self._NAME_BYTES + 16

    def new(self, username: str, expires_at: float) -> str:
        packed = 0
        for place, char in enumerate(username):
            packed |= (self._ALPHABET.index(char) + 1) << (6 * place)
        plain = struct.pack(">d", expires_at) + packed.to_bytes(self._NAME_BYTES, "little")
        nonce = os.urandom(12)
        return b64u(nonce + self._aead.encrypt(nonce, plain, self._AD))

    def open(self, recovery_id: str) -> SealedId | None:
        try:
            raw = from_b64u(recovery_id)
        except ValueError:
            return None
        if len(raw) != self._size:
            return None
        try:
            plain = self._aead.decrypt(raw[:12], raw[12:], self._AD)
        except InvalidTag:
            return None
        (expires_at,) = struct.unpack(">d", plain[:8])
        packed = int.from_bytes(plain[8:], "little")
        chars = []
        while packed:
            chars.append(self._ALPHABET[(packed & 63) - 1])
            packed >>= 6
        return SealedId("".join(chars), expires_at)


class RecoveryDesk:
    def __init__(
        self,
        store: Store,
        guard: LockoutGuard,
        hasher: AsyncPasswordHasher,
        policy: PasswordPolicy,
        sessions: SessionRegistry,
        notifier: Notifier,
        ibkey: IbKeyService,
        clock: Clock,
        events: EventBus,
        *,
        api_keys: ApiKeyRegistry,
        config: Config | None = None,
        bucket_clock: Clock | None = None,
    ) -> None:
        """``bucket_clock``: the time the buckets refill on (default
        ``clock``; under a test clock, a ``RefillClock``)."""
        config = config if config is not None else Config()
        limits, admission = config.recovery, config.login_admission
        self._store = store
        self._api_keys = api_keys
        self._guard = guard
        self._hasher = hasher
        self._policy = policy
        self._sessions = sessions
        self._notifier = notifier
        self._ibkey = ibkey
        self._clock = clock
        self._bucket_clock = bucket_clock or clock
        self._events = events
        self._ids = RecoveryIds()
        self._open: OrderedDict[str, Recovery] = OrderedDict()  # oldest first
        self._pending: Counter[str] = Counter()  # open, unused, by user
        self._pending_per_user = limits.pending_per_user
        self._max_pending = limits.max_pending
        self._ipv6_prefix = config.http.ipv6_prefix
        keys = config.rate_limits.max_keys
        self._per_ip = _fastcore.TokenBuckets(
            admission.recovery_rate, admission.recovery_burst, keys
        )
        self._per_name = _fastcore.TokenBuckets(
            limits.user_per_hour / HOUR, limits.user_burst, keys
        )
        self._per_destination = _fastcore.TokenBuckets(
            limits.destination_per_hour / HOUR, limits.destination_burst, keys
        )

    async def start_password_reset(self, username: str, *, ip: str) -> str:
        self._take(self._per_ip, client_group(ip, self._ipv6_prefix), username, ip)
        check_username(username)
        self._take(self._per_name, username, username, ip)
        now = self._clock.now()
        self._forget_expired(now)
        recovery_id = self._ids.new(username, now + CODE_SECONDS)
        user = await self._store.get_user(username)
        if user is not None:
            await self._open_for(user, recovery_id, now, ip)
        self._events.emit("recovery_started", now, username, ip=ip, known=user is not None)
        return recovery_id

    async def _open_for(self, user: User, recovery_id: str, now: float, ip: str) -> None:
        username = user.username
        phones = [d for d in await self._store.devices_of(username) if d.type == "ibkey"]
        # No await from here on: the bounds checked are the bounds kept.
        if self._pending[username] >= self._pending_per_user or (
            len(self._open) >= self._max_pending
        ):
            self._events.emit("recovery_refused", now, username, ip=ip, reason="pending")
            return
        code = f"{secrets.randbelow(10**6):06d}"
        recovery = Recovery(username, code, now + CODE_SECONDS)
        if phones:
            approval = recovery.approval = PushTicket.new(phones[0], now, CODE_SECONDS)
            if not self._ibkey.register_for_recovery(approval, ip):
                self._events.emit("recovery_refused", now, username, ip=ip, reason="pending")
                return
        self._open[recovery_id] = recovery
        self._pending[username] += 1
        to, channel = (user.email, "email") if user.email else (user.phone, "sms")
        if to and self._per_destination.take(to, self._bucket_clock.now()):
            text = f"Your password reset code is {code}. If you did not ask, ignore this."
            self._notifier.send(channel, to, text, code, user=username)  # type: ignore[arg-type]

    async def finish_password_reset(
        self, recovery_id: str, code: str, new_password: str, *, ip: str
    ) -> int:
        """Set the new password; returns how many API keys were revoked."""
        now = self._clock.now()
        self._forget_expired(now)
        sealed = self._ids.open(recovery_id)
        recovery = self._open.get(recovery_id)
        if sealed is None or now >= sealed.expires_at or (recovery is not None and recovery.used):
            raise NotFound("unknown or expired recovery")
        self._policy.check(new_password)
        username = sealed.username
        attempt = await self._guard.reserve(username)  # Locked, RateLimited
        matched = recovery is not None and _fastcore.ct_equal(code, recovery.code)
        await self._guard.settle(attempt, Outcome.RELEASED if matched else Outcome.FAILED)
        if recovery is None or not matched:
            if recovery is not None:
                recovery.tries += 1
                if recovery.tries >= TRIES:
                    self._end(recovery_id, recovery)  # its id answers as a stranger's now
            self._events.emit("recovery_failed", now, username, ip=ip)
            raise LoginFailed()
        approval = recovery.approval
        if approval is not None and approval.decision != "approve":
            raise Forbidden(
                "The IB Key must approve this reset first"
                if approval.decision is None
                else "The IB Key denied this reset"
            )
        recovery.used = True  # kept, so a second use is not_found, until it expires
        self._unpend(username)
        if approval is not None:
            self._ibkey.withdraw(approval)
        await self._store.set_password_hash(username, await self._hasher.hash(new_password))
        # Sessions first: none of them can mint a key while the keys go.
        for session in self._sessions.sessions(username):
            self._sessions.end(session.session_id)
        revoked = await self._api_keys.revoke_all(username, by="password_reset")
        self._events.emit("password_reset", now, username, ip=ip, api_keys_revoked=revoked)
        return revoked

    async def send_username(self, email: str, *, ip: str = "unknown") -> None:
        """Send the username of the user with this e-mail, if there is one."""
        self._take(self._per_ip, client_group(ip, self._ipv6_prefix), "", ip)
        now = self._clock.now()
        try:
            address = normalize_email(email)
        except BadRequest:
            address = None  # the same answer as for an unknown address
        if address is not None and self._per_destination.take(address, self._bucket_clock.now()):
            for user in await self._store.users_with_email(address):
                text = f"Your username is {user.username}."
                self._notifier.send("email", address, text, None, user=user.username)
        self._events.emit("username_recovery", now, "", known=None)

    def _take(self, buckets: _fastcore.TokenBuckets, key: str, username: str, ip: str) -> None:
        at = self._bucket_clock.now()
        if not buckets.take(key, at):
            self._events.emit(
                "recovery_refused", self._clock.now(), username, ip=ip, reason="rate_limited"
            )
            raise RateLimited(buckets.retry_after(key, at), "Too many recovery requests")

    def _end(self, recovery_id: str, recovery: Recovery) -> None:
        """Out of the open ones: its code no longer works, its phone no
        longer asked."""
        if self._open.pop(recovery_id, None) is not None and not recovery.used:
            self._unpend(recovery.username)
        if recovery.approval is not None:
            self._ibkey.withdraw(recovery.approval)

    def _unpend(self, username: str) -> None:
        self._pending[username] -= 1
        if self._pending[username] <= 0:
            del self._pending[username]

    def _forget_expired(self, now: float) -> None:
        # Every recovery lives CODE_SECONDS: the oldest is first.
        while self._open:
            recovery_id, recovery = next(iter(self._open.items()))
            if now < recovery.expires_at:
                return
            self._end(recovery_id, recovery)
