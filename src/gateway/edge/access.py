"""Who is asking, and may they pass this path? Shared by forward auth and
the reverse proxy.

A request's credential is, in order: ``X-API-Key``, ``Authorization:
Bearer`` (an API key when it starts with ``gk_``, else a session token), the
session cookie. An ``AccessRule`` (config) says which sessions or API-key
scope may pass a path prefix. The answer is either a ``Principal`` with the
identity headers that go upstream, or a SPEC error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from gateway.auth.apikeys import ApiKeyRegistry
from gateway.auth.sessions import Session, SessionKind, SessionRegistry
from gateway.config import AccessRule
from gateway.credentials import SAFE_METHODS, Credential, cross_site, find_credential
from gateway.edge.wire import encode_headers
from gateway.errors import Forbidden, GatewayError, Unauthenticated
from gateway.store.base import ApiKeyRecord

UNLIMITED = b"unlimited"
IDENTITY_CACHE = 200_000
T = TypeVar("T")

Headers = list[tuple[bytes, bytes]]
IDENTITY_HEADERS = (
    b"x-auth-user",
    b"x-auth-account",
    b"x-auth-platform",
    b"x-auth-method",
    b"x-auth-session",
    b"x-auth-key",
    b"x-auth-limit-day",
    b"x-auth-limit-5d",
)
# Who passes a public rule without a credential: every identity header,
# empty, so that a proxy copying them (Caddy's copy_headers, nginx's
# auth_request_set) replaces whatever stood there and invents nothing.
ANONYMOUS_HEADERS = encode_headers([(name, b"") for name in IDENTITY_HEADERS])


@dataclass(frozen=True, slots=True)
class Principal:
    session: Session | None
    api_key: ApiKeyRecord | None
    # The eight X-Auth-* identity header lines, encoded: always all of them
    # (the one that does not apply is empty), so that a proxy copying them
    # replaces every header of those names a client may have sent.
    headers: bytes

    @property
    def session_id(self) -> str | None:
        return self.session.session_id if self.session is not None else None


class WithdrawalTiers:
    """The ``X-Auth-Limit-*`` values of each method, encoded once."""

    def __init__(self, limits: Mapping[str, Sequence[int]]) -> None:
        def encoded(value: int) -> bytes:
            return UNLIMITED if value < 0 else str(value).encode()

        self._tiers = {
            method: (encoded(day), encoded(five)) for method, (day, five) in limits.items()
        }
        self._fallback = self._tiers.get("none", (b"0", b"0"))

    def of(self, method: str) -> tuple[bytes, bytes]:
        return self._tiers.get(method, self._fallback)


class AccessControl:
    def __init__(
        self, sessions: SessionRegistry, api_keys: ApiKeyRegistry, tiers: WithdrawalTiers
    ) -> None:
        self.sessions = sessions
        self.api_keys = api_keys
        self.tiers = tiers
        # A session's or key's identity never changes: encoded once, by id.
        self._identity: dict[str, bytes] = {}

    def authorize(
        self,
        rule: AccessRule,
        method: str,
        headers: Sequence[tuple[bytes, bytes]],
        host: bytes | None,
    ) -> Principal | None:
        """The principal allowed through ``rule`` (``None``: anonymous, on a
        public rule); ``host`` is the host the client asked for, from the one
        source the edge believes. Raises ``Unauthenticated`` (or
        ``SessionReplaced``/``SessionExpired``/``RateLimited``) or
        ``Forbidden``.

        On a public rule a credential that does not hold (an expired
        session's cookie, a revoked key, a cross-site cookie) is passed over:
        the request goes on as anonymous, since anyone may pass. Refusing it
        would lock a browser out of public pages, the login page among them,
        for as long as it keeps a stale cookie."""
        credential = find_credential(headers)
        if credential is None:
            if rule.public:
                return None
            raise Unauthenticated()
        if rule.public:
            try:
                return self._identify(rule, method, headers, host, credential)
            except GatewayError:
                return None
        return self._identify(rule, method, headers, host, credential)

    def _identify(
        self,
        rule: AccessRule,
        method: str,
        headers: Sequence[tuple[bytes, bytes]],
        host: bytes | None,
        credential: Credential,
    ) -> Principal:
        if credential.api_key:
            record = self.api_keys.authenticate(credential.token)
            if not rule.public and not self.api_keys.allows(record, rule.api_key_scope, method):
                raise Forbidden("This API key is not allowed here")
            identity = self._identity.get(record.key_id)
            if identity is None:
                identity = self._remember(record.key_id, self._key_headers(record))
            return Principal(None, record, identity)
        if credential.from_cookie and method not in SAFE_METHODS and cross_site(headers, host):
            raise Forbidden("Cross-site request refused")
        # Each request through the gateway is activity: it keeps the session.
        session = self.sessions.authenticate(credential.token, touch=True)
        if session.scope is not None:
            raise Forbidden("This session may only print the online security card")
        if not rule.public and not _kind_allowed(rule, session):
            raise Forbidden(f"A {rule.session} session is needed here")
        identity = self._identity.get(session.session_id)
        if identity is None:
            identity = self._remember(session.session_id, self._session_headers(session))
        return Principal(session, None, identity)

    def _remember(self, key: str, headers: Headers) -> bytes:
        if len(self._identity) >= IDENTITY_CACHE:
            self._identity.clear()  # rebuilt on demand: cheaper than tracking ends
        encoded = self._identity[key] = encode_headers(headers)
        return encoded

    def _session_headers(self, session: Session) -> Headers:
        day, five = self.tiers.of(session.method)
        values = (
            session.username.encode(),
            session.account_id.encode(),
            session.platform.value.encode(),
            session.method.encode(),
            session.session_id.encode(),
            b"",
            day,
            five,
        )
        return list(zip(IDENTITY_HEADERS, values, strict=True))

    def _key_headers(self, record: ApiKeyRecord) -> Headers:
        day, five = self.tiers.of("api_key")
        values = (
            record.username.encode(),
            record.account_id.encode(),
            b"api",
            b"api_key",
            b"",
            record.key_id.encode(),
            day,
            five,
        )
        return list(zip(IDENTITY_HEADERS, values, strict=True))


def _kind_allowed(rule: AccessRule, session: Session) -> bool:
    wanted = rule.session
    if wanted == "any":
        return True
    if wanted == "none":
        return False
    return session.kind is SessionKind(wanted)


class PrefixTable(Generic[T]):
    """Longest-prefix match on whole path segments: ``/app`` matches
    ``/app`` and ``/app/x``, never ``/apple``."""

    def __init__(self, entries: Sequence[tuple[str, T]]) -> None:
        self._entries = sorted(
            ((prefix.encode(), value) for prefix, value in entries),
            key=lambda e: len(e[0]),
            reverse=True,
        )

    def match(self, path: bytes) -> tuple[bytes, T] | None:
        for prefix, value in self._entries:
            if path.startswith(prefix) and (
                len(path) == len(prefix) or prefix.endswith(b"/") or path[len(prefix)] in b"/?"
            ):
                return prefix, value
        return None

    def entries(self) -> list[tuple[bytes, T]]:
        return list(self._entries)

    def __bool__(self) -> bool:
        return bool(self._entries)
