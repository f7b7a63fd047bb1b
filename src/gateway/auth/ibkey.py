"""IB Key activation, migration and push approvals (DESIGN.md, "IB Key").

- Activation, on the phone: the password is checked like a login (buckets,
  lockout, one hash, the same errors); an 8-digit activation token goes by
  SMS to the phone on record; the phone sends the token back with its
  Ed25519 public key and a PIN and receives its OCRA key, once. A user with
  an active security card may answer a challenge of that card instead of
  the SMS token. Completing
  an activation ends every other IB Key of the user at once (migration):
  the old phone's pending approvals and offline responses stop working.
- Push: a login's ``ibkey`` challenge queues a ``PushTicket`` here; the
  phone lists its tickets and answers one, each request signed with its
  device key (``list\\n{device_id}\\n{time}``, time within
  ``CLOCK_SKEW`` of the gateway; ``{approval_id}\\n{nonce}\\n{decision}``).
  A signature by any other key is ``forbidden``.

Activations and tickets live in memory beside the login transactions,
expire on the clock, and are bounded per user and overall.
"""

from __future__ import annotations

import os
import secrets
from collections import OrderedDict
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

import _fastcore
from gateway.auth.events import EventBus
from gateway.auth.factors.base import Challenge
from gateway.auth.factors.cards import CARD_TYPES, Card
from gateway.auth.factors.ibkey import (
    OCRA_KEY_BYTES,
    SUITE,
    IbKeySecret,
    PushTicket,
    ibkey_of,
    seal_form,
    valid_pin,
)
from gateway.auth.flow import LoginFlow
from gateway.clock import Clock
from gateway.encoding import from_b64u
from gateway.errors import BadRequest, Forbidden, LoginFailed, NotFound
from gateway.notify import Notifier
from gateway.store.base import Device, Store

ACTIVATION_SECONDS = 600.0
TOKEN_TRIES = 3
CLOCK_SKEW = 60.0
MAX_ACTIVATIONS = 10_000
MAX_TICKETS = 10_000
TICKETS_PER_DEVICE = 10


@dataclass(eq=False)
class Activation:
    username: str
    token: str = field(repr=False)  # the SMS token ("" when a card answers instead)
    expires_at: float
    tries: int = 0
    card: Device | None = field(default=None, repr=False)  # the card that answers
    card_challenge: Challenge | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class Activated:
    device: Device
    ocra_key: bytes = field(repr=False)


