"""Accepting the data plane's connections: one task per connection, a cap
on how many are open, TLS if configured, and the watchdog that ends waits
past their deadline."""

from __future__ import annotations

import errno
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import trio

from gateway.edge.listener import ConnectionLimits, Handler, HttpConnection
from gateway.edge.streams import RawSocketStream
from gateway.edge.watchdog import Watchdog

log = logging.getLogger("gateway.edge")
_ACCEPT_RETRY_ERRNOS = {errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS}


@dataclass
class ListenerStats:
    open_connections: int = 0
    accepted: int = 0
    refused_over_cap: int = 0


async def serve_connections(
    listeners: list[trio.SocketListener],
    handler: Handler,
    limits: ConnectionLimits,
    *,
    max_connections: int,
    stats: ListenerStats,
    watchdog: Watchdog,
    ssl_wrap: Callable[[trio.SocketStream], Awaitable[trio.abc.Stream | None]] | None = None,
) -> None:
    """Accept on every listener, one task per connection, at most
    ``max_connections`` open: past the cap the next ``accept`` waits, so
    new clients queue in the kernel's listen backlog."""
    slots = trio.CapacityLimiter(max_connections)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(watchdog.run)
        for listener in listeners:
            nursery.start_soon(
                _accept_loop, listener, handler, limits, slots, stats, ssl_wrap, watchdog
            )


async def _accept_loop(
    listener: trio.SocketListener,
    handler: Handler,
    limits: ConnectionLimits,
    slots: trio.CapacityLimiter,
    stats: ListenerStats,
    ssl_wrap: Callable[[trio.SocketStream], Awaitable[trio.abc.Stream | None]] | None,
    watchdog: Watchdog,
) -> None:
    async with listener, trio.open_nursery() as nursery:
        while True:
            token = object()
            await slots.acquire_on_behalf_of(token)
            try:
                stream = await listener.accept()
            except OSError as error:
                slots.release_on_behalf_of(token)
                if error.errno in _ACCEPT_RETRY_ERRNOS:
                    log.error("accept: %s; pausing 100 ms", errno.errorcode[error.errno])
                    await trio.sleep(0.1)
                    continue
                raise
            except BaseException:
                slots.release_on_behalf_of(token)
                raise
            stats.accepted += 1
            nursery.start_soon(
                _connection, stream, handler, limits, slots, token, stats, ssl_wrap, watchdog
            )


async def _connection(
    stream: trio.SocketStream,
    handler: Handler,
    limits: ConnectionLimits,
    slots: trio.CapacityLimiter,
    token: object,
    stats: ListenerStats,
    ssl_wrap: Callable[[trio.SocketStream], Awaitable[trio.abc.Stream | None]] | None,
    watchdog: Watchdog,
) -> None:
    stats.open_connections += 1
    try:
        try:
            peer = stream.socket.getpeername()
            address = peer[0] if isinstance(peer, tuple) else "unix"
        except OSError:
            await stream.aclose()
            return
        served: trio.abc.Stream
        scheme = "http"
        if ssl_wrap is not None:
            wrapped = await ssl_wrap(stream)
            if wrapped is None:
                return
            served, scheme = wrapped, "https"
        else:
            served = RawSocketStream.adopt(stream)
        connection = HttpConnection(served, address, limits, handler, watchdog, scheme)
        try:
            await connection.serve()
        except Exception:
            # A handler bug must not take the listener down with it; the
            # client already got an answer or a close.
            log.exception("data plane connection failed")
    finally:
        stats.open_connections -= 1
        slots.release_on_behalf_of(token)
