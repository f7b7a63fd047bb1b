"""The ``Factor`` protocol every second-factor method implements.

A factor says what to send as a challenge, how to verify a response and what
tier (withdrawal limits) a session it authenticated carries. It is pure: it
knows nothing of lockout, sessions or HTTP, and it does not write to the
store; a counter it wants burnt (a TOTP step) comes back in the
``Verification`` and the login flow claims it atomically.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from gateway.store.base import Device


@dataclass(frozen=True, slots=True)
class Tier:
    """Withdrawal limits of a session authenticated by a method (SPEC 4);
    ``None`` is unlimited."""

    daily_limit: int | None
    five_day_limit: int | None


@dataclass(frozen=True, slots=True)
class Delivery:
    """A message the flow hands to the notifier when it issues a challenge
    (an SMS or voice code): the factor stays pure, the flow sends."""

    channel: str
    to: str = field(repr=False)
    text: str = field(repr=False)
    code: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class Challenge:
    """What the login screen shows after ``POST /v1/login/{id}/challenge``.

    Exactly the fields of DESIGN.md's challenge answer; all ``None`` means the
    method needs no challenge (TOTP: the code is on the phone already).
    ``private`` is what the factor needs back at verification (the expected
    positions of a code card, say); it is never shown or logged.
    """

    challenge: str | None = None
    positions: tuple[str, ...] | None = None
    sent: str | None = None
    pending: bool | None = None
    # passkey: the WebAuthn request options for navigator.credentials.get().
    options: Mapping[str, object] | None = None
    private: object = field(default=None, repr=False, compare=False)
    deliver: Delivery | None = field(default=None, repr=False, compare=False)

    def public(self) -> dict[str, object]:
        """The fields the client may see, without the empty ones."""
        shown = {
            "challenge": self.challenge,
            "positions": list(self.positions) if self.positions is not None else None,
            "sent": self.sent,
            "pending": self.pending,
            "options": self.options,
        }
        return {k: v for k, v in shown.items() if v is not None}


@dataclass(frozen=True, slots=True)
class Verification:
    ok: bool
    # The counter (TOTP step) the response used; the flow claims it so the same
    # response is never accepted twice.
    counter: int | None = None
    # A session it opens may do only this (``card_printing``: a temporary
    # passcode past its full-access days); None: full access.
    scope: str | None = None
    # A failure worth an alarm (a passkey's stale sign counter: a clone).
    alarm: str | None = None


FAILED = Verification(ok=False)


class Factor(Protocol):
    @property
    def method(self) -> str:
        """The method name of SPEC 4 (``totp``, ``sms``, ...)."""
        ...

    @property
    def tier(self) -> Tier: ...

    @property
    def max_challenges(self) -> int:
        """How many challenges one login may ask for (resends included)."""
        ...

    def issue_challenge(
        self, devices: Sequence[Device], now: float, channel: str | None = None
    ) -> Challenge:
        """What to send or show for this login, given the user's devices of
        this method; ``channel`` is the client's choice where the method has
        several (``sms`` or ``voice``)."""
        ...

    def verify(
        self, device: Device | None, response: str, now: float, challenge: Challenge | None
    ) -> Verification:
        """Check ``response`` against one device. A malformed response is a
        failed verification, never an exception."""
        ...
