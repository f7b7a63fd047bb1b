"""Second-factor methods, one module each, all implementing ``Factor``."""

from __future__ import annotations

from gateway.auth.factors.base import FAILED, Challenge, Factor, Tier, Verification
from gateway.auth.factors.cards import CARD_TYPES, Card
from gateway.auth.factors.grid import CodeCard
from gateway.auth.factors.ibkey import IbKey
from gateway.auth.factors.interim import OnlineCard, TemporaryPasscode
from gateway.auth.factors.none import PasswordOnly
from gateway.auth.factors.passkey import Passkey
from gateway.auth.factors.sms import TextMessage
from gateway.auth.factors.totp import Authenticator
from gateway.config import PasskeyConfig, SmsConfig, TotpConfig


def default_factors(
    totp: TotpConfig | None = None,
    sms: SmsConfig | None = None,
    passkeys: PasskeyConfig | None = None,
) -> dict[str, Factor]:
    """The methods this build offers, by name."""
    factors: list[Factor] = [
        PasswordOnly(),
        Authenticator(totp),
        TextMessage(sms),
        CodeCard(),
        IbKey(),
        TemporaryPasscode(),
        OnlineCard(),
        Passkey(passkeys),
    ]
    factors += [Card(kind) for kind in CARD_TYPES.values()]
    return {f.method: f for f in factors}


__all__ = [
    "FAILED",
    "Authenticator",
    "Card",
    "CodeCard",
    "IbKey",
    "Challenge",
    "Factor",
    "Passkey",
    "PasswordOnly",
    "TextMessage",
    "Tier",
    "Verification",
    "default_factors",
]
