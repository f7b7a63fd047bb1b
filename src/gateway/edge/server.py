"""The data plane's listener: sockets, TLS, and the ``DataPlane`` behind them."""

from __future__ import annotations

import logging
import ssl

import trio

from gateway import __version__, schemas
from gateway.auth.sessions import Session
from gateway.edge.accept import ListenerStats, serve_connections
from gateway.edge.access import AccessControl, WithdrawalTiers
from gateway.edge.admission import LoginAdmission
from gateway.edge.app import DataPlane
from gateway.edge.listener import ConnectionLimits
from gateway.edge.upstream import Origin, UpstreamPool
from gateway.edge.watchdog import Watchdog
from gateway.http.wire import encode
from gateway.runtime import Runtime

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
    def __init__(self, runtime: Runtime, control_plane: str) -> None:
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
        )
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
        self._ssl = _ssl_context(http.certfile, http.keyfile) if http.certfile else None

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
        await serve_connections(
            listeners,
            self.app,
            self.limits,
            max_connections=self.runtime.config.http.max_connections,
            stats=self.stats,
            watchdog=self.watchdog,
            ssl_wrap=self._tls if self._ssl is not None else None,
        )

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


def _ssl_context(certfile: str, keyfile: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certfile, keyfile)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["http/1.1"])
    return context


def _implementation() -> str:
    import _fastcore

    return _fastcore.IMPLEMENTATION
