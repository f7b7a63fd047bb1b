"""Passkey registration and removal from a user's own session.

    POST   /v1/passkeys {}              -> creation options (one ceremony per session)
    POST   /v1/passkeys {credential}    -> the new passkey (a ``passkey`` device)
    GET    /v1/passkeys                 -> the user's passkeys
    DELETE /v1/passkeys/{device_id}

Only a full session registers or removes one (the HTTP layer refuses a
session limited to printing the online card), and a session opened by an
interim credential (a temporary passcode or the online card) registers
none: a passkey added then would outlast the reactivation that ends them.

Each user has one WebAuthn user handle (32 random bytes, kept as a store
setting), so an authenticator holding a resident key for the user replaces
it rather than adding a second. A credential id is registered to one
account only (a store setting keyed by its SHA-256 names the device holding
it).

A new passkey is announced on the e-mail on record, so an added passkey
never goes unnoticed.
"""

from __future__ import annotations

import hashlib
import os
from collections import OrderedDict
from typing import Any

from gateway.auth.events import EventBus
from gateway.auth.factors.interim import INTERIM_METHODS
from gateway.auth.factors.passkey import (
    Ceremony,
    PasskeySecret,
    creation_options,
    passkey_of,
    registered,
    seal_form,
)
from gateway.auth.sessions import Session, SessionRegistry
from gateway.clock import Clock
from gateway.config import PasskeyConfig
from gateway.encoding import b64u, from_b64u
from gateway.errors import BadRequest, Forbidden, NotFound
from gateway.notify import Notifier
from gateway.store.base import Device, Store

METHOD = "passkey"
USER_HANDLE = "passkey_user:"  # store setting: the user's WebAuthn user handle, b64u
# store setting, by the SHA-256 of a credential id: the device holding it
CREDENTIAL = "passkey_credential:"
MAX_CEREMONIES = 10_000


class PasskeyDesk:
    def __init__(
        self,
        store: Store,
        config: PasskeyConfig,
        clock: Clock,
        events: EventBus,
        sessions: SessionRegistry,
        notifier: Notifier | None = None,
    ) -> None:
        self._sessions = sessions
        self._store = store
        self._config = config
        self._clock = clock
        self._events = events
        self._notifier = notifier
        self._ceremonies: OrderedDict[str, Ceremony] = OrderedDict()  # by session id

    async def options(self, session: Session) -> dict[str, Any]:
        """Start a registration: the options for ``navigator.credentials
        .create()``. A new request replaces the session's unfinished one."""
        self._may_register(session)
        existing = await self.passkeys(session.username)
        self._room_for_one(existing)
        handle = await self._user_handle(session.username)
        now = self._clock.now()
        options, ceremony = creation_options(
            self._config, handle, session.username, [s for _, s in existing], now
        )
        self._ceremonies.pop(session.session_id, None)
        while len(self._ceremonies) >= MAX_CEREMONIES:
            self._ceremonies.popitem(last=False)
        self._ceremonies[session.session_id] = ceremony
        return options

    async def register(
        self, session: Session, credential: str | dict[str, Any], label: str | None
    ) -> tuple[Device, PasskeySecret]:
        """Finish the session's registration with the authenticator's
        credential; the ceremony is spent whatever the outcome."""
        self._may_register(session)
        ceremony = self._ceremonies.pop(session.session_id, None)
        now = self._clock.now()
        if ceremony is None or now >= ceremony.expires_at:
            raise NotFound("no passkey registration is waiting: ask for options first")
        username = session.username
        handle = await self._user_handle(username)
        secret, sign_count = registered(self._config, credential, ceremony, handle)
        existing = await self.passkeys(username)
        held_by = _held_by(secret.credential_id)
        holder = await self._store.get_setting(held_by)
        if any(s.credential_id == secret.credential_id for _, s in existing) or (
            holder and await self._store.get_device(holder) is not None
        ):
            # WebAuthn 7.1 step 26: a credential id belongs to one account.
            raise BadRequest("credential: this passkey is registered already")
        self._room_for_one(existing)
        device = await self._store.add_device(
            username, METHOD, seal_form(secret), label or "passkey", now
        )
        await self._store.put_setting(held_by, device.device_id)
        if sign_count > 0:
            await self._store.claim_counter(device.device_id, sign_count)
        self._events.emit("device_added", now, username, device=device.device_id, type=METHOD)
        await self._announce(username, device.label or "passkey")
        return device, secret

    async def remove(self, session: Session, device_id: str) -> int:
        """Remove one of the user's passkeys and end the sessions it opened
        (this one too, if it did); returns how many ended."""
        found = [s for d, s in await self.passkeys(session.username) if d.device_id == device_id]
        if not found or not await self._store.remove_device(device_id):
            raise NotFound("no such passkey")
        await self._store.put_setting(_held_by(found[0].credential_id), "")
        ended = self._sessions.end_by_device(session.username, device_id)
        self._events.emit(
            "device_removed",
            self._clock.now(),
            session.username,
            device=device_id,
            by="user",
            sessions_ended=ended,
        )
        return ended

    def _may_register(self, session: Session) -> None:
        if session.method in INTERIM_METHODS:
            raise Forbidden("Reactivate your security device before adding a passkey")

    def _room_for_one(self, existing: list[tuple[Device, PasskeySecret]]) -> None:
        if len(existing) >= self._config.max_per_user:
            raise Forbidden(f"At most {self._config.max_per_user} passkeys; remove one first")

    async def passkeys(self, username: str) -> list[tuple[Device, PasskeySecret]]:
        found = []
        for device in await self._store.devices_of(username):
            secret = passkey_of(device) if device.type == METHOD else None
            if secret is not None:
                found.append((device, secret))
        return found

    async def _user_handle(self, username: str) -> bytes:
        stored = await self._store.get_setting(USER_HANDLE + username)
        if stored:
            try:
                return from_b64u(stored)
            except ValueError:
                pass
        handle = os.urandom(32)
        await self._store.put_setting(USER_HANDLE + username, b64u(handle))
        return handle

    async def _announce(self, username: str, label: str) -> None:
        user = await self._store.get_user(username)
        if self._notifier is None or user is None or not user.email:
            return
        text = (
            f"A passkey ({label}) was added to your account. "
            "If this was not you, call client services at once."
        )
        self._notifier.send("email", user.email, text)


def _held_by(credential_id: bytes) -> str:
    """The store setting naming the device that holds ``credential_id``."""
    return CREDENTIAL + b64u(hashlib.sha256(credential_id).digest())
