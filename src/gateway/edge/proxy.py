"""Forwarding one request to an upstream and its answer back, streamed.

Headers are rewritten as a reverse proxy must: hop-by-hop headers (and any a
``Connection`` header names) are dropped both ways, every ``X-Auth-*`` and
``X-Gateway-*`` a client sent is removed and the caller's identity headers
added, ``X-Forwarded-For/-Proto/-Host`` are set from what the edge trusts,
and the gateway's own credential (its session cookie, bearer token or API
key) does not travel upstream. Bodies stream both ways with back-pressure:
a chunk is read from one side only once the other side took the last one.

Only a valid WebSocket opening handshake is passed on as an upgrade, on a
route that allows WebSockets, and the tunnel opens only after an upstream
``101`` that completes that handshake (else ``502`` and both connections
close). Any other ``Upgrade`` (``h2c``, ``TLS/1.0``, ...) is a hop-by-hop
header like the rest: dropped, and the request answered as a plain one.

A long exchange ends when its credential does: a proxied WebSocket (see
``tunnel.py``) and a streamed answer are cut as soon as their session is
replaced, expires or ends, or their API key is revoked. A short answer, one
that came whole with its head, never subscribes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

import trio

from gateway.auth.sessions import SessionEvent, SessionEventKind
from gateway.auth.trust import DEVICE_COOKIE
from gateway.credentials import COOKIE_NAME
from gateway.edge.access import AccessControl, Principal
from gateway.edge.listener import HttpConnection, Request
from gateway.edge.tunnel import Tunnel
from gateway.edge.upstream import (
    StaleConnection,
    UpstreamConnection,
    UpstreamError,
    UpstreamPool,
    UpstreamTimeout,
)
from gateway.edge.websocket import accepted, handshake_key
from gateway.edge.wire import Headers

# RFC 9110 7.6.1, plus the framing headers the proxy sets itself.
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"http2-settings",  # goes with an h2c Upgrade (RFC 7540 3.2.1)
        b"content-length",
        b"expect",
        b"host",
    }
)
_RESPONSE_DROP = HOP_BY_HOP | {b"date"}
# Headers that name the client or its identity: only the gateway (or a
# trusted proxy, for X-Forwarded-*) says these. The X-Real-IP family is read
# by many apps as the client's address.
_CLIENT_DROP = (b"x-auth-", b"x-gateway-", b"x-forwarded-", b"x-real-ip", b"x-client-ip")
_CLIENT_DROP_OTHER = frozenset({b"true-client-ip", b"cf-connecting-ip"})
# The gateway's own cookies: an upstream may not set them (it could fix a
# session or log users out of every route).
_OWN_COOKIES = (COOKIE_NAME, DEVICE_COOKIE.encode())
_NONE: frozenset[bytes] = frozenset()

# Why a long exchange was cut: the reason of the Close frame a proxied
# WebSocket's two sides get.
END_REASONS = {
    SessionEventKind.REPLACED: "session_replaced",
    SessionEventKind.EXPIRED: "session_expired",
    SessionEventKind.ENDED: "session_ended",  # logout, support, a removed device
}
API_KEY_REVOKED = "api_key_revoked"


@dataclass(slots=True)
class Exchange:
    """What to send upstream besides the client's own request."""

    path: bytes  # request target upstream (path and query)
    extra: bytes  # encoded header lines: identity, or the control plane's client address
    client_ip: str
    host: bytes  # the host the client asked for, as the edge believes it (X-Forwarded-Host)
    trusted_peer: bool  # the peer is a trusted proxy: keep its X-Forwarded-For/-Proto
    strip_credentials: bool  # remove the gateway's token/cookie/API key
    timeout: float
    websocket: bool = False  # a valid WebSocket handshake on a route that allows them
    # The gateway's own control plane may set the gateway's cookies; a
    # route's upstream may not.
    own_cookies: bool = False
    # Whose exchange it is, to cut it when that credential ends (None: a
    # public route, or the control plane, which watches its own streams).
    principal: Principal | None = None
    access: AccessControl | None = None


def _unwatched() -> None:
    return None


def watch_credential(exchange: Exchange, on_end: Callable[[str], None]) -> Callable[[], None]:
    """Call ``on_end(reason)`` when the exchange's session is over or its
    API key revoked (at once if it already is). Returns the unsubscribe."""
    principal, access = exchange.principal, exchange.access
    if principal is None or access is None:
        return _unwatched
    if principal.session is not None:

        def session_over(event: SessionEvent) -> None:
            on_end(END_REASONS[event.kind])

        return access.sessions.subscribe(principal.session.session_id, session_over)
    if principal.api_key is not None:
        return access.api_keys.subscribe(
            principal.api_key.key_id, lambda key_id: on_end(API_KEY_REVOKED)
        )
    return _unwatched


