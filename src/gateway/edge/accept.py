"""Accepting the data plane's connections: one task per connection, caps on
how many are open (in all, and per client address), the process's
descriptor budget, TLS if configured, and the watchdog that ends waits past
their deadline.

At accept time only the peer is known, so the per-address cap counts peers
(by ``client_group``: an IPv6 /64 is one client); a trusted proxy carries
many clients and has no cap. A connection past its address's cap is told
``rate_limited`` and closed at once: waiting in the backlog would hold up
everyone behind it.

A connection accepted while the clients' share of the descriptor budget is
spent may ask ``/healthz`` and ``/readyz`` only (``gateway.descriptors``),
so that a load balancer still learns the truth when clients hold every
descriptor they may.
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import trio

from gateway.addresses import PerClientCount
from gateway.descriptors import DescriptorBudget, Share
from gateway.edge.forwarded import TrustedProxies
from gateway.edge.listener import ConnectionLimits, Handler, HttpConnection, Request
from gateway.edge.streams import RawSocketStream
from gateway.edge.watchdog import Watchdog
from gateway.edge.wire import status_line
from gateway.errors import RateLimited, Unavailable
from gateway.http.wire import error_response

log = logging.getLogger("gateway.edge")
_ACCEPT_RETRY_ERRNOS = {errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS}
HEALTH_PATHS = (b"/healthz", b"/readyz")
REFUSAL_LINGER_SECONDS = 1.0

SslWrap = Callable[[trio.SocketStream], Awaitable[trio.abc.Stream | None]]


def _refusal(error: RateLimited) -> bytes:
    status, headers, body = error_response(error)
    lines = b"".join(b"%s: %s\r\n" % pair for pair in headers)
    return status_line(status) + lines + b"connection: close\r\n\r\n" + body


_TOO_MANY = _refusal(RateLimited(1.0, "Too many connections from this address"))


@dataclass
class ListenerStats:
    open_connections: int = 0
    accepted: int = 0
    refused_over_cap: int = 0
    health_only: int = 0


@dataclass
class Acceptor:
    """What every connection of the public address is served with."""

    handler: Handler
    limits: ConnectionLimits
    watchdog: Watchdog
    stats: ListenerStats
    max_connections: int
    per_client: int = 256
    ipv6_prefix: int = 64
    trusted: TrustedProxies = field(default_factory=TrustedProxies)
    budget: DescriptorBudget | None = None
    ssl_wrap: SslWrap | None = None
    counts: PerClientCount = field(init=False)

    def __post_init__(self) -> None:
        trusted = self.trusted
        self.counts = PerClientCount(
            self.per_client, self.ipv6_prefix, lambda a: bool(trusted) and trusted.trusts(a)
        )

    def admit(self, address: str) -> str | None:
        """The key the connection counts under, or None past the cap."""
        return self.counts.admit(address)

    def leave(self, key: str) -> None:
        self.counts.leave(key)


async def serve_connections(listeners: list[trio.SocketListener], acceptor: Acceptor) -> None:
    """Accept on every listener, one task per connection, at most
    ``max_connections`` open: past the cap the next ``accept`` waits, so
    new clients queue in the kernel's listen backlog."""
    slots = trio.CapacityLimiter(acceptor.max_connections)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(acceptor.watchdog.run)
        for listener in listeners:
            nursery.start_soon(_accept_loop, listener, acceptor, slots)


async def _accept_loop(
    listener: trio.SocketListener, acceptor: Acceptor, slots: trio.CapacityLimiter
) -> None:
    budget = acceptor.budget
    async with listener, trio.open_nursery() as nursery:
        while True:
            token = object()
            await slots.acquire_on_behalf_of(token)
            share = await budget.take_public() if budget is not None else Share.CLIENT
            try:
                stream = await listener.accept()
            except BaseException as error:
                slots.release_on_behalf_of(token)
                if budget is not None:
                    budget.give(1, share)
                if isinstance(error, OSError) and error.errno in _ACCEPT_RETRY_ERRNOS:
                    log.error("accept: %s; pausing 100 ms", errno.errorcode[error.errno])
                    await trio.sleep(0.1)
                    continue
                raise
            acceptor.stats.accepted += 1
            nursery.start_soon(_connection, stream, acceptor, slots, token, share)


async def _health_only(request: Request, connection: HttpConnection, handler: Handler) -> None:
    connection.keep_alive = False
    if request.path in HEALTH_PATHS:
        await handler(request, connection)
    else:
        await connection.respond_error(request, Unavailable("The gateway is at capacity"))


async def _connection(
    stream: trio.SocketStream,
    acceptor: Acceptor,
    slots: trio.CapacityLimiter,
    token: object,
    share: Share,
) -> None:
    stats = acceptor.stats
    stats.open_connections += 1
    key: str | None = None
    try:
        try:
            peer = stream.socket.getpeername()
            address = peer[0] if isinstance(peer, tuple) else "unix"
        except OSError:
            await stream.aclose()
            return
        key = acceptor.admit(address)
        if key is None:
            stats.refused_over_cap += 1
            await _refuse_at_once(stream, acceptor.ssl_wrap is not None)
            return
        served: trio.abc.Stream
        scheme = "http"
        if acceptor.ssl_wrap is not None:
            wrapped = await acceptor.ssl_wrap(stream)
            if wrapped is None:
                return
            served, scheme = wrapped, "https"
        else:
            served = RawSocketStream.adopt(stream, budgeted=False)
        handler = acceptor.handler
        if share is Share.HEALTH:
            stats.health_only += 1
            inner = handler

            async def handler(request: Request, connection: HttpConnection) -> None:
                await _health_only(request, connection, inner)

        connection = HttpConnection(
            served, address, acceptor.limits, handler, acceptor.watchdog, scheme
        )
        try:
            await connection.serve()
        except Exception:
            # A handler bug must not take the listener down with it; the
            # client already got an answer or a close.
            log.exception("data plane connection failed")
    finally:
        if key is not None:
            acceptor.leave(key)
        stats.open_connections -= 1
        slots.release_on_behalf_of(token)
        if acceptor.budget is not None:
            acceptor.budget.give(1, share)


async def _refuse_at_once(stream: trio.SocketStream, tls: bool) -> None:
    """Past the address's cap: the answer, then a close (over TLS, a close
    only: a handshake would cost more than the refusal). The client may
    have sent its request already; it is read and dropped for a moment, so
    that the close does not reset the connection before the answer is read."""
    with trio.move_on_after(REFUSAL_LINGER_SECONDS):
        try:
            if not tls:
                await stream.send_all(_TOO_MANY)
                await stream.send_eof()
                while await stream.receive_some(65_536):
                    pass
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass
    await trio.aclose_forcefully(stream)
