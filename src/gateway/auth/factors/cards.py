"""The OCRA security cards (RFC 6287 through ``_fastcore``): ``dscplus``,
``platinum``, ``gold`` and ``dsc``.

The login screen shows a 6-digit challenge; the card, unlocked with its PIN,
answers with 8 digits (DESIGN.md, "OCRA cards"):

- ``dscplus``, ``platinum``, ``gold``: ``OCRA-1:HOTP-SHA1-8:QN06-PSHA1``, the
  card's 4-digit PIN hashed into the response (so the gateway keeps the PIN,
  sealed with the key);
- ``dsc``: ``OCRA-1:HOTP-SHA1-8:QN06``, no PIN in the suite: its PIN only
  unlocks the card itself, so the gateway neither keeps nor checks it (the
  PIN support hands out with one is the card's, set on the card; a wrong one
  is refused by the card, never seen here). ``PIN_NOTE`` says so wherever
  that PIN is shown.

A challenge is good once and for ``challenge_seconds``; the response must
be exactly 8 ASCII digits. What a card holds (key, suite, PIN, serial) is
one ``CardSecret``, stored as the device's sealed secret.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

import msgspec

import _fastcore
from gateway.auth.factors.base import FAILED, Challenge, Tier, Verification
from gateway.encoding import from_b64u
from gateway.errors import BadRequest
from gateway.store.base import Device

SUITE_WITH_PIN = "OCRA-1:HOTP-SHA1-8:QN06-PSHA1"
SUITE_WITHOUT_PIN = "OCRA-1:HOTP-SHA1-8:QN06"
KEY_BYTES = 20
CHALLENGE_DIGITS = 6
RESPONSE = re.compile(r"[0-9]{8}")
CARD_PIN = re.compile(r"[0-9]{4}")
CHALLENGE_SECONDS = 180.0
PIN_NOTE = {
    True: "The gateway checks this PIN: it is part of every response.",
    False: (
        "This PIN unlocks the card itself; the gateway never sees or checks it "
        "(suite OCRA-1:HOTP-SHA1-8:QN06 has no PIN)."
    ),
}


class CardSecret(msgspec.Struct, frozen=True):
    key: bytes
    suite: str
    serial: str
    pin: str | None = None  # kept only when the suite hashes it into the response


_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(CardSecret).decode


def seal_form(card: CardSecret) -> bytes:
    """The bytes stored (sealed) as the device's secret."""
    return _encode(card)


def card_of(device: Device) -> CardSecret | None:
    try:
        return _decode(device.secret)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


@dataclass(frozen=True, slots=True)
class CardType:
    method: str
    suite: str
    tier: Tier

    @property
    def pin_in_suite(self) -> bool:
        return "-P" in self.suite


def _tier(day: int, five: int) -> Tier:
    return Tier(None if day < 0 else day, None if five < 0 else five)


CARD_TYPES: dict[str, CardType] = {
    "dscplus": CardType("dscplus", SUITE_WITH_PIN, _tier(-1, -1)),
    "platinum": CardType("platinum", SUITE_WITH_PIN, _tier(-1, -1)),
    "gold": CardType("gold", SUITE_WITH_PIN, _tier(-1, -1)),
    "dsc": CardType("dsc", SUITE_WITHOUT_PIN, _tier(1_000_000, 1_500_000)),
}


def check_card_pin(pin: str) -> None:
    if CARD_PIN.fullmatch(pin) is None:
        raise BadRequest("a card PIN is 4 digits")


def new_card(
    kind: CardType, *, pin: str | None = None, key_b64u: str | None = None
) -> tuple[CardSecret, str | None]:
    """A card of ``kind``: the given key (a card made elsewhere) or a new one,
    the given PIN or a new one; returns the card and the PIN to show once
    (``None`` when it was given)."""
    shown = None
    if pin is None:
        pin = shown = f"{secrets.randbelow(10_000):04d}"
    check_card_pin(pin)
    key = os.urandom(KEY_BYTES) if key_b64u is None else decode_key(key_b64u)
    serial = f"{kind.method[:3].upper()}{secrets.randbelow(10**9):09d}"
    return CardSecret(key, kind.suite, serial, pin if kind.pin_in_suite else None), shown


def decode_key(text: str) -> bytes:
    """A b64u key (no padding), 16 to 64 bytes."""
    try:
        key = from_b64u(text)
    except ValueError:
        raise BadRequest("secret must be base64url") from None
    if not 16 <= len(key) <= 64:
        raise BadRequest("secret must be 16 to 64 bytes")
    return key


def respond(card: CardSecret, challenge: str, pin: str | None = None) -> str:
    """What the card shows for ``challenge`` (the device simulator, and the
    gateway's expected answer)."""
    suite = _fastcore.OcraSuite(card.suite)
    key = _fastcore.HmacKey(card.key, suite.algorithm)
    if suite.pin_algorithm:
        return str(_fastcore.ocra(suite, key, challenge, pin=pin if pin is not None else card.pin))
    return str(_fastcore.ocra(suite, key, challenge))


class Card:
    """The factor of one card type."""

    def __init__(self, kind: CardType, challenge_seconds: float = CHALLENGE_SECONDS) -> None:
        self.kind = kind
        self.method = kind.method
        self.tier = kind.tier
        self.challenge_seconds = challenge_seconds
        self.max_challenges = 10

    def issue_challenge(
        self, devices: Sequence[Device], now: float, channel: str | None = None
    ) -> Challenge:
        challenge = f"{secrets.randbelow(10**CHALLENGE_DIGITS):0{CHALLENGE_DIGITS}d}"
        return Challenge(challenge=challenge, private=now + self.challenge_seconds)

    def verify(
        self, device: Device | None, response: str, now: float, challenge: Challenge | None
    ) -> Verification:
        if device is None or challenge is None or challenge.challenge is None:
            return FAILED
        expires_at = challenge.private
        if not isinstance(expires_at, float) or now >= expires_at:
            return FAILED
        if RESPONSE.fullmatch(response) is None:
            return FAILED
        card = card_of(device)
        if card is None:
            return FAILED
        expected = respond(card, challenge.challenge)
        return Verification(ok=True) if _fastcore.ct_equal(expected, response) else FAILED
