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
  A signature by any other key is ``forbidden``. Tickets are kept by who
  asked for them (``approvals.py``): a password reset's, which anyone may
  ask for, never pushes out a login's.
- Delivery: support sends the phone a temporary passcode as a list item
  only the bound key can fetch, sealed under its OCRA key
  (``factors/ibkey.py``, ``seal_for_phone``); any answer dismisses it.
- Every push wakes the phone through the notifier, within the user's
  message limits; a wake held back leaves the ticket listed all the same.

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
from gateway.auth.approvals import ApprovalQueue, Requester
from gateway.auth.events import EventBus
from gateway.auth.factors.base import Challenge
from gateway.auth.factors.cards import CARD_TYPES, Card
from gateway.auth.factors.ibkey import (
    OCRA_KEY_BYTES,
    SUITE,
    IbKeySecret,
    PushTicket,
    ibkey_of,
    seal_for_phone,
    seal_form,
    valid_pin,
)
from gateway.auth.flow import LoginFlow
from gateway.auth.shipments import usable
from gateway.clock import Clock
from gateway.encoding import from_b64u
from gateway.errors import BadRequest, Forbidden, LoginFailed, NotFound
from gateway.notify import Notifier
from gateway.store.base import Device, Store

ACTIVATION_SECONDS = 600.0
TOKEN_TRIES = 3
CLOCK_SKEW = 60.0
MAX_ACTIVATIONS = 10_000
DELIVERY_SECONDS = 86_400.0  # a delivered passcode waits a day for the phone to fetch it


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
        self._tickets = ApprovalQueue()

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
            # A card still on its way (shipped, not activated) answers nothing.
            devices = await usable(self._store, await self._store.devices_of(username), now)
            cards = [d for d in devices if d.type in CARD_TYPES]
            if not cards:
                raise BadRequest("there is no active security card to answer with")
            card = cards[0]
        elif not user.phone:
            raise BadRequest("there is no phone on record to send the activation token to")
        token = challenge = None
        if card is None:
            token = f"{secrets.randbelow(10**8):08d}"
            # The caller proved the password: a token held back by the
            # user's message limits is worth telling them (rate_limited).
            self._notifier.send_or_refuse(
                "sms",
                user.phone or "",
                f"Your IB Key activation token is {token}. Never share it.",
                token,
                user=username,
            )
        else:
            challenge = Card(CARD_TYPES[card.type]).issue_challenge([card], now)
        self._forget_expired(now)
        for key in [k for k, a in self._activations.items() if a.username == username]:
            del self._activations[key]  # a new activation replaces an unfinished one
        while len(self._activations) >= MAX_ACTIVATIONS:
            self._activations.popitem(last=False)
        activation_id = secrets.token_urlsafe(18)
        self._activations[activation_id] = Activation(
            username, token or "", now + ACTIVATION_SECONDS, card=card, card_challenge=challenge
        )
        by = "sms" if card is None else "card"
        self._events.emit("ibkey_activation_started", now, username, ip=ip, by=by)
        return activation_id, challenge.challenge if challenge is not None else None

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
                self._tickets.drop_device(old.device_id)
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
        """Queue a login's approval for its phone, and wake the phone."""
        self._queue(ticket, platform, ip, Requester.LOGIN)

    def register_for_recovery(self, ticket: PushTicket, ip: str) -> bool:
        """Queue a password reset's approval; False if the phone (or the
        gateway) holds as many as it may (``approvals.py``)."""
        return self._queue(ticket, "password-reset", ip, Requester.RECOVERY)

    def _queue(self, ticket: PushTicket, platform: str, ip: str, requester: Requester) -> bool:
        ticket.platform, ticket.ip = platform, ip
        self._tickets.forget_expired(self._clock.now())
        if not self._tickets.add(ticket, requester):
            return False
        what = "A password reset" if requester is Requester.RECOVERY else "Login"
        self._wake(ticket, f"{what} of {ticket.username} on {platform or 'a platform'}")
        return True

    async def phone_of(self, username: str) -> Device:
        """The user's IB Key, to deliver to; ``BadRequest`` without one."""
        for device in await self._store.devices_of(username):
            if device.type == "ibkey" and ibkey_of(device) is not None:
                return device
        raise BadRequest("the user has no active IB Key to deliver to")

    def deliver_passcode(self, device: Device, passcode: str) -> None:
        """Send a temporary passcode to the IB Key ``device`` as an item of
        its approvals list, sealed for it alone (``seal_for_phone``)."""
        secret = ibkey_of(device)
        if secret is None:
            raise BadRequest("the user has no active IB Key to deliver to")
        username = device.username
        now = self._clock.now()
        ticket = PushTicket.new(device, now, DELIVERY_SECONDS)
        ticket.platform, ticket.kind = "temporary-passcode", "temporary_passcode"
        ticket.sealed = seal_for_phone(secret.ocra_key, ticket.approval_id, passcode)
        self._tickets.forget_expired(now)
        self._tickets.add(ticket, Requester.SUPPORT)
        self._events.emit("temporary_passcode_delivered", now, username, device=device.device_id)
        self._wake(ticket, "Client services sent you a temporary passcode")

    def withdraw(self, ticket: PushTicket) -> None:
        """The approval is no longer asked for (its recovery ended)."""
        self._tickets.withdraw(ticket.approval_id)

    def _wake(self, ticket: PushTicket, what: str) -> None:
        # A push provider sits behind the webhook notifier; the item itself is
        # only ever fetched with the device's signature, so a wake the user's
        # limits hold back costs nothing but the buzz.
        self._notifier.send(
            "push", ticket.device_id, f"{what}: open IB Key to answer.", user=ticket.username
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
        return self._tickets.pending(device_id)

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
        if ticket.sealed is not None:
            self._tickets.withdraw(approval_id)  # fetched: nothing to keep
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

    def _forget_expired(self, now: float) -> None:
        for key in [k for k, a in self._activations.items() if now >= a.expires_at]:
            del self._activations[key]
        self._tickets.forget_expired(now)
