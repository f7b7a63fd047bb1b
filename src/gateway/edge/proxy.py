"""Forwarding one request to an upstream and its answer back, streamed.

Headers are rewritten as a reverse proxy must: hop-by-hop headers (and any a
``Connection`` header names) are dropped both ways, every ``X-Auth-*`` and
``X-Gateway-*`` a client sent is removed and the caller's identity headers
added, ``X-Forwarded-For/-Proto/-Host`` are set from what the edge trusts,
and the gateway's own credential (its session cookie, bearer token or API
key) does not travel upstream. Bodies stream both ways with back-pressure:
a chunk is read from one side only once the other side took the last one.

WebSocket routes hand the connection over after the upstream's ``101``: bytes
are pumped both ways until either side closes or ``ended`` is set (the
session was replaced, expired or logged out).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import trio

from gateway.credentials import COOKIE_NAME
from gateway.edge.listener import HttpConnection, Request
from gateway.edge.upstream import (
    StaleConnection,
    UpstreamConnection,
    UpstreamError,
    UpstreamPool,
    UpstreamTimeout,
)
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
        b"content-length",
        b"expect",
        b"host",
    }
)
_RESPONSE_DROP = HOP_BY_HOP | {b"date"}
_CLIENT_DROP = (b"x-auth-", b"x-gateway-", b"x-forwarded-")
_NONE: frozenset[bytes] = frozenset()
PUMP_SIZE = 65_536


@dataclass(slots=True)
class Exchange:
    """What to send upstream besides the client's own request."""

    path: bytes  # request target upstream (path and query)
    extra: bytes  # encoded header lines: identity, or the control plane's client address
    client_ip: str
    trusted_peer: bool  # the peer is a trusted proxy: keep its X-Forwarded-*
    strip_credentials: bool  # remove the gateway's token/cookie/API key
    timeout: float
    websocket: bool = False


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
    client_host = b""
    forwarded_for = b""
    forwarded_proto = b""
    forwarded_host = b""
    for name, value in request.headers:
        if name in HOP_BY_HOP or name in named:
            if name == b"host":
                client_host = value
            continue
        if name.startswith(_CLIENT_DROP):
            if exchange.trusted_peer:
                if name == b"x-forwarded-for":
                    forwarded_for = value
                elif name == b"x-forwarded-proto":
                    forwarded_proto = value
                elif name == b"x-forwarded-host":
                    forwarded_host = value
            continue
        if name == b"forwarded" and not exchange.trusted_peer:
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
    lines.append(b"x-forwarded-proto: %s\r\n" % (forwarded_proto or request_scheme(request)))
    if forwarded_host or client_host:
        lines.append(b"x-forwarded-host: %s\r\n" % (forwarded_host or client_host))
    lines.append(exchange.extra)
    if exchange.websocket:
        lines.append(
            b"connection: upgrade\r\nupgrade: %s\r\n" % (request.header(b"upgrade") or b"websocket")
        )
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


def response_headers(upstream: UpstreamConnection) -> tuple[Headers, int | None]:
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
        await _answer(upstream, request, connection, exchange.timeout, head_request)
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
    timeout: float,
    head_request: bool,
) -> None:
    headers, length = response_headers(upstream)
    if upstream.complete and not head_request and upstream.status not in (204, 304):
        # The whole answer came with its head: one write to the client.
        await connection.respond(request, upstream.status, headers, upstream.take_buffered())
        return
    bodiless = head_request or upstream.status in (204, 304)
    await connection.start_response(request, upstream.status, headers, length, bodiless=bodiless)
    if bodiless:
        return
    try:
        async for chunk in upstream.body_chunks(timeout):
            await connection.send_body(chunk)
    except UpstreamError:
        # Mid-answer: the client can only be told by a close.
        connection.keep_alive = False
        raise trio.BrokenResourceError("upstream broke off the answer") from None
    await connection.end_response()


async def forward_websocket(
    request: Request,
    connection: HttpConnection,
    pool: UpstreamPool,
    exchange: Exchange,
    ended: trio.Event,
) -> int:
    """Open a fresh upstream connection, pass the upgrade on, and after a
    ``101`` pump bytes both ways until a side closes or ``ended`` is set."""
    head = request_head(request, pool, exchange, None)
    upstream = await pool.acquire(fresh=True)
    try:
        await upstream.send(head, exchange.timeout)
        await upstream.read_head(exchange.timeout)
        if upstream.status != 101:
            connection.keep_alive = False
            await _answer(upstream, request, connection, exchange.timeout, False)
            return upstream.status
        headers, _ = response_headers(upstream)
        upgrade = upstream.header_value(b"upgrade") or b"websocket"
        head_out = (
            b"HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: %s\r\n" % upgrade
        )
        head_out += b"".join(b"%s: %s\r\n" % pair for pair in headers) + b"\r\n"
        connection.response_started = True
        connection.keep_alive = False
        await connection.send(head_out)
        to_client = (upstream.upgraded_data or b"") + upstream.take_buffered()
        to_upstream = connection.upgraded_data or b""
        await _pump_both(connection.stream, upstream.stream, to_upstream, to_client, ended)
        return 101
    finally:
        await pool.discard(upstream)


async def _pump_both(
    client: trio.abc.Stream,
    origin: trio.abc.Stream,
    to_origin: bytes,
    to_client: bytes,
    ended: trio.Event,
) -> None:
    async with trio.open_nursery() as nursery:

        async def pump(source: trio.abc.Stream, sink: trio.abc.Stream, first: bytes) -> None:
            with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                if first:
                    await sink.send_all(first)
                while data := await source.receive_some(PUMP_SIZE):
                    await sink.send_all(data)
            nursery.cancel_scope.cancel()  # one side is done: so is the socket

        async def watch() -> None:
            await ended.wait()
            nursery.cancel_scope.cancel()

        nursery.start_soon(pump, client, origin, to_origin)
        nursery.start_soon(pump, origin, client, to_client)
        nursery.start_soon(watch)


__all__ = ["Exchange", "UpstreamError", "UpstreamTimeout", "forward", "forward_websocket"]
