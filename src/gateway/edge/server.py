"""The data plane's listener: sockets, TLS, and the ``DataPlane`` behind them."""

from __future__ import annotations

import logging

import trio

from gateway import __version__, schemas
from gateway.auth.sessions import Session
from gateway.descriptors import DescriptorBudget
from gateway.edge.accept import Acceptor, ListenerStats, serve_connections
from gateway.edge.access import AccessControl, WithdrawalTiers
from gateway.edge.admission import LoginAdmission
from gateway.edge.app import DataPlane
from gateway.edge.forwarded import TrustedProxies
from gateway.edge.listener import ConnectionLimits
from gateway.edge.streams import RawSocketStream
from gateway.edge.upstream import Origin, UpstreamPool
from gateway.edge.watchdog import Watchdog
from gateway.http.wire import encode
from gateway.runtime import Runtime
from gateway.tls import server_context

log = logging.getLogger("gateway.edge")
TLS_HANDSHAKE_TIMEOUT = 10.0
DRAIN_SECONDS = 2.0


def split_bind(bind: str) -> tuple[str, int]:
    """``host:port`` or ``[v6]:port``."""
    host, _, port = bind.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"bind address {bind!r} is not host:port")
    return host.strip("[]"), int(port)


class DataPlaneServer:
    def __init__(
        self, runtime: Runtime, control_plane: str, budget: DescriptorBudget | None = None
    ) -> None:
        config = runtime.config
        http = config.http
        self.runtime = runtime
        self.stats = ListenerStats()
        self.limits = ConnectionLimits(
            max_header_bytes=http.max_header_bytes,
            max_headers=http.max_headers,
            max_body_bytes=http.max_body_bytes,
            header_timeout=http.header_timeout_seconds,
            idle_timeout=http.idle_timeout_seconds,
            body_timeout=http.body_timeout_seconds,
            send_timeout=http.send_timeout_seconds,
            request_timeout=http.request_timeout_seconds,
            min_body_rate=http.min_body_rate,
        )
        self.budget = budget
        if budget is not None:
            # Upstream and control-plane connections draw on it too.
            RawSocketStream.budget = budget
        core = runtime.core
        sessions = core.sessions
        access = AccessControl(sessions, core.api_keys, WithdrawalTiers(config.withdrawal_limits))
        self.watchdog = Watchdog()
        control = UpstreamPool(
            Origin.parse(control_plane),
            self.watchdog,
            max_idle=256,
            idle_timeout=60.0,
            connect_timeout=5.0,
        )

        def session_status(session: Session) -> schemas.SessionStatus:
            return schemas.SessionStatus(session=schemas.session_info(sessions, session))

        health_body = encode(schemas.Health(implementation=_implementation(), version=__version__))

        def health() -> tuple[bool, bytes]:
            return runtime.ready, health_body

        self.app = DataPlane(
            config,
            sessions,
            access,
            runtime.metrics,
            control,
            session_status,
            health,
            self.watchdog,
            LoginAdmission(config.login_admission, runtime.core.devices),
        )
        runtime.metrics.gauge(
            "gateway_open_connections",
            "Open client connections on the public address.",
            (),
            lambda: {(): float(self.stats.open_connections)},
        )
        self.event_streams = self.app.event_streams
        runtime.metrics.gauge(
            "gateway_open_event_streams",
            "Open event streams (GET /v1/session/events) on the public address.",
            (),
            lambda: {(): float(self.event_streams.streams)},
        )
        self._ssl = (
            server_context(http.certfile, http.keyfile, ["http/1.1"]) if http.certfile else None
        )

    async def serve(
        self,
        bind: str,
        shutdown: trio.Event,
        task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        host, port = split_bind(bind)
        http = self.runtime.config.http
        listeners = await trio.open_tcp_listeners(port, host=host, backlog=http.backlog)
        scheme = "https" if self._ssl is not None else "http"
        urls = []
        for listener in listeners:
            address = listener.socket.getsockname()
            shown = f"[{address[0]}]" if ":" in address[0] else address[0]
            urls.append(f"{scheme}://{shown}:{address[1]}")
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self.watchdog.run)
            nursery.start_soon(self._serve, listeners)
            task_status.started(urls)
            await shutdown.wait()
            # Stop accepting; give answers under way a moment, then close.
            with trio.move_on_after(DRAIN_SECONDS):
                while self.stats.open_connections:
                    await trio.sleep(0.05)
            nursery.cancel_scope.cancel()
        # The control plane's graceful stop waits for its keep-alive
        # connections: these are ours.
        await self.app.aclose()

    async def _serve(self, listeners: list[trio.SocketListener]) -> None:
        http = self.runtime.config.http
        acceptor = Acceptor(
            self.app,
            self.limits,
            self.watchdog,
            self.stats,
            max_connections=http.max_connections,
            per_client=http.max_connections_per_client,
            ipv6_prefix=http.ipv6_prefix,
            trusted=TrustedProxies(http.trusted_proxies, http.forwarded_header),
            budget=self.budget,
            ssl_wrap=self._tls if self._ssl is not None else None,
        )
        await serve_connections(listeners, acceptor)

    async def _tls(self, stream: trio.SocketStream) -> trio.abc.Stream | None:
        assert self._ssl is not None
        wrapped = trio.SSLStream(stream, self._ssl, server_side=True, https_compatible=True)
        with trio.move_on_after(TLS_HANDSHAKE_TIMEOUT):
            try:
                await wrapped.do_handshake()
                return wrapped
            except trio.BrokenResourceError:
                pass
        await trio.aclose_forcefully(stream)
        return None


def _implementation() -> str:
    import _fastcore

    return _fastcore.IMPLEMENTATION
