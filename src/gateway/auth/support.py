"""Support actions (the admin API's core): users, accounts, TOTP enrolment,
unlock, sessions.

The admin API is a separate, authenticated listener, so its answers may say
that a user does not exist.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field

from gateway.auth.apikeys import ApiKeyRegistry, NewApiKey
from gateway.auth.contacts import normalize_email, normalize_phone
from gateway.auth.events import EventBus
from gateway.auth.factors import totp
from gateway.auth.lockout import LockoutGuard, LockStatus
from gateway.auth.passwords import AsyncPasswordHasher, PasswordPolicy, check_username
from gateway.auth.sessions import Session, SessionRegistry
from gateway.clock import Clock
from gateway.config import TotpConfig
from gateway.errors import BadRequest, NotFound
from gateway.store.base import AlreadyExists, ApiKeyScope, Device, Store, User

_ACCOUNT_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")


@dataclass(frozen=True, slots=True)
class TotpEnrolment:
    """Shown once to the person enrolling; never logged."""

    device: Device
    secret_base32: str = field(repr=False)
    otpauth_uri: str = field(repr=False)


class SupportDesk:
    def __init__(
        self,
        *,
        store: Store,
        hasher: AsyncPasswordHasher,
        policy: PasswordPolicy,
        guard: LockoutGuard,
        sessions: SessionRegistry,
        clock: Clock,
        totp_config: TotpConfig | None = None,
        events: EventBus | None = None,
        api_keys: ApiKeyRegistry | None = None,
    ) -> None:
        self._events = events if events is not None else EventBus()
        self.api_keys = api_keys if api_keys is not None else ApiKeyRegistry(store, clock)
        self._store = store
        self._hasher = hasher
        self._policy = policy
        self._guard = guard
        self._sessions = sessions
        self._clock = clock
        self._totp = totp_config if totp_config is not None else TotpConfig()

    async def create_user(
        self,
        username: str,
        password: str,
        *,
        account_id: str | None = None,
        email: str | None = None,
        phone: str | None = None,
    ) -> User:
        """Create a user, in ``account_id`` (created if new) or in a new
        account of its own. Raises ``BadCharacter``, ``WeakPassword`` or
        ``AlreadyExists``."""
        check_username(username)
        self._policy.check(password)
        email = normalize_email(email) if email is not None else None
        phone = normalize_phone(phone) if phone is not None else None
        if await self._store.get_user(username) is not None:
            raise AlreadyExists("user already exists")
        account = await self._account(account_id)
        password_hash = await self._hasher.hash(password)
        user = await self._store.create_user(
            username, account, password_hash, email, phone, self._clock.now()
        )
        self._emit("user_created", username, account=account, by="support")
        return user

    async def set_password(self, username: str, password: str) -> None:
        await self._user(username)
        self._policy.check(password)
        await self._store.set_password_hash(username, await self._hasher.hash(password))

    async def enrol_totp(self, username: str, label: str | None = None) -> TotpEnrolment:
        await self._user(username)
        secret = totp.new_secret()
        device = await self._store.add_device(username, "totp", secret, label, self._clock.now())
        self._emit("device_enrolled", username, device=device.device_id, type="totp", by="support")
        return TotpEnrolment(
            device,
            totp.secret_to_base32(secret),
            totp.otpauth_uri(secret, username, self._totp),
        )

    async def user(self, username: str) -> User:
        """The user record; ``NotFound`` if there is none."""
        return await self._user(username)

    async def devices(self, username: str) -> list[Device]:
        await self._user(username)
        return await self._store.devices_of(username)

    async def remove_device(self, username: str, device_id: str) -> None:
        devices = await self.devices(username)
        if not any(d.device_id == device_id for d in devices):
            raise NotFound("no such device")
        await self._store.remove_device(device_id)
        self._emit("device_removed", username, device=device_id, by="support")

    async def unlock(self, username: str) -> None:
        await self._user(username)
        await self._guard.unlock(username)
        self._emit("unlocked", username, by="support")

    async def lock_status(self, username: str) -> LockStatus:
        await self._user(username)
        return await self._guard.status(username)

    async def sessions(self, username: str | None = None) -> list[Session]:
        return self._sessions.sessions(username)

    async def end_session(self, session_id: str) -> None:
        session = self._sessions.get(session_id)
        if session is None or not self._sessions.end(session_id):
            raise NotFound("no such session")
        self._emit("session_ended", session.username, session=session_id[:16], by="support")

    async def create_api_key(
        self,
        username: str,
        name: str,
        scopes: Sequence[ApiKeyScope],
        *,
        by: str,
        rate: float | None = None,
        burst: float | None = None,
    ) -> NewApiKey:
        user = await self._user(username)
        new = await self.api_keys.create(
            username, user.account_id, name, scopes, created_by=by, rate=rate, burst=burst
        )
        self._emit("api_key_created", username, key_id=new.record.key_id, by=by)
        return new

    async def revoke_api_key(self, key_id: str, *, username: str | None, by: str) -> None:
        record = await self.api_keys.revoke(key_id, username)
        self._emit("api_key_revoked", record.username, key_id=key_id, by=by)

    def _emit(self, kind: str, username: str, **fields: object) -> None:
        self._events.emit(kind, self._clock.now(), username, **fields)

    async def _user(self, username: str) -> User:
        check_username(username)
        user = await self._store.get_user(username)
        if user is None:
            raise NotFound("no such user")
        return user

    async def _account(self, account_id: str | None) -> str:
        now = self._clock.now()
        if account_id is not None:
            if _ACCOUNT_ID.fullmatch(account_id) is None:
                raise BadRequest("account ids are 1 to 32 letters, digits, '-' or '_'")
            if await self._store.get_account(account_id) is None:
                await self._store.create_account(account_id, None, now)
            return account_id
        while True:
            # Broker-style ids (U + 7 digits); retry the rare collision.
            candidate = f"U{secrets.randbelow(10**7):07d}"
            if await self._store.get_account(candidate) is None:
                await self._store.create_account(candidate, None, now)
                return candidate