def _without_session_cookie(value: bytes) -> bytes:
    kept = [part for part in value.split(b";") if not part.strip().startswith(COOKIE_NAME + b"=")]
    return b";".join(kept).strip()


def request_head(
    request: Request, pool: UpstreamPool, exchange: Exchange, body: bytes | None
) -> bytes:
    """The request line and headers sent upstream."""
    named = request.connection_tokens or _NONE
    lines = [
        b"%s %s HTTP/1.1\r\nhost: %s\r\n"
        % (request.method.encode(), exchange.path, pool.origin.host_header)
    ]
    forwarded: list[bytes] = []
    forwarded_for = b""
    forwarded_proto = b""
    for name, value in request.headers:
        if name in HOP_BY_HOP or name in named:
            continue
        # Most names do not start with "x-": one comparison, not five.
        if (name.startswith(b"x-") and name.startswith(_CLIENT_DROP)) or name in _CLIENT_DROP_OTHER:
            if exchange.trusted_peer:
                if name == b"x-forwarded-for":
                    # Several lines are one list (RFC 9110 5.3), in order.
                    forwarded_for = forwarded_for + b", " + value if forwarded_for else value
                elif name == b"x-forwarded-proto":
                    forwarded_proto = value
            continue
        if name == b"forwarded":
            if exchange.trusted_peer:
                forwarded.append(value)
            continue
        if exchange.strip_credentials:
            if name == b"x-api-key":
                continue
            if name == b"authorization" and value[:7].lower() == b"bearer ":
                continue
            if name == b"cookie" and COOKIE_NAME in value:
                value = _without_session_cookie(value)
                if not value:
                    continue
        lines.append(b"%s: %s\r\n" % (name, value))
    client = exchange.client_ip.encode()
    peer = request_peer(request)
    lines.append(
        b"x-forwarded-for: %s\r\n" % (forwarded_for + b", " + peer if forwarded_for else client)
    )
    if forwarded:
        # A trusted proxy's Forwarded goes on with this hop appended.
        hop = b'"[%s]"' % peer if b":" in peer else peer
        lines.append(b"forwarded: %s, for=%s\r\n" % (b", ".join(forwarded), hop))
    lines.append(b"x-forwarded-proto: %s\r\n" % (forwarded_proto or request_scheme(request)))
    if exchange.host:
        lines.append(b"x-forwarded-host: %s\r\n" % exchange.host)
    lines.append(exchange.extra)
    if exchange.websocket:
        lines.append(b"connection: upgrade\r\nupgrade: websocket\r\n")
    elif body is not None:
        lines.append(b"content-length: %d\r\n" % len(body))
    elif request.chunked:
        lines.append(b"transfer-encoding: chunked\r\n")
    elif request.content_length is not None:
        lines.append(b"content-length: %d\r\n" % request.content_length)
    lines.append(b"\r\n")
    return b"".join(lines)


def request_peer(request: Request) -> bytes:
    return request._connection.peer.encode()


def request_scheme(request: Request) -> bytes:
    return request._connection.scheme.encode()


def response_headers(
    upstream: UpstreamConnection, own_cookies: bool = False
) -> tuple[Headers, int | None]:
    named = upstream.connection_tokens or _NONE
    kept: Headers = []
    length: int | None = None
    for name, value in upstream.headers:
        if name == b"content-length":
            with contextlib.suppress(ValueError):
                length = int(value)
            continue
        if name in _RESPONSE_DROP or name in named:
            continue
        if (
            name == b"set-cookie"
            and not own_cookies
            and value.partition(b"=")[0].strip() in _OWN_COOKIES
        ):
            continue
        kept.append((name, value))
    return kept, length


async def _send_request(
    upstream: UpstreamConnection,
    head: bytes,
    request: Request,
    body: bytes | None,
    timeout: float,
) -> None:
    if body is not None:
        await upstream.send(head + body, timeout)
        return
    await upstream.send(head, timeout)
    if not request.has_body:
        return
    if request.chunked:
        async for chunk in request.body_chunks():
            await upstream.send(b"%x\r\n%s\r\n" % (len(chunk), chunk), timeout)
        await upstream.send(b"0\r\n\r\n", timeout)
    else:
        async for chunk in request.body_chunks():
            await upstream.send(chunk, timeout)


