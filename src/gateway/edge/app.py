"""The data plane's routing: a parsed request to an answer.

In order: the gateway's own hot endpoints (session check and tickle, forward
auth, health), then the configured proxy routes (longest prefix), then
everything else relayed to the control plane (Hypercorn + Quart-Trio on an
internal Unix socket), streamed both ways, server-sent events included.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import quote

from gateway import schemas
from gateway.addresses import client_group
from gateway.auth.sessions import Session, SessionRegistry
from gateway.config import AccessRule, Config, RouteConfig
from gateway.credentials import session_token
from gateway.edge.access import ANONYMOUS_HEADERS, AccessControl, PrefixTable
from gateway.edge.admission import LoginAdmission
from gateway.edge.event_streams import EVENTS_PATH, EventStreamCaps, EventStreamsFull
from gateway.edge.forward_auth import original_request
from gateway.edge.forwarded import TrustedProxies
from gateway.edge.listener import HttpConnection, Request
from gateway.edge.paths import Target, decide
from gateway.edge.proxy import Exchange, forward, forward_websocket
from gateway.edge.upstream import Origin, UpstreamError, UpstreamPool, UpstreamTimeout
from gateway.edge.watchdog import Watchdog
from gateway.edge.websocket import handshake_key
from gateway.edge.wire import ProtocolError, encode_headers
from gateway.errors import (
    BadRequest,
    Forbidden,
    GatewayError,
    RateLimited,
    Unauthenticated,
    Unavailable,
)
from gateway.http.wire import JSON, encode, error_response
from gateway.metrics import Metrics

log = logging.getLogger("gateway.edge")

CLIENT_HEADER = b"x-gateway-client"
STATUS_CACHE = 100_000  # the client's address, for the control plane only
_JSON_HEADERS = encode_headers([(b"content-type", JSON), (b"cache-control", b"no-store")])
EdgeHandler = Callable[[Request, HttpConnection], Awaitable[None]]


class BadGateway(Unavailable):
    """The upstream could not be reached or broke the exchange: SPEC
    section 9's ``unavailable``, with 502, or 504 for a timeout."""

    status = 502
    default_message = "The upstream service is unavailable"


class GatewayTimeout(BadGateway):
    status = 504
    default_message = "The upstream service did not answer in time"


class MethodNotAllowed(BadRequest):
    status = 405
    default_message = "Method not allowed"

    def __init__(self, allow: str) -> None:
        super().__init__()
        self.allow = allow

    def headers(self) -> dict[str, str]:
        return {"Allow": self.allow}


@dataclass(frozen=True, slots=True)
class Route:
    name: str
    config: RouteConfig
    pool: UpstreamPool


