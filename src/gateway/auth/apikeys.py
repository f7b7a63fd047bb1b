"""API keys for automated clients (platform ``api``, SPEC 7).

A key belongs to a user, is shown once at creation (``gk_`` + 256 random
bits) and kept only as its SHA-256, like a session token. It is scoped: each
scope names a route scope (``api_key_scope`` of a route or forward-auth
rule) and the methods allowed on it (none listed: every method). Each key
has its own token bucket; revoking a key takes effect on the next request.

Lookups on the hot path are synchronous dictionary reads; creation and
revocation write through to the store first, so a key survives a restart
and a revoked one never comes back.

Who may grant what: every scope of a key must be one that a route or
forward-auth rule names (a key for nothing is a mistake). Support may grant
any of them, at any rate. A session may grant only what it could use
itself (``ScopeReach``), at no more than the configured rate and burst, and
not when an interim credential opened it: a key outlives the session that
made it.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import _fastcore
from gateway.auth.events import EventBus
from gateway.auth.factors.interim import INTERIM_METHODS
from gateway.auth.sessions import Session, SessionKind
from gateway.clock import Clock
from gateway.config import AccessRule, ApiKeyConfig, Config
from gateway.errors import BadRequest, Forbidden, NotFound, RateLimited, Unauthenticated
from gateway.store.base import ApiKeyRecord, ApiKeyScope, Store

TOKEN_PREFIX = "gk_"
_SCOPE_NAME = re.compile(r"^[a-z0-9][a-z0-9_.:-]{0,63}$")
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
MAX_SCOPES = 32
USE_EVENT_INTERVAL = 60.0


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def is_api_key(token: str) -> bool:
    return token.startswith(TOKEN_PREFIX)


@dataclass(frozen=True, slots=True)
class NewApiKey:
    token: str
    record: ApiKeyRecord


def validate_scopes(scopes: Sequence[ApiKeyScope]) -> tuple[ApiKeyScope, ...]:
    if not scopes:
        raise BadRequest("an API key needs at least one scope")
    if len(scopes) > MAX_SCOPES:
        raise BadRequest(f"at most {MAX_SCOPES} scopes")
    checked = []
    for scope in scopes:
        if not _SCOPE_NAME.match(scope.route):
            raise BadRequest(f"scope {scope.route!r}: lower-case letters, digits and _.:-")
        # Methods are matched as the request line spells them: "get" would
        # never match, so it is refused rather than folded.
        unknown = set(scope.methods) - _METHODS
        if unknown:
            raise BadRequest(
                f"scope {scope.route!r}: methods are upper-case HTTP methods, not {sorted(unknown)}"
            )
        checked.append(ApiKeyScope(scope.route, tuple(sorted(set(scope.methods)))))
    return tuple(checked)


class ScopeReach:
    """Which session kinds could use each API-key scope: those admitted by
    at least one route or forward-auth rule that names the scope (a public
    one admits every session, ``session = "none"`` none)."""

    def __init__(self, rules: Iterable[AccessRule]) -> None:
        kinds: dict[str, set[SessionKind]] = {}
        for rule in rules:
            if rule.api_key_scope is None:
                continue
            admitted = kinds.setdefault(rule.api_key_scope, set())
            if rule.public or rule.session == "any":
                admitted.update(SessionKind)
            elif rule.session != "none":
                admitted.add(SessionKind(rule.session))
        self._kinds = {scope: frozenset(found) for scope, found in kinds.items()}

    @classmethod
    def of(cls, config: Config) -> ScopeReach:
        return cls([*config.routes, *config.forward_auth.rules])

    def named(self, scope: str) -> bool:
        return scope in self._kinds

    def admits(self, scope: str, kind: SessionKind) -> bool:
        return kind in self._kinds.get(scope, ())


class ApiKeyRegistry:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        config: ApiKeyConfig | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        events: EventBus | None = None,
        reach: ScopeReach | None = None,
    ) -> None:
        self._events = events if events is not None else EventBus()
        # Without routes and rules no scope is named: no key can be granted.
        self._reach = reach if reach is not None else ScopeReach(())
        # key id -> (when its use was last recorded, uses since)
        self._uses: dict[str, tuple[float, int]] = {}
        # key id -> what to call when it is revoked (open tunnels, streams)
        self._listeners: dict[str, list[Callable[[str], None]]] = {}
        self._store = store
        self._clock = clock
        self._config = config if config is not None else ApiKeyConfig()
        # Buckets run on real time even under the test clock (SPEC 7).
        self._monotonic = monotonic
        self._by_hash: dict[str, ApiKeyRecord] = {}
        self._by_id: dict[str, ApiKeyRecord] = {}
        self._buckets: dict[tuple[float, float], _fastcore.TokenBuckets] = {}

    async def load(self) -> None:
        for record in await self._store.api_keys():
            self._index(record)

    def _index(self, record: ApiKeyRecord) -> None:
        self._by_hash[record.token_hash] = record
        self._by_id[record.key_id] = record

    async def create(
        self,
        username: str,
        account_id: str,
        name: str,
        scopes: Sequence[ApiKeyScope],
        *,
        created_by: str,
        rate: float | None = None,
        burst: float | None = None,
        holder: Session | None = None,
    ) -> NewApiKey:
        """A new key; ``holder`` is the session asking for it (``None``:
        support)."""
        checked = validate_scopes(scopes)
        self._may_grant(checked, holder, rate, burst)
        if len(self.of_user(username)) >= self._config.max_per_user:
            raise Forbidden(f"a user has at most {self._config.max_per_user} API keys")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        record = ApiKeyRecord(
            key_id=secrets.token_hex(8),
            username=username,
            account_id=account_id,
            name=name,
            token_hash=token_hash(token),
            scopes=checked,
            rate=rate if rate is not None else self._config.rate,
            burst=burst if burst is not None else self._config.burst,
            created_at=self._clock.now(),
            created_by=created_by,
        )
        await self._store.add_api_key(record)
        self._index(record)
        return NewApiKey(token, record)

    def _may_grant(
        self,
        scopes: Sequence[ApiKeyScope],
        holder: Session | None,
        rate: float | None,
        burst: float | None,
    ) -> None:
        if holder is not None and (holder.scope is not None or holder.method in INTERIM_METHODS):
            raise Forbidden("Reactivate your security device before creating an API key")
        for scope in scopes:
            if not self._reach.named(scope.route):
                raise Forbidden(f"Scope {scope.route!r}: no route or forward-auth rule names it")
            if holder is not None and not self._reach.admits(scope.route, holder.kind):
                raise Forbidden(
                    f"Scope {scope.route!r}: a {holder.kind} session cannot use it, "
                    "so it cannot grant it"
                )
        if holder is not None and (
            (rate is not None and rate > self._config.rate)
            or (burst is not None and burst > self._config.burst)
        ):
            raise Forbidden(
                f"A session may ask at most rate {self._config.rate:g} and burst "
                f"{self._config.burst:g}; support may grant more"
            )

    async def revoke(self, key_id: str, username: str | None = None) -> ApiKeyRecord:
        """Revoke a key (of ``username`` only, when given); ``not_found``
        otherwise, the same for a key of someone else."""
        record = self._by_id.get(key_id)
        if record is None or (username is not None and record.username != username):
            raise NotFound("No such API key")
        # Out of the index first: no request is let through while the
        # store write is under way.
        del self._by_id[key_id]
        self._by_hash.pop(record.token_hash, None)
        self._uses.pop(key_id, None)
        for listener in self._listeners.pop(key_id, []):
            try:
                listener(key_id)
            except Exception:
                # One broken listener must not stop a revocation.
                logging.getLogger(__name__).exception("API key listener failed")
        await self._store.remove_api_key(key_id)
        return record

    async def revoke_all(self, username: str, *, by: str) -> int:
        """Revoke every key of the user (an ``api_key_revoked`` event each);
        returns how many."""
        revoked = 0
        for record in self.of_user(username):
            if record.key_id not in self._by_id:
                continue  # revoked by someone else meanwhile
            await self.revoke(record.key_id)
            revoked += 1
            self._events.emit(
                "api_key_revoked", self._clock.now(), username, key_id=record.key_id, by=by
            )
        return revoked

    def of_user(self, username: str) -> list[ApiKeyRecord]:
        return sorted(
            (r for r in self._by_id.values() if r.username == username),
            key=lambda r: r.created_at,
        )

    def get(self, key_id: str) -> ApiKeyRecord | None:
        return self._by_id.get(key_id)

    def subscribe(self, key_id: str, listener: Callable[[str], None]) -> Callable[[], None]:
        """Call ``listener(key_id)`` when the key is revoked (at once if it is
        not, or no longer, known). Returns the unsubscribe function."""
        if key_id not in self._by_id:
            listener(key_id)
            return lambda: None
        listeners = self._listeners.setdefault(key_id, [])
        listeners.append(listener)

        def unsubscribe() -> None:
            if listener in listeners:
                listeners.remove(listener)
            if not listeners and self._listeners.get(key_id) is listeners:
                del self._listeners[key_id]

        return unsubscribe

    def authenticate(self, token: str) -> ApiKeyRecord:
        """The key of ``token`` after taking one of its bucket's tokens;
        ``unauthenticated`` for an unknown or revoked key, ``rate_limited``
        past its rate."""
        record = self._by_hash.get(token_hash(token))
        if record is None:
            raise Unauthenticated("Unknown or revoked API key")
        buckets = self._buckets.get((record.rate, record.burst))
        if buckets is None:
            buckets = _fastcore.TokenBuckets(record.rate, record.burst, 1_000_000)
            self._buckets[(record.rate, record.burst)] = buckets
        now = self._monotonic()
        if not buckets.take(record.key_id, now):
            raise RateLimited(buckets.retry_after(record.key_id, now))
        self._record_use(record, now)
        return record

    def _record_use(self, record: ApiKeyRecord, now: float) -> None:
        """An ``api_key_used`` event at a key's first use and then at most
        once a minute with the count since the last one: the audit log says
        which key was used when, without a line per request."""
        last, count = self._uses.get(record.key_id, (-USE_EVENT_INTERVAL, 0))
        count += 1
        if now - last >= USE_EVENT_INTERVAL:
            self._events.emit(
                "api_key_used", self._clock.now(), record.username, key_id=record.key_id, uses=count
            )
            self._uses[record.key_id] = (now, 0)
        else:
            self._uses[record.key_id] = (last, count)

    @staticmethod
    def allows(record: ApiKeyRecord, scope: str | None, method: str) -> bool:
        if scope is None:
            return False
        for granted in record.scopes:
            if granted.route == scope and (not granted.methods or method in granted.methods):
                return True
        return False

    def __len__(self) -> int:
        return len(self._by_id)
