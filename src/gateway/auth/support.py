"""Support actions (the admin API's core): users, accounts, TOTP enrolment,
cards (shipped ones pending until activated: ``shipments.py``), unlock,
sessions.

The admin API is a separate, authenticated listener, so its answers may say
that a user does not exist.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field

import msgspec

from _fastcore import ct_equal
from gateway.auth.apikeys import ApiKeyRegistry, NewApiKey
from gateway.auth.contacts import normalize_email, normalize_phone
from gateway.auth.events import EventBus
from gateway.auth.factors import totp
from gateway.auth.factors.base import Challenge, Factor
from gateway.auth.factors.cards import (
    CARD_TYPES,
    CardSecret,
    card_of,
    check_card_pin,
    new_card,
    seal_form,
)
from gateway.auth.factors.grid import Grid, grid_of, new_grid
from gateway.auth.factors.grid import seal_form as grid_form
from gateway.auth.factors.ibkey import ibkey_of, valid_pin
from gateway.auth.factors.ibkey import seal_form as ibkey_form
from gateway.auth.factors.interim import (
    INTERIM_METHODS,
    OnlineGrid,
    Passcode,
    new_online_card,
    new_passcode,
)
from gateway.auth.factors.interim import seal_form as interim_form
from gateway.auth.flow import SUSPENDED
from gateway.auth.lockout import LockoutGuard, LockStatus, Outcome
from gateway.auth.passwords import AsyncPasswordHasher, PasswordPolicy, check_username
from gateway.auth.sessions import Session, SessionRegistry
from gateway.auth.shipments import (
    SHIPPABLE,
    SHIPPED,
    Shipment,
    new_shipment,
    pending_ids,
    shipment_of,
)
from gateway.auth.shipments import seal_form as shipment_form
from gateway.clock import Clock
from gateway.config import DevicesConfig, TotpConfig
from gateway.errors import BadRequest, Forbidden, LoginFailed, NotFound, Unauthenticated
from gateway.store.base import AlreadyExists, ApiKeyScope, Device, Store, User

_ACCOUNT_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")


@dataclass(frozen=True, slots=True)
class TotpEnrolment:
    """Shown once to the person enrolling; never logged."""

    device: Device
    secret_base32: str = field(repr=False)
    otpauth_uri: str = field(repr=False)


LAST_INTERIM = "last_interim:"  # store setting: the user's last interim credential


@dataclass(frozen=True, slots=True)
class CardEnrolment:
    """An OCRA card as support hands it out: shown once; never logged."""

    device: Device
    card: CardSecret = field(repr=False)
    pin_shown: str | None = field(default=None, repr=False)  # made here, shown once


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
        devices: DevicesConfig | None = None,
    ) -> None:
        self._devices_config = devices if devices is not None else DevicesConfig()
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

    async def set_password(self, username: str, password: str) -> int:
        """Set a new password, as a recovery would: whoever held the account
        before may have opened its sessions and minted its API keys, so the
        sessions end and the keys are revoked. Returns how many keys."""
        await self._user(username)
        self._policy.check(password)
        await self._store.set_password_hash(username, await self._hasher.hash(password))
        for session in self._sessions.sessions(username):
            self._sessions.end(session.session_id)
        revoked = await self.api_keys.revoke_all(username, by="support")
        self._emit("password_set", username, by="support", api_keys_revoked=revoked)
        return revoked

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

    async def enrol_card(
        self,
        username: str,
        kind: str,
        *,
        pin: str | None = None,
        secret: str | None = None,
        label: str | None = None,
        deliver_at: float | None = None,
    ) -> CardEnrolment:
        """Issue an OCRA card (``dscplus``, ``platinum``, ``gold``, ``dsc``):
        a new key, or ``secret`` (b64u) for a card made elsewhere; the given
        PIN, or a new one shown once. With ``deliver_at`` it is shipped:
        pending until activated (``shipments.py``)."""
        await self._user(username)
        card_type = CARD_TYPES.get(kind)
        if card_type is None:
            raise BadRequest(f"{kind!r} is not a card type")
        card, shown = new_card(card_type, pin=pin, key_b64u=secret)
        device = await self._store.add_device(
            username, kind, seal_form(card), label or card.serial, self._clock.now()
        )
        await self._ship(device, deliver_at)
        self._emit("device_enrolled", username, device=device.device_id, type=kind, by="support")
        return CardEnrolment(device, card, shown)

    async def enrol_code_card(
        self, username: str, label: str | None = None, deliver_at: float | None = None
    ) -> tuple[Device, Grid]:
        """Issue a Security Code Card: a new grid of codes (shipped, with
        ``deliver_at``)."""
        await self._user(username)
        grid = new_grid()
        device = await self._store.add_device(
            username, "scc", grid_form(grid), label, self._clock.now()
        )
        await self._ship(device, deliver_at)
        self._emit("device_enrolled", username, device=device.device_id, type="scc", by="support")
        return device, grid

    async def _ship(self, device: Device, deliver_at: float | None) -> None:
        if deliver_at is None:
            return
        if device.type not in SHIPPABLE:
            raise BadRequest(f"a {device.type} device is not shipped")
        shipment = new_shipment(deliver_at, self._devices_config.auto_activate_days)
        await self._store.put_setting(SHIPPED + device.device_id, shipment_form(shipment))

    async def shipment(self, device: Device) -> Shipment | None:
        """The device's shipment while it is pending, else ``None``."""
        pending = await pending_ids(self._store, [device], self._clock.now())
        return await shipment_of(self._store, device.device_id) if pending else None

    async def pending_devices(self, username: str) -> set[str]:
        """The user's shipped devices not active yet."""
        return await pending_ids(self._store, await self.devices(username), self._clock.now())

    async def code_card(self, username: str, device_id: str) -> Grid:
        """A user's code card, to print (support only)."""
        for device in await self.devices(username):
            if device.device_id == device_id and device.type == "scc":
                grid = grid_of(device)
                if grid is not None:
                    return grid
        raise NotFound("no such code card")

    async def issue_temporary_passcode(self, username: str) -> Passcode:
        """A temporary passcode (SPEC 4): the user's security devices are
        suspended until one is reactivated. ``forbidden`` when the user's
        previous interim credential was a temporary passcode too."""
        await self._user(username)
        if await self._store.get_setting(LAST_INTERIM + username) == "temp_passcode":
            raise Forbidden(
                "The previous interim credential was a temporary passcode: reactivate a "
                "security device first"
            )
        now = self._clock.now()
        for device in await self._store.devices_of(username):
            if device.type in INTERIM_METHODS:
                await self._store.remove_device(device.device_id)
        passcode = new_passcode(now)
        await self._store.add_device(username, "temp_passcode", interim_form(passcode), None, now)
        await self._store.put_setting(LAST_INTERIM + username, "temp_passcode")
        await self._store.put_setting(SUSPENDED + username, "1")
        self._emit("temporary_passcode_issued", username, by="support")
        return passcode

    async def print_online_card(self, username: str) -> OnlineGrid:
        """A new online security card (it replaces any earlier one)."""
        now = self._clock.now()
        for device in await self._store.devices_of(username):
            if device.type == "online_card":
                await self._store.remove_device(device.device_id)
        card = new_online_card(now)
        await self._store.add_device(username, "online_card", interim_form(card), None, now)
        self._emit("online_card_printed", username)
        return card

    async def reactivate(self, username: str, device_id: str) -> int:
        """Bring the suspended security devices back: the temporary passcode
        and the online card stop working at once, with every session they
        opened. Returns how many sessions ended."""
        devices = await self.devices(username)
        if not any(d.device_id == device_id and d.type not in INTERIM_METHODS for d in devices):
            raise NotFound("no such security device")
        for device in devices:
            if device.type in INTERIM_METHODS:
                await self._store.remove_device(device.device_id)
        await self._store.put_setting(SUSPENDED + username, "")
        await self._store.put_setting(LAST_INTERIM + username, "")
        ended = self._sessions.end_by_method(username, INTERIM_METHODS)
        self._emit("device_reactivated", username, device=device_id, sessions_ended=ended)
        return ended

    async def reactivate_by_proof(
        self,
        username: str,
        device_id: str,
        factor: Factor,
        response: str | None,
        challenge: Challenge | None,
    ) -> tuple[Challenge | None, int | None]:
        """The user reactivates a security device by using it: without a
        ``response``, the challenge to answer (``None`` when the device needs
        none, TOTP); with one, check it (a wrong one counts like a failed
        login) and reactivate. Returns the challenge, or the sessions ended."""
        device = await self._security_device(username, device_id, factor)
        if await self.shipment(device) is not None:
            raise BadRequest("this device has not been activated yet: activate it instead")
        issued = await self._prove(device, factor, response, challenge)
        if issued is not None:
            return issued, None
        return None, await self.reactivate(username, device_id)

    async def activate_by_proof(
        self,
        username: str,
        device_id: str,
        factor: Factor,
        response: str | None,
        challenge: Challenge | None,
    ) -> tuple[Challenge | None, int | None]:
        """The holder activates a shipped device by answering with it, as a
        reactivation goes (and it is one too, when the user's devices are
        suspended). Returns the challenge, or the sessions ended."""
        device = await self._security_device(username, device_id, factor)
        if await self.shipment(device) is None:
            raise BadRequest("this device is active already")
        issued = await self._prove(device, factor, response, challenge)
        if issued is not None:
            return issued, None
        await self._store.put_setting(SHIPPED + device_id, "")
        self._emit("device_activated", username, device=device_id, by="user")
        if await self._store.get_setting(SUSPENDED + username):
            return None, await self.reactivate(username, device_id)
        return None, 0

    async def _security_device(self, username: str, device_id: str, factor: Factor) -> Device:
        device = next((d for d in await self.devices(username) if d.device_id == device_id), None)
        if device is None or device.type in INTERIM_METHODS or device.type != factor.method:
            raise NotFound("no such security device")
        return device

    async def _prove(
        self, device: Device, factor: Factor, response: str | None, challenge: Challenge | None
    ) -> Challenge | None:
        """Without ``response``, the device's challenge; with one, ``None``
        once it is right (a wrong one counts like a failed login)."""
        now = self._clock.now()
        if response is None:
            issued = factor.issue_challenge([device], now)
            if issued.deliver is not None:
                raise BadRequest("support reactivates a phone for SMS codes")
            return issued
        attempt = await self._guard.reserve(device.username)
        result = factor.verify(device, response, now, challenge)
        fresh = result.ok and (
            result.counter is None
            or await self._store.claim_counter(device.device_id, result.counter)
        )
        await self._guard.settle(attempt, Outcome.RELEASED if fresh else Outcome.FAILED)
        if not fresh:
            raise LoginFailed()
        return None

    async def enrol_sms(self, username: str, phone: str | None = None) -> Device:
        """Register a phone for SMS and voice codes: ``phone``, or the one
        on record."""
        user = await self._user(username)
        number = normalize_phone(phone) if phone is not None else user.phone
        if number is None:
            raise BadRequest("phone: the user has none on record; give one")
        device = await self._store.add_device(
            username, "sms", number.encode("ascii"), number[-4:], self._clock.now()
        )
        self._emit("device_enrolled", username, device=device.device_id, type="sms", by="support")
        return device

    async def change_pin(
        self, username: str, device_id: str, new_pin: str, *, old_pin: str | None
    ) -> None:
        """Set the PIN of a card or an IB Key. ``old_pin`` is required from
        the user (support passes ``None``: a forgotten PIN needs support); a
        wrong one is ``forbidden`` and changes nothing."""
        device = next((d for d in await self.devices(username) if d.device_id == device_id), None)
        if device is not None and device.type == "ibkey":
            key = ibkey_of(device)
            if key is None:
                raise NotFound("no such device")
            if not valid_pin(new_pin):
                raise BadRequest(
                    "an IB Key PIN is 4 to 6 letters or digits with at least one digit"
                )
            current: str | None = key.pin
            sealed = ibkey_form(msgspec.structs.replace(key, pin=new_pin))
        else:
            check_card_pin(new_pin)
            card = card_of(device) if device is not None else None
            if device is None or card is None:
                raise NotFound("no such card")
            if card.pin is None or "-P" not in card.suite:  # a dsc: its PIN unlocks the card
                raise BadRequest("this card's PIN is kept on the card alone")
            current = card.pin
            sealed = seal_form(msgspec.structs.replace(card, pin=new_pin))
        if old_pin is not None and not ct_equal(old_pin, current):
            raise Forbidden("Wrong PIN")
        await self._store.replace_device_secret(device_id, sealed)
        by = "support" if old_pin is None else "user"
        self._emit("pin_changed", username, device=device_id, by=by)

    async def user(self, username: str) -> User:
        """The user record; ``NotFound`` if there is none."""
        return await self._user(username)

    async def devices(self, username: str) -> list[Device]:
        await self._user(username)
        return await self._store.devices_of(username)

    async def remove_device(self, username: str, device_id: str) -> int:
        """Remove a lost device and end the sessions it opened (whoever holds
        it may have opened them); returns how many ended."""
        devices = await self.devices(username)
        if not any(d.device_id == device_id for d in devices):
            raise NotFound("no such device")
        await self._store.remove_device(device_id)
        if await self._store.get_setting(SHIPPED + device_id):
            await self._store.put_setting(SHIPPED + device_id, "")
        ended = self._sessions.end_by_device(username, device_id)
        self._emit("device_removed", username, device=device_id, by="support", sessions_ended=ended)
        return ended

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
        session: Session | None = None,
    ) -> NewApiKey:
        """A key for the user, granted by support or by ``session`` (which
        may grant only what it could use itself: ``ApiKeyRegistry``)."""
        user = await self._user(username)
        new = await self.api_keys.create(
            username,
            user.account_id,
            name,
            scopes,
            created_by=by,
            rate=rate,
            burst=burst,
            holder=session,
        )
        if session is not None and self._sessions.get(session.session_id) is None:
            # The session ended while the key was being written (a password
            # reset, a logout): what it granted goes with it.
            await self.api_keys.revoke(new.record.key_id)
            raise Unauthenticated("The session ended")
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
