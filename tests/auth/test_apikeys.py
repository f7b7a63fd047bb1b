"""API keys in the core: which scopes a session may grant (its own reach),
what support may, and keys revoked with the session that made them."""

from __future__ import annotations

import pytest

from gateway.auth.apikeys import ScopeReach, validate_scopes
from gateway.auth.core import LoginCore
from gateway.auth.sessions import NewSession, Platform, Session, SessionKind
from gateway.clock import TestClock
from gateway.config import AccessRule, Config, ForwardAuthConfig, RouteConfig
from gateway.errors import BadRequest, Forbidden, Unauthenticated
from gateway.store.base import ApiKeyRecord, ApiKeyScope
from gateway.store.memory import MemoryStore

from .helpers import CHEAP_ARGON2, CountingHasher, add_user


def config() -> Config:
    return Config(
        argon2=CHEAP_ARGON2,
        routes=[
            RouteConfig(prefix="/app", upstream="http://127.0.0.1:1", api_key_scope="app"),
            RouteConfig(
                prefix="/trade",
                upstream="http://127.0.0.1:1",
                session="trading",
                api_key_scope="trade",
            ),
        ],
        forward_auth=ForwardAuthConfig(
            rules=[
                AccessRule(prefix="/", session="any"),
                AccessRule(prefix="/keys-only", session="none", api_key_scope="reports"),
                AccessRule(prefix="/desk", session="portal", api_key_scope="desk"),
                AccessRule(prefix="/open", public=True, api_key_scope="open"),
            ]
        ),
    )


class WritingStore(MemoryStore):
    """A store whose key writes run ``during_write`` first (something else
    happening while the write is under way)."""

    during_write = staticmethod(lambda: None)

    async def add_api_key(self, record: ApiKeyRecord) -> None:
        self.during_write()
        await super().add_api_key(record)


@pytest.fixture
def store() -> WritingStore:
    return WritingStore()


@pytest.fixture
def core(clock: TestClock, store: MemoryStore, hasher: CountingHasher) -> LoginCore:
    return LoginCore.build(config(), store=store, clock=clock, hasher=hasher)


def open_session(core: LoginCore, platform: Platform, method: str = "totp") -> Session:
    opened = core.sessions.open(
        username="alice", account_id="U1", platform=platform, method=method, takeover=True
    )
    assert isinstance(opened, NewSession)
    return opened.session


def scopes(*names: str) -> list[ApiKeyScope]:
    return [ApiKeyScope(name, ("GET",)) for name in names]


def test_a_scope_reaches_the_kinds_its_routes_and_rules_admit() -> None:
    reach = ScopeReach.of(config())
    trading, portal = SessionKind.TRADING, SessionKind.PORTAL
    assert reach.admits("app", trading) and reach.admits("app", portal)
    assert reach.admits("trade", trading) and not reach.admits("trade", portal)
    assert reach.admits("desk", portal) and not reach.admits("desk", trading)
    assert reach.admits("open", portal) and reach.admits("open", trading)
    assert reach.named("reports") and not reach.admits("reports", trading)
    assert not reach.admits("reports", portal)
    assert not reach.named("nowhere") and not reach.admits("nowhere", trading)


def test_methods_are_upper_case_http_methods() -> None:
    for methods in (("get",), ("Get",), ("BREW",)):
        with pytest.raises(BadRequest, match="upper-case"):
            validate_scopes([ApiKeyScope("app", methods)])
    (checked,) = validate_scopes([ApiKeyScope("app", ("POST", "GET", "GET"))])
    assert checked.methods == ("GET", "POST")


async def test_a_session_grants_only_what_it_could_use(core: LoginCore) -> None:
    await add_user(core, "alice", account="U1")
    portal, tws = open_session(core, Platform.PORTAL), open_session(core, Platform.TWS)
    for session, refused in ((portal, "trade"), (tws, "desk"), (tws, "reports")):
        with pytest.raises(Forbidden, match=repr(refused)):
            await core.support.create_api_key(
                "alice", "k", scopes("app", refused), by="user", session=session
            )
    assert core.api_keys.of_user("alice") == []
    await core.support.create_api_key("alice", "k", scopes("trade"), by="user", session=tws)
    await core.support.create_api_key("alice", "k", scopes("desk"), by="user", session=portal)
    await core.support.create_api_key("alice", "k", scopes("reports"), by="support")
    with pytest.raises(Forbidden, match="'nowhere'"):
        await core.support.create_api_key("alice", "k", scopes("nowhere"), by="support")
    assert len(core.api_keys.of_user("alice")) == 3


async def test_interim_sessions_and_generous_rates_are_for_support(core: LoginCore) -> None:
    await add_user(core, "alice", account="U1")
    for method in ("temp_passcode", "online_card"):
        interim = open_session(core, Platform.TWS, method)
        with pytest.raises(Forbidden, match="Reactivate"):
            await core.support.create_api_key(
                "alice", "k", scopes("app"), by="user", session=interim
            )
    tws = open_session(core, Platform.TWS)
    for rate, burst in ((10.01, None), (None, 100.5)):
        with pytest.raises(Forbidden, match="at most"):
            await core.support.create_api_key(
                "alice", "k", scopes("app"), by="user", session=tws, rate=rate, burst=burst
            )
    await core.support.create_api_key(
        "alice", "k", scopes("app"), by="user", session=tws, rate=10, burst=100
    )
    await core.support.create_api_key("alice", "k", scopes("app"), by="support", rate=1e6)
    assert len(core.api_keys.of_user("alice")) == 2


async def test_a_key_written_as_its_session_ends_goes_with_it(
    core: LoginCore, store: WritingStore
) -> None:
    await add_user(core, "alice", account="U1")
    tws = open_session(core, Platform.TWS)
    # The session ends (a password reset, a logout) while the key is written.
    store.during_write = lambda: core.sessions.end(tws.session_id)  # type: ignore[method-assign]
    with pytest.raises(Unauthenticated):
        await core.support.create_api_key("alice", "k", scopes("app"), by="user", session=tws)
    assert core.api_keys.of_user("alice") == []
    assert await store.api_keys() == []


async def test_a_password_set_by_support_revokes_keys_and_ends_sessions(
    core: LoginCore, store: WritingStore
) -> None:
    await add_user(core, "alice", account="U1")
    await add_user(core, "bob", account="U1")
    tws = open_session(core, Platform.TWS)
    mine = await core.support.create_api_key("alice", "k", scopes("app"), by="user", session=tws)
    await core.support.create_api_key("alice", "k", scopes("reports"), by="support")
    bobs = await core.support.create_api_key("bob", "k", scopes("app"), by="support")
    assert await core.support.set_password("alice", "newpass99") == 2
    with pytest.raises(Unauthenticated):
        core.api_keys.authenticate(mine.token)
    assert core.sessions.get(tws.session_id) is None
    assert [k.key_id for k in await store.api_keys()] == [bobs.record.key_id]
    assert core.api_keys.authenticate(bobs.token).username == "bob"
