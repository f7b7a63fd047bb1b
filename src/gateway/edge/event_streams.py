"""Caps on open event streams (``GET /v1/session/events``).

An event stream holds its client connection and a connection to the control
plane (three descriptors) for as long as its session lives, so one session
or one address may hold only a few (``[http]
max_event_streams_per_session`` and ``_per_client``); past either the
answer is ``rate_limited``. The data plane asks here only for requests whose
decided path is the event stream's, so no other request pays for it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable

from gateway.addresses import client_group
from gateway.auth.sessions import SessionRegistry
from gateway.config import HttpConfig
from gateway.credentials import session_token
from gateway.edge.listener import HttpConnection, Request
from gateway.errors import GatewayError, RateLimited

EVENTS_PATH = b"/v1/session/events"
EVENTS_RETRY_AFTER = 5.0

Key = tuple[str, str]


class EventStreamsFull(RateLimited):
    """A session or an address holds all the event streams it may."""


class EventStreamCaps:
    def __init__(self, sessions: SessionRegistry, http: HttpConfig) -> None:
        self._sessions = sessions
        self._ipv6_prefix = http.ipv6_prefix
        self._per_session = http.max_event_streams_per_session
        self._per_client = http.max_event_streams_per_client
        self.open: Counter[Key] = Counter()
        self.refused = 0

    @property
    def streams(self) -> int:
        """Open event streams (each counts once under its address)."""
        return sum(n for (kind, _), n in self.open.items() if kind == "client")

    async def serve(
        self,
        request: Request,
        connection: HttpConnection,
        client: str,
        relay: Callable[[], Awaitable[None]],
    ) -> None:
        """``relay`` the stream while it holds a place of its session's and
        its address's, or answer ``rate_limited``."""
        keys = self._keys(request, client)
        open_ = self.open
        if any(open_[key] >= self._cap(key) for key in keys):
            self.refused += 1
            raise EventStreamsFull(EVENTS_RETRY_AFTER, "Too many open event streams")
        for key in keys:
            open_[key] += 1
        try:
            await relay()
        finally:
            for key in keys:
                open_[key] -= 1
                if not open_[key]:
                    del open_[key]

    def _cap(self, key: Key) -> int:
        return self._per_session if key[0] == "session" else self._per_client

    def _keys(self, request: Request, client: str) -> list[Key]:
        keys = [("client", client_group(client, self._ipv6_prefix))]
        try:
            token = session_token(request.headers, request.method)
            if token is not None:
                keys.append(("session", self._sessions.authenticate(token).session_id))
        except GatewayError:
            pass  # no live session: the control plane answers 401
        return keys
