"""Interim credentials for a user without their security device (SPEC 4):

- ``temp_passcode``: a static code issued by support, upper-case letters and
  digits, case-sensitive. Full access for ``FULL_DAYS``; then, until
  ``PORTAL_DAYS``, only a portal login that may do nothing but print the
  online security card (``Verification.scope = "card_printing"``); refused
  after that.
- ``online_card``: a code grid (the Security Code Card's rules) printed from
  a portal session, full access for ``ONLINE_CARD_DAYS`` from printing.

Both are devices whose sealed secret says when they were issued; issuing a
temporary passcode suspends the user's security devices until one is
reactivated (``SupportDesk``), which ends both interim credentials.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Sequence
from typing import Any

import msgspec

import _fastcore
from gateway.auth.factors.base import FAILED, Challenge, Tier, Verification
from gateway.auth.factors.grid import CodeCard, Grid, check_answer, new_grid
from gateway.store.base import Device

DAY = 86_400.0
FULL_DAYS = 2
PORTAL_DAYS = 10
ONLINE_CARD_DAYS = 21
PASSCODE_LENGTH = 10
CARD_PRINTING = "card_printing"
INTERIM_METHODS = ("temp_passcode", "online_card")


class Passcode(msgspec.Struct, frozen=True):
    code: str
    issued_at: float


class OnlineGrid(msgspec.Struct, frozen=True):
    grid: Grid
    valid_until: float


_passcode = msgspec.msgpack.Decoder(Passcode)
_online = msgspec.msgpack.Decoder(OnlineGrid)
_encode = msgspec.msgpack.Encoder().encode


def new_passcode(now: float) -> Passcode:
    alphabet = string.ascii_uppercase + string.digits
    return Passcode("".join(secrets.choice(alphabet) for _ in range(PASSCODE_LENGTH)), now)


def new_online_card(now: float) -> OnlineGrid:
    return OnlineGrid(new_grid(), now + ONLINE_CARD_DAYS * DAY)


def seal_form(value: Passcode | OnlineGrid) -> bytes:
    return _encode(value)


def _decoded(decoder: msgspec.msgpack.Decoder[Any], device: Device) -> object | None:
    try:
        found: object = decoder.decode(device.secret)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    return found


class TemporaryPasscode:
    method = "temp_passcode"
    tier = Tier(daily_limit=50_000, five_day_limit=100_000)  # the "none" tier
    max_challenges = 10

    def issue_challenge(
        self, devices: Sequence[Device], now: float, channel: str | None = None
    ) -> Challenge:
        return Challenge()

    def verify(
        self, device: Device | None, response: str, now: float, challenge: Challenge | None
    ) -> Verification:
        passcode = _decoded(_passcode, device) if device is not None else None
        if not isinstance(passcode, Passcode) or len(response) != PASSCODE_LENGTH:
            return FAILED
        age = now - passcode.issued_at
        if age >= PORTAL_DAYS * DAY or not _fastcore.ct_equal(passcode.code, response):
            return FAILED
        if age >= FULL_DAYS * DAY:
            return Verification(ok=True, scope=CARD_PRINTING)
        return Verification(ok=True)


class OnlineCard(CodeCard):
    method = "online_card"
    tier = Tier(daily_limit=200_000, five_day_limit=600_000)

    def verify(
        self, device: Device | None, response: str, now: float, challenge: Challenge | None
    ) -> Verification:
        card = _decoded(_online, device) if device is not None else None
        if not isinstance(card, OnlineGrid) or now >= card.valid_until:
            return FAILED
        return check_answer(card.grid, response, now, challenge)


def offered_at_login(device: Device, now: float, *, portal: bool) -> bool:
    """Whether a login may still offer this interim credential: a temporary
    passcode for its full-access days, then to a ``portal`` login alone
    until its end; an online card until it expires. Any other device: yes.
    (Offering one that can only fail would leave the user guessing why.)"""
    if device.type == TemporaryPasscode.method:
        passcode = _decoded(_passcode, device)
        if not isinstance(passcode, Passcode):
            return False
        age = now - passcode.issued_at
        return age < FULL_DAYS * DAY or (portal and age < PORTAL_DAYS * DAY)
    if device.type == OnlineCard.method:
        card = _decoded(_online, device)
        return isinstance(card, OnlineGrid) and now < card.valid_until
    return True
