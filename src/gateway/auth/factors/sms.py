"""``sms``: a one-time code to the registered phone, by text message or, when
the user says they did not receive one, by a voice call (DESIGN.md, "SMS /
voice").

Each challenge makes a new 6-digit code that replaces the one before (a
resend); the code is good once and for ``sms.code_seconds``; a login may
ask for at most ``sms.sends_per_login`` codes. The factor only says what to
send (``Challenge.deliver``): the login flow hands it to the notifier. The
device's sealed secret is just the phone number it sends to.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence

import _fastcore
from gateway.auth.factors.base import FAILED, Challenge, Delivery, Tier, Verification
from gateway.config import SmsConfig
from gateway.store.base import Device

CODE = re.compile(r"[0-9]{6}")
CHANNELS = ("sms", "voice")


def phone_of(device: Device) -> str:
    return device.secret.decode("ascii", "replace")


class TextMessage:
    """The ``sms`` factor (voice callback included)."""

    method = "sms"
    tier = Tier(daily_limit=200_000, five_day_limit=600_000)

    def __init__(self, config: SmsConfig | None = None) -> None:
        self.config = config if config is not None else SmsConfig()
        self.max_challenges = self.config.sends_per_login

    def issue_challenge(
        self, devices: Sequence[Device], now: float, channel: str | None = None
    ) -> Challenge:
        channel = channel or "sms"
        if channel not in CHANNELS or not devices:
            return Challenge()  # nothing sent; verification will fail
        code = f"{secrets.randbelow(10**6):06d}"
        if channel == "voice":
            spoken = " ".join(code)
            text = f"This is your login code: {spoken}. Again: {spoken}."
        else:
            text = f"Your login code is {code}. It is good for a few minutes. Never share it."
        return Challenge(
            sent=channel,
            private=(code, now + self.config.code_seconds),
            deliver=Delivery(channel, phone_of(devices[0]), text, code),
        )

    def verify(
        self, device: Device | None, response: str, now: float, challenge: Challenge | None
    ) -> Verification:
        if device is None or challenge is None or not isinstance(challenge.private, tuple):
            return FAILED
        code, expires_at = challenge.private
        if now >= expires_at or CODE.fullmatch(response) is None:
            return FAILED
        return Verification(ok=True) if _fastcore.ct_equal(code, response) else FAILED
