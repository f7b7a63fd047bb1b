"""Single trading session, portal alongside, takeover, idle and absolute expiry."""

from __future__ import annotations

import hashlib

import pytest

from gateway.auth.sessions import (
    NewSession,
    Occupied,
    Platform,
    PortalSession,
    SessionEvent,
    SessionEventKind,
    SessionRegistry,
    SessionState,
    TradingSession,
    parse_platform,
)
from gateway.clock import TestClock
from gateway.config import SessionConfig
from gateway.errors import BadRequest, SessionExpired, SessionReplaced, Unauthenticated

T0 = 1_700_000_000.0
IDLE = 900.0
DAY = 86_400.0


@pytest.fixture
def clock() -> TestClock:
    return TestClock(T0)


@pytest.fixture
def registry(clock: TestClock) -> SessionRegistry:
    return SessionRegistry(clock, SessionConfig())


def open_session(
    registry: SessionRegistry,
    platform: Platform = Platform.TWS,
    *,
    username: str = "alice",
    trading: bool = False,
    takeover: bool = False,
) -> NewSession | Occupied:
    return registry.open(
        username=username,
        account_id="U1",
        platform=platform,
        method="totp",
        trading=trading,
        takeover=takeover,
    )


def opened(result: NewSession | Occupied) -> NewSession:
    assert isinstance(result, NewSession), result
    return result


def test_token_is_256_bit_random_and_only_its_hash_is_kept(registry: SessionRegistry) -> None:
    new = opened(open_session(registry))
    assert len(new.token) == 43  # 32 bytes, URL-safe base64 without padding
    assert new.session.session_id == hashlib.sha256(new.token.encode()).hexdigest()
    assert new.token not in repr(new)
    assert all(new.token not in repr(v) for v in vars(registry).values())
    other = opened(open_session(registry, Platform.PORTAL))
    assert other.token != new.token


def test_trading_platforms_hold_a_trading_session(registry: SessionRegistry) -> None:
    for i, platform in enumerate([Platform.TWS, Platform.DESKTOP, Platform.MOBILE]):
        session = opened(open_session(registry, platform, username=f"u{i}")).session
        assert isinstance(session, TradingSession)
    assert isinstance(opened(open_session(registry, Platform.PORTAL)).session, PortalSession)
    trading_portal = opened(open_session(registry, Platform.PORTAL, username="z", trading=True))
    assert isinstance(trading_portal.session, TradingSession)


def test_second_trading_login_finds_the_existing_session(
    registry: SessionRegistry, clock: TestClock
) -> None:
    first = opened(open_session(registry, Platform.TWS))
    clock.advance(60)
    second = open_session(registry, Platform.MOBILE)
    assert isinstance(second, Occupied)
    assert second.existing is first.session
    assert second.existing.platform is Platform.TWS
    assert second.existing.started_at == T0
    registry.authenticate(first.token)  # still valid


def test_takeover_replaces_the_old_session_at_once(registry: SessionRegistry) -> None:
    first = opened(open_session(registry, Platform.TWS))
    second = opened(open_session(registry, Platform.DESKTOP, takeover=True))
    assert second.replaced is first.session
    with pytest.raises(SessionReplaced):
        registry.authenticate(first.token)
    assert registry.authenticate(second.token) is second.session
    assert [s.platform for s in registry.sessions("alice")] == [Platform.DESKTOP]


def test_portal_runs_alongside_trading(registry: SessionRegistry) -> None:
    trading = opened(open_session(registry, Platform.TWS))
    portal = opened(open_session(registry, Platform.PORTAL))
    assert registry.authenticate(trading.token).active
    assert registry.authenticate(portal.token).active
    assert len(registry.sessions("alice")) == 2


def test_trading_portal_counts_as_the_trading_session(registry: SessionRegistry) -> None:
    opened(open_session(registry, Platform.PORTAL, trading=True))
    occupied = open_session(registry, Platform.TWS)
    assert isinstance(occupied, Occupied)
    assert occupied.existing.platform is Platform.PORTAL


