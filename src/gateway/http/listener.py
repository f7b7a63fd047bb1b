"""Serving an ASGI app with Hypercorn's HTTP/1.1 and HTTP/2 protocol code
(Trio worker), on an accept loop of the gateway's own that caps open
connections.

``hypercorn.trio.serve`` accepts every connection it can: one client
holding thousands of connections exhausts the process's file descriptors
(and with them the public address too). Hypercorn has no setting for a cap,
so this is ``hypercorn.trio.run.worker_serve`` with one change: a slot of a
``CapacityLimiter`` is taken before each ``accept`` and given back when the
connection ends, so past ``max_connections`` new clients wait in the
kernel's listen backlog, as on the data plane (``gateway.edge.accept``).
The protocol handling itself is Hypercorn's ``TCPServer``, with one fix (a
connection the client closed ends at once, see ``_TCPServer``);
``tests/edge/test_hypercorn_listeners.py`` runs it for real.

As on the data plane, a connection also takes its descriptor from the
process's budget (``gateway.descriptors``): the admin listener may use the
reserve, a public one (``h2_bind``) only the clients' share, and the
control plane's Unix socket nothing (the data plane paid for both ends of
each relayed connection). One address may hold ``per_client`` connections
(a trusted proxy any number); past that a connection is closed at once.
TLS is the gateway's one context (``gateway.tls``), not Hypercorn's own.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from ssl import SSLContext
from typing import Any, Literal

import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio.lifespan import Lifespan
from hypercorn.trio.tcp_server import TCPServer
from hypercorn.trio.worker_context import WorkerContext
from hypercorn.typing import AppWrapper, ConnectionState, LifespanState
from hypercorn.utils import repr_socket_addr, wrap_app

from gateway.addresses import PerClientCount
from gateway.descriptors import DescriptorBudget
from gateway.tls import server_context

log = logging.getLogger("gateway.http")
BudgetShare = Literal["client", "reserve", "none"]


@dataclass(slots=True)
class ListenerCount:
    """Open connections of one Hypercorn listener (for the metrics)."""

    open_connections: int = 0


@dataclass(slots=True)
class ConnectionPolicy:
    """What a connection needs before it is served: its share of the
    descriptor budget, and room under its address's cap."""

    budget: DescriptorBudget | None = None
    share: BudgetShare = "none"
    per_client: int | None = None
    ipv6_prefix: int = 64
    trusts: Callable[[str], bool] = lambda address: False
    _counts: PerClientCount | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if self.per_client is not None:
            self._counts = PerClientCount(self.per_client, self.ipv6_prefix, self.trusts)

    async def take(self) -> None:
        if self.budget is None or self.share == "none":
            return
        if self.share == "reserve":
            await self.budget.take_reserved()
        else:
            await self.budget.take_client()

    def give(self) -> None:
        if self.budget is not None and self.share != "none":
            self.budget.give(1)

    def admit(self, stream: trio.SocketStream) -> str | None:
        """The key the connection counts under ("" for none), or None when
        its address holds its share already."""
        if self._counts is None:
            return ""
        try:
            peer = stream.socket.getpeername()
        except OSError:
            return None
        return self._counts.admit(peer[0] if isinstance(peer, tuple) else "")

    def leave(self, key: str) -> None:
        if self._counts is not None:
            self._counts.leave(key)


