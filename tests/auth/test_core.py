from __future__ import annotations

import pytest

from gateway.auth.core import LoginCore
from gateway.auth.flow import LoggedIn, SecondFactorRequired
from gateway.auth.sessions import SessionEvent, SessionEventKind
from gateway.clock import TestClock
from gateway.errors import NotFound, SessionExpired

from .helpers import IP, PASSWORD, add_user


async def test_sweep_expires_sessions_and_logins(core: LoginCore, clock: TestClock) -> None:
    await add_user(core, "alice")
    await add_user(core, "bob", totp=True)
    session = await core.flow.login("alice", PASSWORD, "tws", ip=IP)
    pending = await core.flow.login("bob", PASSWORD, "tws", ip=IP)
    assert isinstance(session, LoggedIn) and isinstance(pending, SecondFactorRequired)
    events: list[SessionEvent] = []
    core.sessions.subscribe(session.session.session_id, events.append)
    clock.advance(900)
    core.sweep()
    assert [e.kind for e in events] == [SessionEventKind.EXPIRED]
    with pytest.raises(SessionExpired):
        core.sessions.authenticate(session.token)
    with pytest.raises(NotFound):
        core.flow.state(pending.login_id)


def test_factors_offered(core: LoginCore) -> None:
    assert set(core.factors) == {
        "none",
        "totp",
        "sms",
        "scc",
        "ibkey",
        "dscplus",
        "platinum",
        "gold",
        "dsc",
        "temp_passcode",
        "online_card",
        "passkey",
    }
