"""Sessions of SPEC section 5.

- ``tws``, ``desktop``, ``mobile`` (and ``portal`` when it trades) hold a
  ``TradingSession``: one per user. A second trading login gets ``Occupied``
  (the flow answers ``session_exists``) unless it confirms a takeover, which
  ends the old session at once: its next request gets ``session_replaced``.
- ``portal`` holds a ``PortalSession`` beside the trading one (SPEC 5 limits
  trading sessions only). A user may hold up to ``max_portal_sessions`` of
  them (a laptop and a phone browser both stay logged in); a login past the
  cap ends the oldest (``NewSession.ended``: an ended session, not a
  takeover, since a browser tab has no takeover prompt to show).
- A session ends after ``idle_timeout`` without a tickle or after
  ``absolute_lifetime``; at exactly the deadline it has ended.
- Tokens are 256-bit random (``secrets.token_urlsafe(32)``); only their
  SHA-256 is kept, and its hex is the public session id.

The registry is in memory and process-local, and synchronous: each call is
atomic on the event loop, and the hot path (session check, tickle, forward
auth) needs no await. Events (replaced, expired,
ended) reach the edge through listeners it subscribes per session, e.g. a
callback that puts the event on a trio memory channel feeding a server-sent
events stream. Time-based expiry needs ``sweep()``: the edge calls it every
second or so, and after moving the test clock.
"""

from __future__ import annotations

import enum
import hashlib
import heapq
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

from gateway.clock import Clock
from gateway.config import SessionConfig
from gateway.errors import BadRequest, SessionExpired, SessionReplaced, Unauthenticated

log = logging.getLogger(__name__)


class Platform(enum.StrEnum):
    PORTAL = "portal"
    TWS = "tws"
    DESKTOP = "desktop"
    MOBILE = "mobile"
    API = "api"


TRADING_PLATFORMS = frozenset({Platform.TWS, Platform.DESKTOP, Platform.MOBILE})


class SessionKind(enum.StrEnum):
    TRADING = "trading"
    PORTAL = "portal"


class SessionState(enum.StrEnum):
    ACTIVE = "active"
    REPLACED = "replaced"  # taken over by a newer login
    EXPIRED = "expired"  # idle timeout or absolute lifetime
    ENDED = "ended"  # logout, or ended by support


class SessionEventKind(enum.StrEnum):
    REPLACED = "replaced"
    EXPIRED = "expired"
    ENDED = "ended"


_EVENT_OF_STATE = {
    SessionState.REPLACED: SessionEventKind.REPLACED,
    SessionState.EXPIRED: SessionEventKind.EXPIRED,
    SessionState.ENDED: SessionEventKind.ENDED,
}


@dataclass(frozen=True, slots=True)
class SessionEvent:
    kind: SessionEventKind
    session_id: str
    at: float


SessionListener = Callable[[SessionEvent], None]


def parse_platform(platform: str) -> Platform:
    try:
        parsed = Platform(platform)
    except ValueError:
        raise BadRequest(f"unknown platform {platform!r}") from None
    if parsed is Platform.API:
        raise BadRequest("api clients authenticate with API keys, not a login")
    return parsed