def test_portal_sessions_run_side_by_side_up_to_the_cap(clock: TestClock) -> None:
    registry = SessionRegistry(clock, SessionConfig(max_portal_sessions=3))
    trading = opened(open_session(registry, Platform.TWS))
    portals = []
    for _ in range(3):
        clock.advance(1)
        portals.append(opened(open_session(registry, Platform.PORTAL)))
    assert all(p.replaced is None and p.ended == () for p in portals)
    assert all(registry.authenticate(p.token).active for p in portals)
    clock.advance(1)
    fourth = opened(open_session(registry, Platform.PORTAL))
    # The oldest portal session ends (not a takeover); the rest and the
    # trading session stay.
    assert fourth.replaced is None and fourth.ended == (portals[0].session,)
    assert portals[0].session.state is SessionState.ENDED
    with pytest.raises(Unauthenticated):
        registry.authenticate(portals[0].token)
    for kept in (*portals[1:], fourth, trading):
        assert registry.authenticate(kept.token).active
    assert len(registry.sessions("alice")) == 4


def test_a_portal_session_that_ended_frees_its_place(clock: TestClock) -> None:
    registry = SessionRegistry(clock, SessionConfig(max_portal_sessions=2))
    first = opened(open_session(registry, Platform.PORTAL))
    second = opened(open_session(registry, Platform.PORTAL))
    registry.logout(first.token)
    third = opened(open_session(registry, Platform.PORTAL))
    assert third.ended == ()
    clock.advance(IDLE)  # both expire
    fourth = opened(open_session(registry, Platform.PORTAL))
    fifth = opened(open_session(registry, Platform.PORTAL))
    assert fourth.ended == () and fifth.ended == ()
    del second


def test_portal_sessions_of_one_user_do_not_touch_anothers(clock: TestClock) -> None:
    registry = SessionRegistry(clock, SessionConfig(max_portal_sessions=1))
    alice = opened(open_session(registry, Platform.PORTAL))
    bob = opened(open_session(registry, Platform.PORTAL, username="bob"))
    assert bob.ended == ()
    assert registry.authenticate(alice.token).active


def test_each_user_has_their_own_single_session(registry: SessionRegistry) -> None:
    opened(open_session(registry, username="alice"))
    opened(open_session(registry, username="bob"))


def test_idle_timeout(registry: SessionRegistry, clock: TestClock) -> None:
    new = opened(open_session(registry))
    clock.advance(IDLE - 1)
    registry.authenticate(new.token)  # a check is not activity
    clock.advance(1)
    with pytest.raises(SessionExpired):
        registry.authenticate(new.token)
    # The trading slot is free again.
    opened(open_session(registry))


def test_tickle_resets_the_idle_timeout(registry: SessionRegistry, clock: TestClock) -> None:
    new = opened(open_session(registry))
    clock.advance(IDLE - 1)
    registry.tickle(new.token)
    clock.advance(IDLE - 1)
    assert registry.authenticate(new.token).active
    assert registry.idle_expires_at(new.session) == clock.now() + 1


def test_touching_request_counts_as_activity(registry: SessionRegistry, clock: TestClock) -> None:
    new = opened(open_session(registry))
    clock.advance(IDLE - 1)
    registry.authenticate(new.token, touch=True)
    clock.advance(IDLE - 1)
    registry.authenticate(new.token)


def test_absolute_lifetime_ends_even_a_busy_session(
    registry: SessionRegistry, clock: TestClock
) -> None:
    new = opened(open_session(registry))
    while clock.now() + IDLE / 2 < T0 + DAY:
        clock.advance(IDLE / 2)
        registry.tickle(new.token)
    assert registry.expires_at(new.session) == T0 + DAY
    clock.set(T0 + DAY - 1)
    registry.authenticate(new.token)
    clock.set(T0 + DAY)
    with pytest.raises(SessionExpired):
        registry.tickle(new.token)


def test_logout(registry: SessionRegistry) -> None:
    new = opened(open_session(registry))
    registry.logout(new.token)
    with pytest.raises(Unauthenticated):
        registry.authenticate(new.token)
    opened(open_session(registry))


def test_unknown_or_empty_token_is_unauthenticated(registry: SessionRegistry) -> None:
    opened(open_session(registry))
    for token in ["", "nope", "x" * 43]:
        with pytest.raises(Unauthenticated):
            registry.authenticate(token)


def test_support_ends_a_session_by_id(registry: SessionRegistry) -> None:
    new = opened(open_session(registry))
    assert registry.end(new.session.session_id)
    assert not registry.end(new.session.session_id)
    with pytest.raises(Unauthenticated):
        registry.authenticate(new.token)


