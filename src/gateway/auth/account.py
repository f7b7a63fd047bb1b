"""Where a user's messages go: changing the e-mail and phone on record.

- Support (``PATCH /admin/v1/users/{u}``) sets either or both, checked as at
  creation (``contacts.py``): the way a user who started with neither gets a
  phone for the IB Key's activation token.
- The user changes their own e-mail from a full session
  (``POST /v1/account/email``): with access to the old address, a 6-digit
  code goes there and ``POST /v1/account/email/confirm {code}`` makes the
  change; without it, the current password (checked as a login checks it:
  buckets, lockout, one Argon2id hash off the event loop) makes it at once.
  A code is good once and for ``CODE_SECONDS``; a wrong one counts toward
  the lockout like a failed login, and ``TRIES`` of them end the change. A
  new request replaces the user's pending one.

Whatever the way, the old address is told (an e-mail to the old e-mail, an
SMS to the old phone) with the new one partly hidden, so a change the owner
did not make does not go unnoticed. The audit event, ``contacts_changed``,
says which fields changed, by whom and how, never an address (the audit log
holds no contact details).
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from dataclasses import dataclass, field

import _fastcore
from gateway.auth.contacts import normalize_email, normalize_phone
from gateway.auth.events import EventBus
from gateway.auth.flow import LoginFlow
from gateway.auth.lockout import LockoutGuard, Outcome
from gateway.auth.passwords import check_username
from gateway.clock import Clock
from gateway.errors import BadRequest, LoginFailed, NotFound
from gateway.notify import Notifier
from gateway.store.base import Store, User

CODE_SECONDS = 900.0
TRIES = 3
MAX_PENDING = 10_000


@dataclass(eq=False)
class EmailChange:
    new_email: str
    old_email: str  # where the code went: void if the record changes meanwhile
    code: str = field(repr=False)
    expires_at: float
    tries: int = 0


def masked(address: str) -> str:
    """Enough of an address for its owner to recognize it, not to copy it:
    ``j***@example.com``, ``+1*******4567``."""
    if "@" in address:
        local, _, domain = address.partition("@")
        return f"{local[:1]}***@{domain}"
    return address[:2] + "*" * max(0, len(address) - 6) + address[-4:]


class AccountDesk:
    def __init__(
        self,
        store: Store,
        flow: LoginFlow,
        guard: LockoutGuard,
        notifier: Notifier,
        clock: Clock,
        events: EventBus,
    ) -> None:
        self._store = store
        self._flow = flow
        self._guard = guard
        self._notifier = notifier
        self._clock = clock
        self._events = events
        self._pending: OrderedDict[str, EmailChange] = OrderedDict()  # by username

    async def change_contacts(
        self, username: str, *, email: str | None = None, phone: str | None = None
    ) -> User:
        """Support sets the e-mail and/or phone on record; ``NotFound`` for
        an unknown user, ``bad_request`` for an address messages cannot
        reach."""
        if email is None and phone is None:
            raise BadRequest("give email, phone or both")
        check_username(username)
        user = await self._store.get_user(username)
        if user is None:
            raise NotFound("no such user")
        return await self._change(
            user,
            normalize_email(email) if email is not None else user.email,
            normalize_phone(phone) if phone is not None else user.phone,
            by="support",
            proof="support",
        )

    async def request_email_change(
        self, username: str, new_email: str, password: str | None, *, ip: str
    ) -> User | float:
        """The user asks for ``new_email``. With ``password``: checked like a
        login, then changed (returns the user). Without: a code goes to the
        e-mail on record (returns how long it is good)."""
        address = normalize_email(new_email)
        user = await self._user(username)
        if address == user.email:
            raise BadRequest("that is the e-mail on record already")
        if password is not None:
            await self._flow.check_password(username, password, ip=ip)  # counts when wrong
            self._pending.pop(username, None)
            return await self._change(user, address, user.phone, by="user", proof="password")
        if user.email is None:
            raise BadRequest("there is no e-mail on record for a code: give the password")
        now = self._clock.now()
        self._forget_expired(now)
        while len(self._pending) >= MAX_PENDING:
            self._pending.popitem(last=False)
        code = f"{secrets.randbelow(10**6):06d}"
        self._pending.pop(username, None)
        self._pending[username] = EmailChange(address, user.email, code, now + CODE_SECONDS)
        text = (
            f"Your code to change this account's e-mail to {masked(address)} is {code}. "
            "If you did not ask, change your password."
        )
        self._notifier.send("email", user.email, text, code)
        self._emit("email_change_requested", username, ip=ip)
        return CODE_SECONDS

    async def confirm_email_change(self, username: str, code: str, *, ip: str) -> User:
        """Make the pending change with its code. ``NotFound`` when none is
        pending (or it expired, or was used), ``LoginFailed`` for a wrong
        code (counted)."""
        now = self._clock.now()
        change = self._pending.get(username)
        if change is None or now >= change.expires_at:
            self._pending.pop(username, None)
            raise NotFound("no e-mail change is waiting for a code")
        attempt = await self._guard.reserve(username)  # Locked, RateLimited
        matched = _fastcore.ct_equal(code, change.code)
        await self._guard.settle(attempt, Outcome.RELEASED if matched else Outcome.FAILED)
        if not matched:
            change.tries += 1
            if change.tries >= TRIES and self._pending.get(username) is change:
                del self._pending[username]
            self._emit("email_change_failed", username, ip=ip)
            raise LoginFailed()
        if self._pending.get(username) is not change:
            raise NotFound("no e-mail change is waiting for a code")  # used meanwhile
        del self._pending[username]
        user = await self._user(username)
        if user.email != change.old_email:
            raise NotFound("the e-mail on record changed since the code was sent")
        return await self._change(user, change.new_email, user.phone, by="user", proof="code")

    async def _change(
        self, user: User, email: str | None, phone: str | None, *, by: str, proof: str
    ) -> User:
        changed = [
            name
            for name, old, new in (("email", user.email, email), ("phone", user.phone, phone))
            if old != new
        ]
        if not changed:
            return user
        updated = await self._store.set_contacts(user.username, email, phone)
        told = []
        if user.email is not None and user.email != email:
            shown = masked(email) if email is not None else "none"
            self._notifier.send(
                "email",
                user.email,
                f"The e-mail address of {user.username} was changed to {shown}. "
                "If you did not do this, contact support at once.",
            )
            told.append("email")
        if user.phone is not None and user.phone != phone:
            shown = masked(phone) if phone is not None else "none"
            self._notifier.send(
                "sms",
                user.phone,
                f"The phone number of {user.username} was changed to {shown}. "
                "If you did not do this, contact support at once.",
            )
            told.append("sms")
        self._emit(
            "contacts_changed", user.username, changed=changed, by=by, proof=proof, told=told
        )
        return updated

    async def _user(self, username: str) -> User:
        user = await self._store.get_user(username)
        if user is None:  # a session's user, removed meanwhile
            raise NotFound("no such user")
        return user

    def _emit(self, kind: str, username: str, **fields: object) -> None:
        self._events.emit(kind, self._clock.now(), username, **fields)

    def _forget_expired(self, now: float) -> None:
        for key in [k for k, c in self._pending.items() if now >= c.expires_at]:
            del self._pending[key]
