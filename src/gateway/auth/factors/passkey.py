"""Passkeys (WebAuthn, through py_webauthn): the ``passkey`` factor.

- Registration, from a session: ``creation_options`` makes the options a
  browser passes to ``navigator.credentials.create()`` (user verification
  required, resident keys preferred, the user's passkeys excluded);
  ``registered`` checks the credential that comes back and returns what the
  gateway keeps of it (``PasskeySecret``: the credential id, its COSE public
  key and the user handle) and the authenticator's first sign count.
- Login: ``Passkey.issue_challenge`` makes request options for the user's
  passkeys (``navigator.credentials.get()``); ``verify`` takes the assertion
  JSON (``PublicKeyCredential.toJSON()``) as the response string.

Each ceremony has a fresh 32-byte challenge, good once and for
``timeout_seconds``; the relying-party id and the origins allowed come from
``[passkeys]``. Sign counters: an assertion whose signature is good but whose
counter is not above the stored one comes from a clone of the authenticator
(or from a captured response, which the one-time challenge stops anyway):
refused, and the flow hears of it (``Verification.alarm``). Authenticators
that keep no counter (synced passkeys) say 0 every time and are accepted as
long as they never said more.

The browser's JSON is read with py_webauthn's own parsers; a login's
response is at most 4 KiB (``schemas.Response``), a registration's body at
most ``[http] max_body_bytes``, and anything unreadable is a plain failure
(``login_failed``) or ``bad_request``, never an exception.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import (
    parse_authentication_credential_json,
    parse_registration_credential_json,
)
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticationCredential,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from gateway.auth.factors.base import FAILED, Challenge, Tier, Verification
from gateway.config import PasskeyConfig
from gateway.errors import BadRequest
from gateway.store.base import Device

CHALLENGE_BYTES = 32
SIGN_COUNT_ALARM = "passkey_sign_count"  # a good signature with a stale counter: a clone
_TRANSPORTS = {t.value: t for t in AuthenticatorTransport}
# Anything py_webauthn may raise on input it cannot read (RecursionError:
# JSON nested deeper than the parser goes).
_UNREADABLE = (
    WebAuthnException,
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    OverflowError,
    RecursionError,
)


class PasskeySecret(msgspec.Struct, frozen=True):
    """What the gateway keeps of a passkey (the device's sealed secret)."""

    credential_id: bytes
    public_key: bytes  # COSE_Key
    user_handle: bytes
    aaguid: str = ""
    transports: list[str] = msgspec.field(default_factory=list)
    backed_up: bool = False


_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(PasskeySecret).decode


def seal_form(secret: PasskeySecret) -> bytes:
    return _encode(secret)


def passkey_of(device: Device) -> PasskeySecret | None:
    try:
        return _decode(device.secret)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


@dataclass(frozen=True, slots=True)
class Ceremony:
    """A registration or login waiting for the authenticator's answer."""

    challenge: bytes = field(repr=False)
    expires_at: float


def read_assertion(credential: str) -> AuthenticationCredential | None:
    """The assertion JSON (``PublicKeyCredential.toJSON()``) in
    ``credential``, or None when it is not one."""
    try:
        return parse_authentication_credential_json(credential)
    except _UNREADABLE:
        return None


def _descriptor(secret: PasskeySecret) -> PublicKeyCredentialDescriptor:
    transports = [_TRANSPORTS[t] for t in secret.transports if t in _TRANSPORTS]
    return PublicKeyCredentialDescriptor(id=secret.credential_id, transports=transports or None)


def _as_object(options: Any) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(options_to_json(options))
    return decoded


# --- registration -------------------------------------------------------------------


def creation_options(
    config: PasskeyConfig,
    user_handle: bytes,
    username: str,
    existing: Sequence[PasskeySecret],
    now: float,
) -> tuple[dict[str, Any], Ceremony]:
    """The options for ``navigator.credentials.create()``, and what to keep
    until the credential comes back."""
    challenge = os.urandom(CHALLENGE_BYTES)
    options = generate_registration_options(
        rp_id=config.rp_id,
        rp_name=config.rp_name,
        user_name=username,
        user_id=user_handle,
        user_display_name=username,
        challenge=challenge,
        timeout=int(config.timeout_seconds * 1000),
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
        exclude_credentials=[_descriptor(s) for s in existing],
    )
    return _as_object(options), Ceremony(challenge, now + config.timeout_seconds)


def registered(
    config: PasskeyConfig,
    credential: str | dict[str, Any],
    ceremony: Ceremony,
    user_handle: bytes,
) -> tuple[PasskeySecret, int]:
    """The passkey ``credential`` (``PublicKeyCredential.toJSON()``, as an
    object or its JSON) creates, and its first sign count; raises
    ``BadRequest`` saying why when it does not verify."""
    try:
        parsed = parse_registration_credential_json(credential)
    except _UNREADABLE:
        raise BadRequest(
            "credential: not a WebAuthn credential (PublicKeyCredential JSON)"
        ) from None
    try:
        verified = verify_registration_response(
            credential=parsed,
            expected_challenge=ceremony.challenge,
            expected_rp_id=config.rp_id,
            expected_origin=list(config.origins),
            require_user_verification=True,
        )
    except _UNREADABLE as exc:
        raise BadRequest(f"credential: the passkey does not verify ({_reason(exc)})") from None
    secret = PasskeySecret(
        credential_id=verified.credential_id,
        public_key=verified.credential_public_key,
        user_handle=user_handle,
        aaguid=verified.aaguid,
        transports=[t.value for t in parsed.response.transports or ()],
        backed_up=verified.credential_backed_up,
    )
    return secret, verified.sign_count


def _reason(exc: Exception) -> str:
    text = str(exc).split(". See", 1)[0]
    return text[:160] if isinstance(exc, WebAuthnException) else "malformed"


# --- login --------------------------------------------------------------------------


class Passkey:
    """The ``passkey`` factor."""

    method = "passkey"
    tier = Tier(daily_limit=1_000_000, five_day_limit=1_000_000)
    max_challenges = 10

    def __init__(self, config: PasskeyConfig | None = None) -> None:
        self._config = config if config is not None else PasskeyConfig()
        self._origins = list(self._config.origins)

    def issue_challenge(
        self, devices: Sequence[Device], now: float, channel: str | None = None
    ) -> Challenge:
        challenge = os.urandom(CHALLENGE_BYTES)
        known = [s for s in (passkey_of(d) for d in devices) if s is not None]
        options = generate_authentication_options(
            rp_id=self._config.rp_id,
            challenge=challenge,
            timeout=int(self._config.timeout_seconds * 1000),
            allow_credentials=[_descriptor(s) for s in known],
            user_verification=UserVerificationRequirement.REQUIRED,
        )
        ceremony = Ceremony(challenge, now + self._config.timeout_seconds)
        return Challenge(options=_as_object(options), private=ceremony)

    def verify(
        self, device: Device | None, response: str, now: float, challenge: Challenge | None
    ) -> Verification:
        ceremony = challenge.private if challenge is not None else None
        if device is None or not isinstance(ceremony, Ceremony) or now >= ceremony.expires_at:
            return FAILED
        secret = passkey_of(device)
        assertion = read_assertion(response)
        if secret is None or assertion is None or assertion.raw_id != secret.credential_id:
            return FAILED  # credential ids are public: a plain compare
        handle = assertion.response.user_handle
        if handle is not None and handle != secret.user_handle:
            return FAILED
        try:
            # The counter is judged below, once the signature is known good.
            verified = verify_authentication_response(
                credential=assertion,
                expected_challenge=ceremony.challenge,
                expected_rp_id=self._config.rp_id,
                expected_origin=self._origins,
                credential_public_key=secret.public_key,
                credential_current_sign_count=0,
                require_user_verification=True,
            )
        except _UNREADABLE:
            return FAILED
        count, stored = verified.new_sign_count, device.counter
        if (count > 0 or stored > 0) and count <= stored:
            return Verification(ok=False, alarm=SIGN_COUNT_ALARM)
        return Verification(ok=True, counter=count if count > 0 else None)
