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
from gateway.credentials import SAFE_METHODS, cross_site, find_credential
from gateway.edge.wire import encode_headers
from gateway.errors import Forbidden, Unauthenticated
from gateway.store.base import ApiKeyRecord

UNLIMITED = b"unlimited"
IDENTITY_CACHE = 200_000
T = TypeVar("T")

Headers = list[tuple[bytes, bytes]]


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
        """The principal allowed through ``rule`` (``None`` for a public
        rule with no credential); ``host`` is the host the client asked for,
        from the one source the edge believes. Raises ``Unauthenticated`` (or
        ``SessionReplaced``/``SessionExpired``/``RateLimited``) or
        ``Forbidden``."""
        credential = find_credential(headers)
        if credential is None:
            if rule.public:
                return None
            raise Unauthenticated()
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
        return [
            (b"x-auth-user", session.username.encode()),
            (b"x-auth-account", session.account_id.encode()),
            (b"x-auth-platform", session.platform.value.encode()),
            (b"x-auth-method", session.method.encode()),
            (b"x-auth-session", session.session_id.encode()),
            (b"x-auth-key", b""),
            (b"x-auth-limit-day", day),
            (b"x-auth-limit-5d", five),
        ]

    def _key_headers(self, record: ApiKeyRecord) -> Headers:
        day, five = self.tiers.of("api_key")
        return [
            (b"x-auth-user", record.username.encode()),
            (b"x-auth-account", record.account_id.encode()),
            (b"x-auth-platform", b"api"),
            (b"x-auth-method", b"api_key"),
            (b"x-auth-session", b""),
            (b"x-auth-key", record.key_id.encode()),
            (b"x-auth-limit-day", day),
            (b"x-auth-limit-5d", five),
        ]


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