class DataPlane:
    def __init__(
        self,
        config: Config,
        sessions: SessionRegistry,
        access: AccessControl,
        metrics: Metrics,
        control_plane: UpstreamPool,
        session_status: Callable[[Session], schemas.SessionStatus],
        health: Callable[[], tuple[bool, bytes]],
        watchdog: Watchdog,
        admission: LoginAdmission,
    ) -> None:
        self._admission = admission
        self._config = config
        self._sessions = sessions
        self._access = access
        self._metrics = metrics
        self._control = control_plane
        self._session_status = session_status
        self._health = health
        self._trusted = TrustedProxies(config.http.trusted_proxies, config.http.forwarded_header)
        self._ipv6_prefix = config.http.ipv6_prefix
        self._buffer_body = config.proxy.buffer_body_bytes
        self._max_uploads = config.proxy.max_uploads_per_client
        self._uploads: Counter[str] = Counter()  # streamed uploads in flight, by address
        self._body_limit = config.http.max_body_bytes
        proxy = config.proxy
        self.routes = PrefixTable(
            [
                (
                    route.prefix,
                    Route(
                        route.prefix,
                        route,
                        UpstreamPool(
                            Origin.parse(route.upstream),
                            watchdog,
                            max_idle=proxy.pool_max_idle,
                            idle_timeout=proxy.pool_idle_seconds,
                            connect_timeout=proxy.connect_timeout_seconds,
                        ),
                    ),
                )
                for route in config.routes
            ]
        )
        self.rules = PrefixTable([(rule.prefix, rule) for rule in config.forward_auth.rules])
        self._login_url = config.forward_auth.login_url
        self.event_streams = EventStreamCaps(sessions, config.http)
        self._status_bodies: dict[str, tuple[float, bytes]] = {}
        self._own: dict[bytes, tuple[str, EdgeHandler]] = {
            b"/v1/session": ("GET", self._check_session),
            b"/v1/session/tickle": ("POST", self._tickle),
            b"/auth/verify": ("*", self._verify),
            b"/healthz": ("GET", self._healthz),
            b"/readyz": ("GET", self._readyz),
        }

    async def __call__(self, request: Request, connection: HttpConnection) -> None:
        try:
            # Every decision below is on this path, and it is the one sent
            # on (paths.py): one normalizer for every part of the edge.
            if request.method in _REFUSED_METHODS:
                # CONNECT would open a tunnel through a pooled upstream
                # connection; TRACE echoes credentials back (XST).
                raise MethodNotAllowed(ALLOWED_METHODS)
            decided = decide(request.target)
            path = decided.path
            own = self._own.get(path)
            if own is not None:
                allowed, handler = own
                if (
                    allowed != "*"
                    and request.method != allowed
                    and not (allowed == "GET" and request.method == "HEAD")
                ):
                    raise MethodNotAllowed(allowed if allowed != "GET" else "GET, HEAD")
                request.allow_body(self._body_limit)
                await handler(request, connection)
                return
            matched = self.routes.match(path)
            if matched is not None:
                await self._proxy(request, connection, decided, matched[0], matched[1])
            elif path == EVENTS_PATH and request.method in ("GET", "HEAD"):
                await self.event_streams.serve(
                    request,
                    connection,
                    self._client(request, connection),
                    lambda: self._relay(request, connection, decided),
                )
            else:
                await self._relay(request, connection, decided)
        except ProtocolError:
            raise
        except GatewayError as error:
            if connection.response_started:
                connection.keep_alive = False
                return
            await self._answer_error(request, connection, error)

    async def aclose(self) -> None:
        """Close every idle upstream connection (at shutdown)."""
        await self._control.aclose()
        for _, route in self.routes.entries():
            await route.pool.aclose()

    # --- the hot endpoints ---------------------------------------------------

    def _client(self, request: Request, connection: HttpConnection) -> str:
        return self._trusted.client_address(connection.peer, request.headers)

    def _host(self, request: Request, connection: HttpConnection) -> bytes:
        """The host the client asked for: a trusted proxy's
        ``X-Forwarded-Host`` (two different ones are refused), else the
        request's own ``Host`` (the listener admits exactly one). The one
        answer the cross-site check and the upstream both get."""
        own = forwarded = None
        trusted = bool(self._trusted) and self._trusted.trusts(connection.peer)
        for name, value in request.headers:
            if name == b"host":
                own = value
            elif name == b"x-forwarded-host" and trusted:
                if forwarded is not None and forwarded != value:
                    raise BadRequest("Two different X-Forwarded-Host headers")
                forwarded = value
        return forwarded if forwarded is not None else own or b""

    async def _answer_error(
        self, request: Request, connection: HttpConnection, error: GatewayError
    ) -> None:
        if isinstance(error, RateLimited):
            bucket = "event_streams" if isinstance(error, EventStreamsFull) else "api_key"
            self._metrics.rate_limited.inc(bucket)
        status, headers, body = error_response(error)
        headers = [(k, v) for k, v in headers if k != b"content-length"]
        await connection.respond(request, status, headers, body)

    async def _check_session(self, request: Request, connection: HttpConnection) -> None:
        # GET and HEAD only: no cross-site check, so no host to find
        session = self._sessions.authenticate(_session_token(request, b""))
        await connection.respond(request, 200, _JSON_HEADERS, self._status_body(session))

    async def _tickle(self, request: Request, connection: HttpConnection) -> None:
        session = self._sessions.tickle(_session_token(request, self._host(request, connection)))
        await connection.respond(request, 200, _JSON_HEADERS, self._status_body(session))

    def _status_body(self, session: Session) -> bytes:
        """The session's JSON, encoded again only when it changes (a tickle
        or a request through the gateway moves its idle deadline)."""
        cached = self._status_bodies.get(session.session_id)
        if cached is not None and cached[0] == session.last_seen:
            return cached[1]
        if len(self._status_bodies) >= STATUS_CACHE:
            self._status_bodies.clear()
        body = encode(self._session_status(session))
        self._status_bodies[session.session_id] = (session.last_seen, body)
        return body

    async def _healthz(self, request: Request, connection: HttpConnection) -> None:
        await connection.respond(request, 200, _JSON_HEADERS, self._health()[1])

    async def _readyz(self, request: Request, connection: HttpConnection) -> None:
        ready, body = self._health()
        await connection.respond(request, 200 if ready else 503, _JSON_HEADERS, body)

    async def _verify(self, request: Request, connection: HttpConnection) -> None:
        """Forward auth (nginx ``auth_request``, Traefik ``ForwardAuth``,
        Caddy ``forward_auth``): the request to decide on is the one a
        trusted proxy describes (``forward_auth.py``)."""
        if not (self._trusted and self._trusted.trusts(connection.peer)):
            self._metrics.forward_auth.inc("deny")
            raise Forbidden("Forward auth answers the proxies in [http] trusted_proxies only")
        original = original_request(request.headers)
        matched = self.rules.match(original.target.path)
        rule = matched[1] if matched is not None else _DENY_ALL
        host = original.host if original.host is not None else request.header(b"host") or b""
        try:
            principal = self._access.authorize(rule, original.method, request.headers, host)
        except GatewayError as error:
            if error.status == 401 and original.redirects and _wants_html(request):
                self._metrics.forward_auth.inc("redirect")
                location = self._login_location(original.proto, host, original.uri)
                await connection.respond(request, 302, [(b"location", location)], b"")
                return
            self._metrics.forward_auth.inc("deny" if error.status != 429 else "rate_limited")
            raise
        self._metrics.forward_auth.inc("allow")
        headers = principal.headers if principal is not None else ANONYMOUS_HEADERS
        await connection.respond(request, 200, headers, b"")

    def _login_location(self, proto: bytes | None, host: bytes, uri: bytes) -> bytes:
        back = ((proto or b"http") + b"://" + host + uri).decode("latin-1")
        separator = "&" if "?" in self._login_url else "?"
        return (self._login_url + separator + "rd=" + quote(back, safe="")).encode("latin-1")

    # --- proxy and relay ---------------------------------------------------

    async def _proxy(
        self,
        request: Request,
        connection: HttpConnection,
        decided: Target,
        prefix: bytes,
        route: Route,
    ) -> None:
        config = route.config
        started = time.perf_counter()
        host = self._host(request, connection)
        principal = self._access.authorize(config, request.method, request.headers, host)
        request.allow_body(config.max_body_bytes)
        target = decided.target
        if config.strip_prefix:
            target = target[len(prefix) :]
            if not target.startswith(b"/"):
                target = b"/" + target
        base = route.pool.origin.base_path.encode()
        client = self._client(request, connection)
        exchange = Exchange(
            path=base + target,
            extra=principal.headers if principal is not None else ANONYMOUS_HEADERS,
            client_ip=client,
            host=host,
            trusted_peer=bool(self._trusted) and self._trusted.trusts(connection.peer),
            strip_credentials=not config.keep_credentials,
            timeout=config.timeout_seconds,
            # Only a valid WebSocket handshake is passed on as an upgrade;
            # any other Upgrade (h2c, ...) is dropped and answered plainly.
            websocket=request.upgrade
            and config.websocket
            and handshake_key(request.method, request.version, request.has_body, request.headers)
            is not None,
            principal=principal,
            access=self._access,
        )
        try:
            if exchange.websocket:
                status = await self._websocket(request, connection, route, exchange)
            else:
                if request.upgrade:
                    connection.keep_alive = False  # the parser is past an upgrade it refused
                length = request.content_length
                if request.chunked or (length is not None and length > self._buffer_body):
                    status = await self._upload(request, connection, route.pool, exchange, client)
                else:
                    # A small body is read whole before an upstream is
                    # taken: a slow sender then holds none.
                    status = await forward(
                        request, connection, route.pool, exchange, buffer_body=True
                    )
        except UpstreamTimeout as error:
            self._upstream_failed(route.name, "timeout", error)
            raise GatewayTimeout() from None
        except UpstreamError as error:
            self._upstream_failed(route.name, "unavailable", error)
            raise BadGateway() from None
        finally:
            self._metrics.proxy_latency.observe(time.perf_counter() - started, route.name)
        self._metrics.proxy_requests.inc(route.name, f"{status // 100}xx")

    async def _upload(
        self,
        request: Request,
        connection: HttpConnection,
        pool: UpstreamPool,
        exchange: Exchange,
        client: str,
    ) -> int:
        """A large or chunked body streams upstream, a few at once per
        address."""
        group = client_group(client, self._ipv6_prefix)
        uploads = self._uploads
        if uploads[group] >= self._max_uploads:
            raise RateLimited(1.0, "Too many uploads in progress from this address")
        uploads[group] += 1
        try:
            return await forward(request, connection, pool, exchange)
        finally:
            uploads[group] -= 1
            if not uploads[group]:
                del uploads[group]

    async def _websocket(
        self, request: Request, connection: HttpConnection, route: Route, exchange: Exchange
    ) -> int:
        """The tunnel closes (a Close frame to both sides) when the
        exchange's session ends or its API key is revoked."""
        return await forward_websocket(request, connection, route.pool, exchange)

    def _upstream_failed(self, route: str, kind: str, error: Exception) -> None:
        self._metrics.upstream_errors.inc(route, kind)
        log.warning("upstream %s: %s", route, error)

    async def _relay(self, request: Request, connection: HttpConnection, decided: Target) -> None:
        """Everything that is not the data plane's goes to the control plane,
        with the client's address in a header only it reads; login requests
        wait their turn for admission first (``admission.py``)."""
        request.allow_body(self._body_limit)
        if request.upgrade:
            connection.keep_alive = False
        client = self._client(request, connection)
        exchange = Exchange(
            path=decided.target,
            extra=b"%s: %s\r\n" % (CLIENT_HEADER, client.encode()),
            client_ip=connection.peer,
            host=self._host(request, connection),
            trusted_peer=False,
            strip_credentials=False,
            own_cookies=True,
            timeout=3600.0,  # event streams stay open as long as their session
        )
        lane = self._admission.lane(request.method, decided.path)
        try:
            if lane is None:
                await forward(request, connection, self._control, exchange, buffer_body=True)
                return
            body = await request.read_body() if request.has_body else None
            trusted = lane is self._admission.password and self._admission.trusted(
                request, decided.path, body
            )
            group = client_group(client, self._ipv6_prefix)
            try:
                admitted = await self._admission.enter(lane, group, trusted)
            except RateLimited as refusal:
                self._metrics.rate_limited.inc("login_admission")
                status, headers, payload = error_response(refusal)
                headers = [(k, v) for k, v in headers if k != b"content-length"]
                await connection.respond(request, status, headers, payload)
                return
            self._metrics.login_admitted.inc(self._admission.name(lane))
            async with admitted:
                await forward(request, connection, self._control, exchange, body=body)
        except UpstreamError as error:
            self._upstream_failed("control-plane", "unavailable", error)
            raise BadGateway("The login service is unavailable") from None


_DENY_ALL = AccessRule(prefix="/", session="none")
_REFUSED_METHODS = frozenset({"CONNECT", "TRACE"})
ALLOWED_METHODS = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"


def _wants_html(request: Request) -> bool:
    """Browsers behind Traefik or Caddy (which pass ``X-Forwarded-Uri``)
    are sent to the login page; API clients, and the nginx recipe (which
    maps 401 to the redirect itself), get the 401."""
    accept = request.header(b"accept") or b""
    return b"text/html" in accept


def _session_token(request: Request, host: bytes) -> str:
    token = session_token(request.headers, request.method, host)
    if token is None:
        raise Unauthenticated()
    return token


__all__ = ["CLIENT_HEADER", "BadGateway", "DataPlane", "GatewayTimeout"]