async def serve_capped(
    app: Any,
    config: HypercornConfig,
    *,
    max_connections: int,
    shutdown_trigger: Callable[[], Awaitable[object]],
    count: ListenerCount | None = None,
    policy: ConnectionPolicy | None = None,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``app`` on ``config.bind`` until ``shutdown_trigger`` returns,
    then drain for ``config.graceful_timeout``."""
    wrapped: AppWrapper = wrap_app(app, config.wsgi_max_body_size, "asgi")
    state: LifespanState = {}
    lifespan = Lifespan(wrapped, config, state)
    context = WorkerContext(None)
    count = count if count is not None else ListenerCount()
    async with trio.open_nursery() as lifespan_nursery:
        await lifespan_nursery.start(lifespan.handle_lifespan)
        await lifespan.wait_for_startup()
        sockets = config.create_sockets()
        ssl_context = (
            server_context(config.certfile, config.keyfile, config.alpn_protocols)
            if config.certfile is not None and config.keyfile is not None
            else None
        )
        plan: list[tuple[socket.socket, SSLContext | None]] = [
            *((sock, ssl_context) for sock in sockets.secure_sockets),
            *((sock, None) for sock in sockets.insecure_sockets),
        ]
        policy = policy if policy is not None else ConnectionPolicy()
        binds = []
        for sock, tls in plan:
            sock.listen(config.backlog)
            scheme = "https" if tls is not None else "http"
            binds.append(f"{scheme}://{repr_socket_addr(sock.family, sock.getsockname())}")
        slots = trio.CapacityLimiter(max_connections)
        async with trio.open_nursery() as connections:
            task_status.started(binds)
            async with trio.open_nursery() as acceptors:
                for sock, tls in plan:
                    listener = trio.SocketListener(trio.socket.from_stdlib_socket(sock))
                    acceptors.start_soon(
                        _accept_loop,
                        listener,
                        tls,
                        slots,
                        connections,
                        _Serve(wrapped, config, context, state, count, policy),
                    )
                await shutdown_trigger()
                acceptors.cancel_scope.cancel()
            await context.terminated.set()  # idle keep-alive connections close
            connections.cancel_scope.deadline = trio.current_time() + config.graceful_timeout
        await lifespan.wait_for_shutdown()
        lifespan_nursery.cancel_scope.cancel()


class _TCPServer(TCPServer):
    """Hypercorn's connection handler, ending when the client has gone.

    When a client closes an idle keep-alive connection, Hypercorn's reader
    stops but its keep-alive timer goes on, and the connection (its file
    descriptor, and here its slot under the cap) is held until the timer
    ends (``keep_alive_timeout`` later). The reader stopping means nothing
    more can come: stop the timer too."""

    async def _read_data(self) -> None:
        await super()._read_data()
        await self.idle_task.stop()


@dataclass(slots=True)
class _Serve:
    app: AppWrapper
    config: HypercornConfig
    context: WorkerContext
    state: LifespanState
    count: ListenerCount
    policy: ConnectionPolicy

    async def __call__(
        self, stream: trio.SocketStream, tls: SSLContext | None, slots: trio.CapacityLimiter
    ) -> None:
        token = stream
        self.count.open_connections += 1
        served: Any = stream
        key = self.policy.admit(stream)
        try:
            if key is None:
                return  # past its address's cap: closed at once
            if tls is not None:
                served = trio.SSLStream(stream, tls, server_side=True, https_compatible=True)
            server = _TCPServer(
                self.app, self.config, self.context, ConnectionState(self.state.copy()), served
            )
            await server.run()
        except Exception:
            log.exception("connection failed on a Hypercorn listener")
        finally:
            if key is not None:
                self.policy.leave(key)
            self.count.open_connections -= 1
            slots.release_on_behalf_of(token)
            self.policy.give()
            await trio.aclose_forcefully(served)


async def _accept_loop(
    listener: trio.SocketListener,
    tls: SSLContext | None,
    slots: trio.CapacityLimiter,
    connections: trio.Nursery,
    serve: _Serve,
) -> None:
    policy = serve.policy
    while True:
        placeholder = object()
        await slots.acquire_on_behalf_of(placeholder)  # past the cap: wait here
        await policy.take()  # and while the descriptor budget has no room
        try:
            stream = await listener.accept()
        except OSError as error:
            slots.release_on_behalf_of(placeholder)
            policy.give()
            log.warning("accept failed: %s", error)  # EMFILE and the like: try again
            await trio.sleep(0.1)
            continue
        except BaseException:
            slots.release_on_behalf_of(placeholder)
            policy.give()
            raise
        # The slot is the connection's now.
        slots.release_on_behalf_of(placeholder)
        slots.acquire_on_behalf_of_nowait(stream)
        connections.start_soon(serve, stream, tls, slots)