def session_id_of(token: str) -> str:
    """The public id of a session: hex SHA-256 of its token."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(eq=False, slots=True)
class Session:
    session_id: str
    username: str
    account_id: str
    platform: Platform
    method: str  # the second factor that authenticated it (sets its tier)
    started_at: float
    last_seen: float
    state: SessionState = SessionState.ACTIVE
    ended_at: float | None = None
    scope: str | None = None  # None: full access; "card_printing": that alone
    device_id: str | None = None  # the device that answered the second factor
    kind: ClassVar[SessionKind]

    @property
    def active(self) -> bool:
        return self.state is SessionState.ACTIVE


@dataclass(eq=False, slots=True)
class TradingSession(Session):
    kind: ClassVar[SessionKind] = SessionKind.TRADING


@dataclass(eq=False, slots=True)
class PortalSession(Session):
    kind: ClassVar[SessionKind] = SessionKind.PORTAL


@dataclass(frozen=True, slots=True)
class NewSession:
    """A session just opened. ``token`` goes to the client once (cookie or
    bearer) and is never stored."""

    token: str = field(repr=False)
    session: Session
    replaced: Session | None = None  # the trading session a takeover ended
    ended: tuple[Session, ...] = ()  # the oldest portal sessions, past the cap


@dataclass(frozen=True, slots=True)
class Occupied:
    """A trading session is already open and no takeover was confirmed."""

    existing: Session


class SessionRegistry:
    def __init__(self, clock: Clock, config: SessionConfig | None = None) -> None:
        config = config if config is not None else SessionConfig()
        self.idle_timeout = config.idle_timeout_seconds
        self.absolute_lifetime = config.absolute_lifetime_seconds
        # An ended session is remembered this long, so that its next request
        # says "replaced"/"expired" instead of a bare "unauthenticated".
        self.tombstone_ttl = config.idle_timeout_seconds
        self.max_portal_sessions = config.max_portal_sessions
        self._clock = clock
        self._by_id: dict[str, Session] = {}
        self._trading: dict[str, str] = {}  # username -> its one trading session
        self._portal: dict[str, list[str]] = {}  # username -> portal sessions, oldest first
        self._listeners: dict[str, list[SessionListener]] = {}
        # One (when to look again, session id) entry per known session.
        self._agenda: list[tuple[float, str]] = []

    def idle_expires_at(self, session: Session) -> float:
        """When the session ends unless it is tickled first."""
        return session.last_seen + self.idle_timeout

    def absolute_expires_at(self, session: Session) -> float:
        return session.started_at + self.absolute_lifetime

    def expires_at(self, session: Session) -> float:
        return min(self.idle_expires_at(session), self.absolute_expires_at(session))

    def open(
        self,
        *,
        username: str,
        account_id: str,
        platform: Platform,
        method: str,
        trading: bool = False,
        takeover: bool = False,
        scope: str | None = None,
        device_id: str | None = None,
    ) -> NewSession | Occupied:
        now = self._clock.now()
        kind_trading = platform in TRADING_PLATFORMS or (platform is Platform.PORTAL and trading)
        cls: type[Session] = TradingSession if kind_trading else PortalSession
        existing = None
        ended: tuple[Session, ...] = ()
        if cls.kind is SessionKind.TRADING:
            existing = self._current(self._trading.get(username), now)
            if existing is not None and not takeover:
                return Occupied(existing)
            if existing is not None:
                self._end(existing, SessionState.REPLACED, now)
        else:
            ended = self._make_portal_room(username, now)
        token = secrets.token_urlsafe(32)
        session = cls(session_id_of(token), username, account_id, platform, method, now, now)
        session.scope = scope
        session.device_id = device_id
        self._by_id[session.session_id] = session
        if cls.kind is SessionKind.TRADING:
            self._trading[username] = session.session_id
        else:
            self._portal.setdefault(username, []).append(session.session_id)
        heapq.heappush(self._agenda, (self.expires_at(session), session.session_id))
        return NewSession(token, session, existing, ended)

    def _make_portal_room(self, username: str, now: float) -> tuple[Session, ...]:
        """End the user's oldest portal sessions until one more fits."""
        # A copy: expiring a session on the way removes it from the list.
        known = list(self._portal.get(username, ()))
        live = [s for i in known if (s := self._current(i, now)) is not None]
        ended = tuple(live[: max(0, len(live) - self.max_portal_sessions + 1)])
        for session in ended:
            self._end(session, SessionState.ENDED, now)
        return ended

    def authenticate(self, token: str, *, touch: bool = False) -> Session:
        """The active session of ``token``; ``touch`` counts the request as
        activity (like a tickle). Raises ``Unauthenticated``,
        ``SessionReplaced`` or ``SessionExpired``."""
        session = self._by_id.get(session_id_of(token)) if token else None
        if session is None:
            raise Unauthenticated()
        now = self._clock.now()
        self._current(session.session_id, now)
        if session.state is SessionState.REPLACED:
            raise SessionReplaced()
        if session.state is SessionState.EXPIRED:
            raise SessionExpired()
        if session.state is SessionState.ENDED:
            raise Unauthenticated()
        if touch:
            session.last_seen = now
        return session

    def tickle(self, token: str) -> Session:
        """The keepalive: resets the idle timeout (not the absolute lifetime)."""
        return self.authenticate(token, touch=True)

    def logout(self, token: str) -> None:
        session = self.authenticate(token)
        self._end(session, SessionState.ENDED, self._clock.now())

    def end_by_method(self, username: str, methods: tuple[str, ...]) -> int:
        """End the user's sessions opened by ``methods`` (a reactivation ends
        what the interim credentials opened); returns how many."""
        now = self._clock.now()
        ended = 0
        for session in self.sessions(username):
            if session.method in methods:
                self._end(session, SessionState.ENDED, now)
                ended += 1
        return ended

    def end_by_device(self, username: str, device_id: str) -> int:
        """End the user's sessions that ``device_id`` authenticated (the
        device was removed: lost, or stolen); returns how many."""
        now = self._clock.now()
        ended = 0
        for session in self.sessions(username):
            if session.device_id == device_id:
                self._end(session, SessionState.ENDED, now)
                ended += 1
        return ended

    def end(self, session_id: str) -> bool:
        """Support ends a session by id; False if it was not active."""
        session = self._current(session_id, self._clock.now())
        if session is None:
            return False
        self._end(session, SessionState.ENDED, self._clock.now())
        return True

    def get(self, session_id: str) -> Session | None:
        """The active session with that id, if any."""
        return self._current(session_id, self._clock.now())

    def sessions(self, username: str | None = None) -> list[Session]:
        """Active sessions, of one user or of everyone."""
        now = self._clock.now()
        found = [
            s
            for s in list(self._by_id.values())
            if (username is None or s.username == username) and self._current(s.session_id, now)
        ]
        return sorted(found, key=lambda s: s.started_at)

    def subscribe(self, session_id: str, listener: SessionListener) -> Callable[[], None]:
        """Call ``listener`` when the session is replaced, expires or ends
        (once: the session is then over). Subscribing to a session that is
        already over calls it at once. Returns the unsubscribe function."""
        session = self._by_id.get(session_id)
        if session is None or not session.active:
            state = session.state if session is not None else SessionState.ENDED
            at = session.ended_at if session is not None and session.ended_at else self._clock.now()
            _notify([listener], SessionEvent(_EVENT_OF_STATE[state], session_id, at))
            return lambda: None
        listeners = self._listeners.setdefault(session_id, [])
        listeners.append(listener)

        def unsubscribe() -> None:
            if listener in listeners:
                listeners.remove(listener)

        return unsubscribe

    def sweep(self) -> int:
        """Expire sessions past their deadline and forget old tombstones.
        Returns how many sessions expired."""
        now = self._clock.now()
        expired = 0
        while self._agenda and self._agenda[0][0] <= now:
            _, session_id = heapq.heappop(self._agenda)
            session = self._by_id.get(session_id)
            if session is None:
                continue
            if session.active:
                deadline = self.expires_at(session)
                if deadline > now:  # tickled since: look again later
                    heapq.heappush(self._agenda, (deadline, session_id))
                    continue
                self._end(session, SessionState.EXPIRED, now)
                expired += 1
            assert session.ended_at is not None
            forget_at = session.ended_at + self.tombstone_ttl
            if forget_at <= now:
                del self._by_id[session_id]
            else:
                heapq.heappush(self._agenda, (forget_at, session_id))
        return expired

    def _current(self, session_id: str | None, now: float) -> Session | None:
        """The session if it is still active, expiring it first if its time
        is up."""
        session = self._by_id.get(session_id) if session_id is not None else None
        if session is None or not session.active:
            return None
        if now >= self.expires_at(session):
            self._end(session, SessionState.EXPIRED, now)
            return None
        return session

    def _end(self, session: Session, state: SessionState, now: float) -> None:
        session.state = state
        session.ended_at = now
        if session.kind is SessionKind.TRADING:
            if self._trading.get(session.username) == session.session_id:
                del self._trading[session.username]
        else:
            portal = self._portal.get(session.username, [])
            if session.session_id in portal:
                portal.remove(session.session_id)
            if not portal:
                self._portal.pop(session.username, None)
        listeners = self._listeners.pop(session.session_id, [])
        _notify(listeners, SessionEvent(_EVENT_OF_STATE[state], session.session_id, now))

    def __repr__(self) -> str:
        return f"SessionRegistry(sessions={len(self._by_id)})"


def _notify(listeners: list[SessionListener], event: SessionEvent) -> None:
    for listener in listeners:
        try:
            listener(event)
        except Exception:
            # One broken listener must not stop a takeover or the others.
            log.exception("session listener failed for event %s", event.kind)
