"""The JSON audit log: one line per security event, to a file or stdout.

Lines are ``{"ts": ..., "event": ..., "user": ..., ...}`` with the event's
public fields; nothing in an event is secret (see ``auth.events``), and the
writer refuses field names that look like one as a second guard. The file is
opened for appending and never rotated here: rotate it with the platform's
tool (logrotate with ``copytruncate``, or journald for stdout).
"""

from __future__ import annotations

import datetime
import sys
from typing import IO

import msgspec

from gateway.auth.events import SecurityEvent

_SECRET_FIELDS = frozenset({"password", "token", "secret", "code", "response", "key", "pin"})
_encoder = msgspec.json.Encoder()


class AuditLog:
    def __init__(self, path: str) -> None:
        self._path = path
        self._file: IO[bytes] | None = None
        if path == "-":
            self._file = sys.stdout.buffer
        elif path:
            self._file = open(path, "ab", buffering=0)  # noqa: SIM115 (lives with the gateway)
        self.lines = 0

    @property
    def enabled(self) -> bool:
        return self._file is not None

    def __call__(self, event: SecurityEvent) -> None:
        if self._file is None:
            return
        line: dict[str, object] = {
            "ts": datetime.datetime.fromtimestamp(event.at, datetime.UTC).isoformat(),
            "event": event.kind,
        }
        if event.username is not None:
            line["user"] = event.username
        for name, value in event.fields.items():
            if name not in _SECRET_FIELDS:
                line[name] = value
        # One write per line: lines from one process never interleave.
        self._file.write(_encoder.encode(line) + b"\n")
        if self._file is sys.stdout.buffer:
            self._file.flush()
        self.lines += 1

    def close(self) -> None:
        if self._file is not None and self._file is not sys.stdout.buffer:
            self._file.close()
        self._file = None