class IbKeyService:
    def __init__(
        self,
        store: Store,
        flow: LoginFlow,
        notifier: Notifier,
        clock: Clock,
        events: EventBus,
    ) -> None:
        self._store = store
        self._flow = flow
        self._notifier = notifier
        self._clock = clock
        self._events = events
        self._activations: OrderedDict[str, Activation] = OrderedDict()
        self._tickets: OrderedDict[str, PushTicket] = OrderedDict()

    # --- activation and migration ---------------------------------------------------

    async def start_activation(
        self, username: str, password: str, *, ip: str, with_card: bool = False
    ) -> tuple[str, str | None]:
        """Check the password like a login, then send the activation token by
        SMS to the phone on record, or (``with_card``) show a challenge for
        the user's active security card to answer instead; returns the
        activation id and the card challenge, if any."""
        user = await self._flow.check_password(username, password, ip=ip)
        now = self._clock.now()
        card: Device | None = None
        if with_card:
            cards = [d for d in await self._store.devices_of(username) if d.type in CARD_TYPES]
            if not cards:
                raise BadRequest("there is no active security card to answer with")
            card = cards[0]
        elif not user.phone:
            raise BadRequest("there is no phone on record to send the activation token to")
        self._forget_expired(now)
        for key in [k for k, a in self._activations.items() if a.username == username]:
            del self._activations[key]  # a new activation replaces an unfinished one
        while len(self._activations) >= MAX_ACTIVATIONS:
            self._activations.popitem(last=False)
        activation_id = secrets.token_urlsafe(18)
        if card is not None:
            challenge = Card(CARD_TYPES[card.type]).issue_challenge([card], now)
            self._activations[activation_id] = Activation(
                username, "", now + ACTIVATION_SECONDS, card=card, card_challenge=challenge
            )
            self._events.emit("ibkey_activation_started", now, username, ip=ip, by="card")
            return activation_id, challenge.challenge
        token = f"{secrets.randbelow(10**8):08d}"
        self._activations[activation_id] = Activation(username, token, now + ACTIVATION_SECONDS)
        phone = user.phone or ""
        self._notifier.send(
            "sms", phone, f"Your IB Key activation token is {token}. Never share it.", token
        )
        self._events.emit("ibkey_activation_started", now, username, ip=ip, by="sms")
        return activation_id, None

    async def complete_activation(
        self, activation_id: str, token: str, public_key: str, pin: str
    ) -> Activated:
        now = self._clock.now()
        activation = self._activations.get(activation_id)
        if activation is None or now >= activation.expires_at:
            self._activations.pop(activation_id, None)
            raise NotFound("unknown or expired activation")
        if not self._token_matches(activation, token, now):
            activation.tries += 1
            if activation.tries >= TOKEN_TRIES:
                del self._activations[activation_id]
            raise LoginFailed()
        try:
            raw_key = from_b64u(public_key)
        except ValueError:
            raise BadRequest("public_key must be base64url") from None
        try:
            Ed25519PublicKey.from_public_bytes(raw_key)
        except ValueError:
            raise BadRequest("public_key must be a raw Ed25519 public key (32 bytes)") from None
        if not valid_pin(pin):
            raise BadRequest("an IB Key PIN is 4 to 6 letters or digits with at least one digit")
        del self._activations[activation_id]
        username = activation.username
        ocra_key = os.urandom(OCRA_KEY_BYTES)
        secret = IbKeySecret(raw_key, ocra_key, SUITE, pin)
        # One IB Key per user: the new phone ends the old at once.
        for old in await self._store.devices_of(username):
            if old.type == "ibkey":
                await self._store.remove_device(old.device_id)
                self._drop_tickets(old.device_id)
        device = await self._store.add_device(username, "ibkey", seal_form(secret), None, now)
        self._events.emit("ibkey_activated", now, username, device=device.device_id)
        return Activated(device, ocra_key)

    @staticmethod
    def _token_matches(activation: Activation, token: str, now: float) -> bool:
        if activation.card is None:
            return _fastcore.ct_equal(token, activation.token)
        card = Card(CARD_TYPES[activation.card.type])
        return card.verify(activation.card, token, now, activation.card_challenge).ok

    # --- push approvals ----------------------------------------------------------------

    def register(self, ticket: PushTicket, platform: str, ip: str) -> None:
        """Queue a login's approval for its phone."""
        ticket.platform, ticket.ip = platform, ip
        mine = [k for k, t in self._tickets.items() if t.device_id == ticket.device_id]
        for key in mine[: max(0, len(mine) - TICKETS_PER_DEVICE + 1)]:
            del self._tickets[key]
        while len(self._tickets) >= MAX_TICKETS:
            self._tickets.popitem(last=False)
        self._tickets[ticket.approval_id] = ticket
        # Wake the phone (a push provider behind the webhook notifier); the
        # approval itself is only ever fetched with the device's signature.
        self._notifier.send(
            "push",
            ticket.device_id,
            f"Login of {ticket.username} on {platform or 'a platform'}: open IB Key to answer.",
        )

    async def approvals(self, device_id: str, time: str, signature: str) -> list[PushTicket]:
        """The phone's pending approvals, for a signed list request."""
        device = await self._bound(device_id)
        now = self._clock.now()
        try:
            at = float(time)
        except ValueError:
            raise Forbidden("X-IBKey-Time must be Unix seconds") from None
        if not abs(now - at) <= CLOCK_SKEW:
            raise Forbidden("X-IBKey-Time is too far from the gateway's clock")
        self._check_signature(device, f"list\n{device_id}\n{time}", signature)
        self._forget_expired(now)
        return [
            t for t in self._tickets.values() if t.device_id == device_id and t.decision is None
        ]

    async def answer(
        self, device_id: str, approval_id: str, decision: str, signature: str
    ) -> PushTicket:
        device = await self._bound(device_id)
        ticket = self._tickets.get(approval_id)
        if ticket is None or ticket.device_id != device_id:
            raise NotFound("unknown or expired approval")
        if self._clock.now() >= ticket.expires_at:
            raise NotFound("unknown or expired approval")
        self._check_signature(device, f"{approval_id}\n{ticket.nonce}\n{decision}", signature)
        if ticket.decision is not None:
            raise BadRequest("this approval was answered already")
        ticket.decision, ticket.decided_by = decision, device_id
        self._events.emit(
            "ibkey_push_answered", self._clock.now(), ticket.username, decision=decision
        )
        return ticket

    async def _bound(self, device_id: str) -> Device:
        device = await self._store.get_device(device_id)
        if device is None or device.type != "ibkey":
            # An ended phone (migrated away) is no device at all.
            raise Forbidden("This IB Key is not active")
        return device

    @staticmethod
    def _check_signature(device: Device, message: str, signature: str) -> None:
        secret = ibkey_of(device)
        if secret is None:
            raise Forbidden("This IB Key is not active")
        try:
            raw = from_b64u(signature)
            Ed25519PublicKey.from_public_bytes(secret.public_key).verify(raw, message.encode())
        except (InvalidSignature, ValueError):
            raise Forbidden("The signature is not the bound IB Key's") from None

    def _drop_tickets(self, device_id: str) -> None:
        for key in [k for k, t in self._tickets.items() if t.device_id == device_id]:
            del self._tickets[key]

    def _forget_expired(self, now: float) -> None:
        for key in [k for k, a in self._activations.items() if now >= a.expires_at]:
            del self._activations[key]
        for key in [k for k, t in self._tickets.items() if now >= t.expires_at]:
            del self._tickets[key]
