"""``none``: password only. Allowed, not recommended; the lowest tier."""

from __future__ import annotations

from collections.abc import Sequence

from gateway.auth.factors.base import Challenge, Tier, Verification
from gateway.store.base import Device


class PasswordOnly:
    """The method of a user with no device enrolled. The login flow opens the
    session right after the password; there is nothing to verify."""

    method = "none"
    tier = Tier(daily_limit=50_000, five_day_limit=100_000)
    max_challenges = 10

    def issue_challenge(
        self, devices: Sequence[Device], now: float, channel: str | None = None
    ) -> Challenge:
        return Challenge()

    def verify(
        self, device: Device | None, response: str, now: float, challenge: Challenge | None
    ) -> Verification:
        return Verification(ok=True)
