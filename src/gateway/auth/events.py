"""Security events: what the audit log records and the metrics count.

The login core says what happened (a login succeeded or failed, a user was
locked, a session taken over, support acted) to an ``EventBus``; it does not
know who listens. The edge subscribes the JSON audit log and the metrics.
Fields are public facts (usernames, methods, addresses, key ids), never a
password, code, token or secret.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SecurityEvent:
    kind: str
    at: float
    username: str | None = None
    fields: dict[str, object] = field(default_factory=dict)


EventSink = Callable[[SecurityEvent], None]


class EventBus:
    def __init__(self) -> None:
        self._sinks: list[EventSink] = []

    def subscribe(self, sink: EventSink) -> None:
        self._sinks.append(sink)

    def emit(self, kind: str, at: float, username: str | None = None, **fields: object) -> None:
        event = SecurityEvent(kind, at, username, fields)
        for sink in self._sinks:
            try:
                sink(event)
            except Exception:
                # An audit sink that fails must not fail the login it records.
                log.exception("security event sink failed for %s", kind)
