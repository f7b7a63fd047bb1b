"""Withdrawal limits by device tier (SPEC 4; DESIGN.md, "Withdrawal limits").

The limits of a session are those of the method that authenticated it
(``[withdrawal_limits]``, whole currency units, -1 for unlimited). Totals are
kept per user, not per session, over two rolling windows:

- the last 24 hours;
- the last 5 business days in ``[withdrawals] time_zone``: the business day
  of now and the four before it, Saturdays and Sundays skipped; a
  withdrawal made on a weekend belongs to the Monday after.

Amounts are decimal strings with at most two decimals (``"1250"``,
``"1250.50"``), kept as integer cents: a JSON number is refused, since a
float cannot hold every amount of money exactly.

Check and record happen with nothing awaited between them, so concurrent
withdrawals never overshoot a limit; the record then goes to the store.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from gateway.clock import Clock
from gateway.errors import BadRequest

DAY = 86_400.0
AMOUNT = re.compile(r"(0|[1-9][0-9]{0,14})(\.[0-9]{1,2})?")
BUSINESS_DAYS = 5


def parse_amount(text: str) -> int:
    """Cents from a decimal string; ``bad_request`` for anything else."""
    if not isinstance(text, str) or AMOUNT.fullmatch(text) is None:
        raise BadRequest('amount is a decimal string like "1250" or "1250.50"')
    whole, _, fraction = text.partition(".")
    cents = int(whole) * 100 + int((fraction + "00")[:2])
    if cents <= 0:
        raise BadRequest("amount must be more than zero")
    return cents


def format_cents(cents: int | None) -> str | None:
    if cents is None:
        return None
    return f"{cents // 100}.{cents % 100:02d}"


@dataclass(frozen=True, slots=True)
class Limits:
    day: int | None  # cents; None: unlimited
    five_days: int | None


@dataclass(frozen=True, slots=True)
class Standing:
    fits: bool
    method: str
    limits: Limits
    remaining_day: int | None
    remaining_five_days: int | None


class WithdrawalLedger:
    """Per-user withdrawals, in memory, with the business-day arithmetic."""

    def __init__(
        self, limits: Mapping[str, Sequence[int]], clock: Clock, time_zone: str = "UTC"
    ) -> None:
        self._limits = {
            method: Limits(None if day < 0 else day * 100, None if five < 0 else five * 100)
            for method, (day, five) in limits.items()
        }
        self._clock = clock
        self._zone = ZoneInfo(time_zone)
        self._entries: dict[str, deque[tuple[float, int]]] = {}

    def limits_of(self, method: str) -> Limits:
        return self._limits.get(method, self._limits.get("none", Limits(0, 0)))

    def restore(self, username: str, entries: Sequence[tuple[float, int]]) -> None:
        self._entries[username] = deque(sorted(entries))

    def standing(self, username: str, method: str, cents: int) -> Standing:
        """Whether ``cents`` fits now, and what remains."""
        limits = self.limits_of(method)
        day_total, five_total = self._totals(username, self._clock.now())
        remaining_day = None if limits.day is None else max(0, limits.day - day_total)
        remaining_five = None if limits.five_days is None else max(0, limits.five_days - five_total)
        fits = all(r is None or cents <= r for r in (remaining_day, remaining_five))
        return Standing(fits, method, limits, remaining_day, remaining_five)

    def withdraw(self, username: str, method: str, cents: int) -> tuple[Standing, float | None]:
        """Record ``cents`` if it fits (atomically: nothing awaits here);
        returns the standing before it and the time recorded, or ``None``."""
        standing = self.standing(username, method, cents)
        if not standing.fits:
            return standing, None
        now = self._clock.now()
        self._entries.setdefault(username, deque()).append((now, cents))
        return standing, now

    def _totals(self, username: str, now: float) -> tuple[int, int]:
        entries = self._entries.get(username)
        if not entries:
            return 0, 0
        window = self._business_window(now)
        oldest = window[-1]
        # Forget what no window can see any more (older than both).
        horizon = min(now - DAY, self._day_start(oldest))
        while entries and entries[0][0] < horizon:
            entries.popleft()
        day_total = sum(c for t, c in entries if t > now - DAY)
        days = set(window)
        five_total = sum(c for t, c in entries if self._business_day(t) in days)
        return day_total, five_total

    def _business_day(self, at: float) -> dt.date:
        day = dt.datetime.fromtimestamp(at, self._zone).date()
        while day.weekday() >= 5:  # a weekend counts with the Monday after
            day += dt.timedelta(days=1)
        return day

    def _business_window(self, now: float) -> list[dt.date]:
        day = self._business_day(now)
        window = [day]
        while len(window) < BUSINESS_DAYS:
            day -= dt.timedelta(days=1)
            if day.weekday() < 5:
                window.append(day)
        return window

    def _day_start(self, day: dt.date) -> float:
        # The Saturday before a Monday already belongs to that Monday.
        start = day
        while (start - dt.timedelta(days=1)).weekday() >= 5:
            start -= dt.timedelta(days=1)
        return dt.datetime.combine(start, dt.time(), self._zone).timestamp()