async def forward(
    request: Request,
    connection: HttpConnection,
    pool: UpstreamPool,
    exchange: Exchange,
    *,
    buffer_body: bool = False,
    body: bytes | None = None,
) -> int:
    """Send ``request`` upstream and stream the answer back; returns the
    status sent to the client. ``buffer_body`` reads the (small, already
    limited) body first, so that a stale pooled connection can be retried;
    ``body`` is a body the caller read already.
    Raises ``UpstreamError``/``UpstreamTimeout`` if nothing was sent back yet.
    """
    if body is None and buffer_body and request.has_body:
        body = await request.read_body()
    replayable = body is not None or not request.has_body
    head = request_head(request, pool, exchange, body)
    head_request = request.method == "HEAD"
    upstream = await pool.acquire()
    try:
        try:
            await _send_request(upstream, head, request, body, exchange.timeout)
            await upstream.read_head(exchange.timeout, head_request)
        except StaleConnection:
            if not replayable:
                raise UpstreamError("upstream closed a reused connection") from None
            await pool.discard(upstream)
            upstream = await pool.acquire(fresh=True)
            await _send_request(upstream, head, request, body, exchange.timeout)
            await upstream.read_head(exchange.timeout, head_request)
        if upstream.status == 101:
            # No upgrade was passed on: a switch the client never asked for.
            raise UpstreamError("upstream switched protocols unasked")
        await _answer(upstream, request, connection, exchange, head_request)
    except BaseException:
        await pool.discard(upstream)
        raise
    if head_request:
        await pool.discard(upstream)  # the parser cannot tell a HEAD answer's end
    else:
        await pool.release(upstream)
    return upstream.status


async def _answer(
    upstream: UpstreamConnection,
    request: Request,
    connection: HttpConnection,
    exchange: Exchange,
    head_request: bool,
) -> None:
    headers, length = response_headers(upstream, exchange.own_cookies)
    if upstream.complete and not head_request and upstream.status not in (204, 304):
        # The whole answer came with its head: one write to the client.
        await connection.respond(request, upstream.status, headers, upstream.take_buffered())
        return
    bodiless = head_request or upstream.status in (204, 304)
    await connection.start_response(request, upstream.status, headers, length, bodiless=bodiless)
    if bodiless:
        return
    if exchange.principal is None:
        await _stream_body(upstream, connection, exchange.timeout)
    else:
        # A streamed answer may last: it stops when its credential ends.
        cut = trio.CancelScope()
        unwatch = watch_credential(exchange, lambda reason: cut.cancel())
        try:
            with cut:
                await _stream_body(upstream, connection, exchange.timeout)
        finally:
            unwatch()
        if cut.cancelled_caught:
            connection.keep_alive = False
            raise trio.BrokenResourceError("the answer's credential ended")
    await connection.end_response()


async def _stream_body(
    upstream: UpstreamConnection, connection: HttpConnection, timeout: float
) -> None:
    try:
        async for chunk in upstream.body_chunks(timeout):
            await connection.send_body(chunk)
    except UpstreamError:
        # Mid-answer: the client can only be told by a close.
        connection.keep_alive = False
        raise trio.BrokenResourceError("upstream broke off the answer") from None


async def forward_websocket(
    request: Request,
    connection: HttpConnection,
    pool: UpstreamPool,
    exchange: Exchange,
) -> int:
    """Open a fresh upstream connection and pass the WebSocket handshake on;
    after a ``101`` that completes it, tunnel both ways until a side closes
    or the exchange's credential ends. Another answer is passed back as it
    is; a ``101`` that is not this handshake's is ``UpstreamError``."""
    key = handshake_key(request.method, request.version, request.has_body, request.headers)
    if key is None:  # the caller checked: a request that is not one never gets here
        raise UpstreamError("not a WebSocket handshake")
    head = request_head(request, pool, exchange, None)
    upstream = await pool.acquire(fresh=True)
    connection.keep_alive = False
    try:
        await upstream.send(head, exchange.timeout)
        await upstream.read_head(exchange.timeout)
        if upstream.status != 101:
            await _answer(upstream, request, connection, exchange, False)
            return upstream.status
        if not accepted(upstream.headers, key):
            raise UpstreamError("upstream answered 101 without completing the WebSocket handshake")
        headers, _ = response_headers(upstream)
        head_out = (
            b"HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: websocket\r\n"
        )
        head_out += b"".join(b"%s: %s\r\n" % pair for pair in headers) + b"\r\n"
        connection.response_started = True
        await connection.send(head_out)
        tunnel = Tunnel(connection.stream, upstream.stream)
        unwatch = watch_credential(exchange, tunnel.end)
        try:
            to_client = (upstream.upgraded_data or b"") + upstream.take_buffered()
            await tunnel.run(connection.upgraded_data or b"", to_client)
        finally:
            unwatch()
        return 101
    finally:
        await pool.discard(upstream)


__all__ = [
    "API_KEY_REVOKED",
    "END_REASONS",
    "Exchange",
    "UpstreamError",
    "UpstreamTimeout",
    "forward",
    "forward_websocket",
    "watch_credential",
]
