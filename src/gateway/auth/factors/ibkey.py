"""``ibkey``: the IB Key phone app (DESIGN.md, "IB Key").

One challenge serves both paths:

- **push**: ``challenge`` queues an approval for the bound phone; the phone
  signs its decision with the Ed25519 key registered at activation
  (``gateway.auth.ibkey``); the login side completes with an empty
  ``response`` once the approval says ``approve``;
- **offline**: the phone app, after its PIN, turns the 8-digit challenge into
  the 8-digit OCRA response of ``OCRA-1:HOTP-SHA256-8:QN08-PSHA256`` under the
  key it received at activation, and the user types it in.

The device's sealed secret is an ``IbKeySecret``. The approval a challenge
waits on travels in ``Challenge.private`` as a ``PushTicket`` that the
approvals registry resolves.

Support can also send the phone something only it may read (a temporary
passcode): ``seal_for_phone`` encrypts it with AES-256-GCM under
HKDF-SHA256(ocra_key, info="temporary-passcode"), the approval id as
associated data. The OCRA key is the one secret only the phone and the
gateway hold (the Ed25519 key pair is the phone's alone, and its public half
cannot encrypt); HKDF keeps this use apart from the OCRA one, and the
associated data binds the sealed text to the list item it came in.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field

import msgspec
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

import _fastcore
from gateway.auth.factors.base import FAILED, Challenge, Tier, Verification
from gateway.store.base import Device

SUITE = "OCRA-1:HOTP-SHA256-8:QN08-PSHA256"
OCRA_KEY_BYTES = 32
CHALLENGE_SECONDS = 180.0
RESPONSE = re.compile(r"[0-9]{8}")
PIN = re.compile(r"(?=.*[0-9])[A-Za-z0-9]{4,6}")


class IbKeySecret(msgspec.Struct, frozen=True):
    public_key: bytes  # raw Ed25519, 32 bytes
    ocra_key: bytes
    suite: str
    pin: str


_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(IbKeySecret).decode


def seal_form(secret: IbKeySecret) -> bytes:
    return _encode(secret)


def ibkey_of(device: Device) -> IbKeySecret | None:
    try:
        return _decode(device.secret)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


def valid_pin(pin: str) -> bool:
    """4 to 6 letters or digits, at least one digit (SPEC 4)."""
    return PIN.fullmatch(pin) is not None


def offline_response(secret: IbKeySecret, challenge: str, pin: str | None = None) -> str:
    """What the phone app shows for ``challenge`` after its PIN."""
    suite = _fastcore.OcraSuite(secret.suite)
    key = _fastcore.HmacKey(secret.ocra_key, suite.algorithm)
    return str(_fastcore.ocra(suite, key, challenge, pin=pin if pin is not None else secret.pin))


DELIVERY_INFO = b"temporary-passcode"
NONCE_BYTES = 12


def _delivery_key(ocra_key: bytes) -> AESGCM:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=DELIVERY_INFO)
    return AESGCM(hkdf.derive(ocra_key))


def seal_for_phone(ocra_key: bytes, approval_id: str, text: str) -> bytes:
    """``text`` as only the phone holding ``ocra_key`` can read it:
    nonce (12 bytes) then AES-GCM ciphertext and tag."""
    nonce = secrets.token_bytes(NONCE_BYTES)
    sealed = _delivery_key(ocra_key).encrypt(nonce, text.encode(), approval_id.encode())
    return nonce + sealed


def open_on_phone(ocra_key: bytes, approval_id: str, sealed: bytes) -> str:
    """What ``seal_for_phone`` sealed; ``cryptography.exceptions.InvalidTag``
    for another key, another approval id or a changed text."""
    nonce, body = sealed[:NONCE_BYTES], sealed[NONCE_BYTES:]
    return _delivery_key(ocra_key).decrypt(nonce, body, approval_id.encode()).decode()


@dataclass(eq=False)
class PushTicket:
    """One push approval, shared by the login's challenge and the phone's
    list: the phone's signed decision lands here. ``sealed``: something for
    the phone to open (``seal_for_phone``) rather than a login to decide."""

    approval_id: str
    nonce: str
    device_id: str
    username: str
    platform: str
    ip: str
    created_at: float
    expires_at: float
    decision: str | None = None  # "approve" or "deny"
    decided_by: str | None = field(default=None, repr=False)  # the device that signed it
    kind: str = "approval"  # or "temporary_passcode": a delivery, answered to dismiss it
    sealed: bytes | None = field(default=None, repr=False)

    @classmethod
    def new(cls, device: Device, now: float, lifetime: float = CHALLENGE_SECONDS) -> PushTicket:
        """An approval for ``device`` to answer within ``lifetime``."""
        return cls(
            approval_id=secrets.token_urlsafe(12),
            nonce=secrets.token_urlsafe(16),
            device_id=device.device_id,
            username=device.username,
            platform="",
            ip="",
            created_at=now,
            expires_at=now + lifetime,
        )


class IbKey:
    """The ``ibkey`` factor."""

    method = "ibkey"
    tier = Tier(daily_limit=1_000_000, five_day_limit=1_000_000)
    max_challenges = 10

    def issue_challenge(
        self, devices: Sequence[Device], now: float, channel: str | None = None
    ) -> Challenge:
        challenge = f"{secrets.randbelow(10**8):08d}"
        if not devices:
            return Challenge(challenge=challenge, pending=True, private=None)
        return Challenge(challenge=challenge, pending=True, private=PushTicket.new(devices[0], now))

    def verify(
        self, device: Device | None, response: str, now: float, challenge: Challenge | None
    ) -> Verification:
        if device is None or challenge is None or challenge.challenge is None:
            return FAILED
        ticket = challenge.private
        if not isinstance(ticket, PushTicket) or now >= ticket.expires_at:
            return FAILED
        if ticket.device_id != device.device_id:
            return FAILED  # the approval was queued for another (an ended) phone
        if response == "":
            approved = ticket.decision == "approve" and ticket.decided_by == device.device_id
            return Verification(ok=True) if approved else FAILED
        if RESPONSE.fullmatch(response) is None:
            return FAILED
        secret = ibkey_of(device)
        if secret is None:
            return FAILED
        expected = offline_response(secret, challenge.challenge)
        return Verification(ok=True) if _fastcore.ct_equal(expected, response) else FAILED