def test_sessions_lists_active_sessions(registry: SessionRegistry, clock: TestClock) -> None:
    alice = opened(open_session(registry, username="alice"))
    clock.advance(1)
    opened(open_session(registry, username="bob"))
    assert [s.username for s in registry.sessions()] == ["alice", "bob"]
    registry.logout(alice.token)
    assert [s.username for s in registry.sessions()] == ["bob"]
    assert registry.sessions("alice") == []
    assert registry.get(alice.session.session_id) is None


# --- events --------------------------------------------------------------------


def test_replaced_session_tells_its_listener(registry: SessionRegistry) -> None:
    first = opened(open_session(registry))
    events: list[SessionEvent] = []
    registry.subscribe(first.session.session_id, events.append)
    opened(open_session(registry, Platform.MOBILE, takeover=True))
    assert [(e.kind, e.session_id) for e in events] == [
        (SessionEventKind.REPLACED, first.session.session_id)
    ]


def test_sweep_expires_idle_sessions_and_tells_listeners(
    registry: SessionRegistry, clock: TestClock
) -> None:
    new = opened(open_session(registry))
    events: list[SessionEvent] = []
    registry.subscribe(new.session.session_id, events.append)
    clock.advance(IDLE - 1)
    assert registry.sweep() == 0
    assert events == []
    clock.advance(1)
    assert registry.sweep() == 1
    assert [e.kind for e in events] == [SessionEventKind.EXPIRED]
    assert new.session.state is SessionState.EXPIRED


def test_sweep_keeps_a_tickled_session(registry: SessionRegistry, clock: TestClock) -> None:
    new = opened(open_session(registry))
    clock.advance(IDLE - 1)
    registry.tickle(new.token)
    clock.advance(IDLE - 1)
    assert registry.sweep() == 0
    clock.advance(1)
    assert registry.sweep() == 1


def test_logout_tells_listeners_the_session_ended(registry: SessionRegistry) -> None:
    new = opened(open_session(registry))
    events: list[SessionEvent] = []
    registry.subscribe(new.session.session_id, events.append)
    registry.logout(new.token)
    assert [e.kind for e in events] == [SessionEventKind.ENDED]


def test_subscribing_to_an_ended_session_reports_at_once(registry: SessionRegistry) -> None:
    first = opened(open_session(registry))
    opened(open_session(registry, takeover=True))
    events: list[SessionEvent] = []
    registry.subscribe(first.session.session_id, events.append)
    assert [e.kind for e in events] == [SessionEventKind.REPLACED]
    unknown: list[SessionEvent] = []
    registry.subscribe("0" * 64, unknown.append)
    assert [e.kind for e in unknown] == [SessionEventKind.ENDED]


def test_unsubscribed_listener_hears_nothing(registry: SessionRegistry) -> None:
    new = opened(open_session(registry))
    events: list[SessionEvent] = []
    unsubscribe = registry.subscribe(new.session.session_id, events.append)
    unsubscribe()
    registry.logout(new.token)
    assert events == []


def test_a_failing_listener_does_not_stop_a_takeover(registry: SessionRegistry) -> None:
    first = opened(open_session(registry))

    def broken(event: SessionEvent) -> None:
        raise RuntimeError("listener bug")

    events: list[SessionEvent] = []
    registry.subscribe(first.session.session_id, broken)
    registry.subscribe(first.session.session_id, events.append)
    opened(open_session(registry, takeover=True))
    assert len(events) == 1


def test_tombstones_are_forgotten_after_a_while(
    registry: SessionRegistry, clock: TestClock
) -> None:
    first = opened(open_session(registry))
    opened(open_session(registry, takeover=True))
    clock.advance(IDLE - 1)
    registry.sweep()
    with pytest.raises(SessionReplaced):
        registry.authenticate(first.token)
    clock.advance(1)
    registry.sweep()
    with pytest.raises(Unauthenticated):
        registry.authenticate(first.token)


def test_parse_platform() -> None:
    assert parse_platform("tws") is Platform.TWS
    with pytest.raises(BadRequest):
        parse_platform("TWS")
    with pytest.raises(BadRequest):
        parse_platform("api")
