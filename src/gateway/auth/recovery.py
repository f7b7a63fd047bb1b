"""Recovery (SPEC 6): a forgotten password or username.

- ``POST /v1/recovery/password {username}`` answers ``202 {recovery_id}``
  whether or not the user exists, and at once either way (no hash, and the
  notifier only queues): a recovery is opened for any well-formed name, and
  only a real user's gets a code, sent to the e-mail on record (else the
  phone). With an IB Key active, the phone must also approve the reset (a
  push, as at login).
- ``POST /v1/recovery/password/{id} {code, new_password}`` sets the new
  password under the policy, ends every session of the user and revokes
  every API key of the user (whoever held the account before the reset
  opened and minted them). A code is good once and for ``CODE_SECONDS``; a
  wrong one counts toward the lockout like a failed login, and ``TRIES``
  wrong ones end the recovery.
- ``POST /v1/recovery/username {email}`` sends the username to that e-mail
  if a user has it; the answer is the same either way.

Recoveries live in memory, expire on the clock and are bounded overall.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from dataclasses import dataclass, field

import _fastcore
from gateway.auth.apikeys import ApiKeyRegistry
from gateway.auth.contacts import normalize_email
from gateway.auth.events import EventBus
from gateway.auth.factors.ibkey import PushTicket
from gateway.auth.ibkey import IbKeyService
from gateway.auth.lockout import LockoutGuard, Outcome
from gateway.auth.passwords import AsyncPasswordHasher, PasswordPolicy, check_username
from gateway.auth.sessions import SessionRegistry
from gateway.clock import Clock
from gateway.errors import BadRequest, Forbidden, LoginFailed, NotFound
from gateway.notify import Notifier
from gateway.store.base import Store

CODE_SECONDS = 900.0
TRIES = 3
MAX_RECOVERIES = 10_000


@dataclass(eq=False)
class Recovery:
    username: str
    code: str = field(repr=False)  # "" for a name nobody has: nothing matches it
    expires_at: float
    real: bool
    tries: int = 0
    approval: PushTicket | None = None  # the IB Key's, when one is active


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
    ) -> None:
        self._store = store
        self._api_keys = api_keys
        self._guard = guard
        self._hasher = hasher
        self._policy = policy
        self._sessions = sessions
        self._notifier = notifier
        self._ibkey = ibkey
        self._clock = clock
        self._events = events
        self._open: OrderedDict[str, Recovery] = OrderedDict()

    async def start_password_reset(self, username: str, *, ip: str) -> str:
        check_username(username)
        now = self._clock.now()
        self._forget_expired(now)
        while len(self._open) >= MAX_RECOVERIES:
            self._open.popitem(last=False)
        user = await self._store.get_user(username)
        code = f"{secrets.randbelow(10**6):06d}"
        recovery_id = secrets.token_urlsafe(18)
        recovery = Recovery(username, code if user else "", now + CODE_SECONDS, user is not None)
        self._open[recovery_id] = recovery
        if user is not None:
            to, channel = (user.email, "email") if user.email else (user.phone, "sms")
            if to:
                text = f"Your password reset code is {code}. If you did not ask, ignore this."
                self._notifier.send(channel, to, text, code)  # type: ignore[arg-type]
            for device in await self._store.devices_of(username):
                if device.type == "ibkey":
                    recovery.approval = PushTicket.new(device, now, CODE_SECONDS)
                    self._ibkey.register(recovery.approval, "password-reset", ip)
        self._events.emit("recovery_started", now, username, ip=ip, known=user is not None)
        return recovery_id

    async def finish_password_reset(
        self, recovery_id: str, code: str, new_password: str, *, ip: str
    ) -> int:
        """Set the new password; returns how many API keys were revoked."""
        now = self._clock.now()
        recovery = self._open.get(recovery_id)
        if recovery is None or now >= recovery.expires_at:
            self._open.pop(recovery_id, None)
            raise NotFound("unknown or expired recovery")
        self._policy.check(new_password)
        username = recovery.username
        attempt = await self._guard.reserve(username)  # Locked, RateLimited
        matched = recovery.real and _fastcore.ct_equal(code, recovery.code)
        await self._guard.settle(attempt, Outcome.RELEASED if matched else Outcome.FAILED)
        if not matched:
            recovery.tries += 1
            if recovery.tries >= TRIES:
                del self._open[recovery_id]
            self._events.emit("recovery_failed", now, username, ip=ip)
            raise LoginFailed()
        approval = recovery.approval
        if approval is not None and approval.decision != "approve":
            raise Forbidden(
                "The IB Key must approve this reset first"
                if approval.decision is None
                else "The IB Key denied this reset"
            )
        del self._open[recovery_id]
        await self._store.set_password_hash(username, await self._hasher.hash(new_password))
        # Sessions first: none of them can mint a key while the keys go.
        for session in self._sessions.sessions(username):
            self._sessions.end(session.session_id)
        revoked = await self._api_keys.revoke_all(username, by="password_reset")
        self._events.emit("password_reset", now, username, ip=ip, api_keys_revoked=revoked)
        return revoked

    async def send_username(self, email: str) -> None:
        """Send the username of the user with this e-mail, if there is one."""
        try:
            address = normalize_email(email)
        except BadRequest:
            return  # the same answer as for an unknown address
        for user in await self._store.users_with_email(address):
            self._notifier.send("email", address, f"Your username is {user.username}.", None)
        self._events.emit("username_recovery", self._clock.now(), "", known=None)

    def _forget_expired(self, now: float) -> None:
        for key in [k for k, r in self._open.items() if now >= r.expires_at]:
            del self._open[key]
