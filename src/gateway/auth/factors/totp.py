"""``totp``: the Mobile Authenticator, RFC 6238 through ``_fastcore``.

Six digits, 30-second steps and SHA-1 by default, so any authenticator app
works. The previous and next step are accepted (clock drift), and a step at or
below the device's last used step never matches, so a code is accepted once.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Sequence
from urllib.parse import quote, urlencode

import _fastcore
from gateway.auth.factors.base import FAILED, Challenge, Tier, Verification
from gateway.config import TotpConfig
from gateway.store.base import Device

SECRET_BYTES = 20  # 160 bits, RFC 4226's recommended length for SHA-1


class Authenticator:
    """The ``totp`` factor."""

    method = "totp"
    tier = Tier(daily_limit=1_000_000, five_day_limit=1_000_000)
    max_challenges = 10

    def __init__(self, config: TotpConfig | None = None) -> None:
        self.config = config if config is not None else TotpConfig()

    def issue_challenge(
        self, devices: Sequence[Device], now: float, channel: str | None = None
    ) -> Challenge:
        return Challenge()  # the code is already on the phone

    def verify(
        self, device: Device | None, response: str, now: float, challenge: Challenge | None
    ) -> Verification:
        if device is None:
            return FAILED
        c = self.config
        key = _fastcore.HmacKey(device.secret, c.algorithm)
        try:
            step = _fastcore.totp_verify(
                key,
                response,
                now,
                step=c.step_seconds,
                digits=c.digits,
                window=c.window,
                after_counter=device.counter,
            )
        except (ValueError, TypeError):
            # Spaces, a wrong length, anything but ASCII digits: typed exactly
            # or not at all, and counted as a failed attempt by the flow.
            return FAILED
        return Verification(ok=True, counter=step) if step >= 0 else FAILED


def new_secret() -> bytes:
    return os.urandom(SECRET_BYTES)


def secret_to_base32(secret: bytes) -> str:
    """The form authenticator apps take (RFC 4648 base32, no padding)."""
    return base64.b32encode(secret).decode("ascii").rstrip("=")


def secret_from_base32(text: str) -> bytes:
    """Accepts what people paste: any case, spaces, with or without padding."""
    cleaned = text.replace(" ", "").upper()
    cleaned += "=" * (-len(cleaned) % 8)
    try:
        secret = base64.b32decode(cleaned)
    except (binascii.Error, ValueError):
        raise ValueError("not a base32 TOTP secret") from None
    if not secret:
        raise ValueError("empty TOTP secret")
    return secret


def otpauth_uri(secret: bytes, username: str, config: TotpConfig | None = None) -> str:
    """The ``otpauth://totp/...`` URI an authenticator app scans (as a QR code)."""
    c = config if config is not None else TotpConfig()
    label = quote(f"{c.issuer}:{username}", safe=":")
    query = urlencode(
        {
            "secret": secret_to_base32(secret),
            "issuer": c.issuer,
            "algorithm": c.algorithm.upper(),
            "digits": c.digits,
            "period": c.step_seconds,
        },
        quote_via=quote,
    )
    return f"otpauth://totp/{label}?{query}"


def code_at(secret: bytes, unix_time: float, config: TotpConfig | None = None) -> str:
    """The code an authenticator app shows at ``unix_time`` (the phone-app
    simulator of the command-line tool)."""
    c = config if config is not None else TotpConfig()
    key = _fastcore.HmacKey(secret, c.algorithm)
    return _fastcore.hotp(key, int(unix_time) // c.step_seconds, c.digits)
