"""Serving: the data plane on the public address, the control plane and the
admin API on their Hypercorn (Trio) listeners."""

from __future__ import annotations

import json
import logging
import shutil
import signal
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

import h11
import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.protocol.h11 import H11Protocol

from gateway.config import Config
from gateway.edge.server import DataPlaneServer
from gateway.http.admin import create_admin_app
from gateway.http.api import create_public_app
from gateway.http.hotpath import ASGIApp, RelayedClient, ShieldedSend
from gateway.http.listener import ListenerCount, serve_capped
from gateway.runtime import Runtime

log = logging.getLogger("gateway")


def hypercorn_config(bind: str, config: Config, *, tls: bool = True) -> HypercornConfig:
    server = HypercornConfig()
    server.bind = [bind]
    server.accesslog = None  # the audit log records what matters; per-request lines cost
    server.errorlog = logging.getLogger("hypercorn.error")
    server.keep_alive_timeout = config.http.idle_timeout_seconds
    server.graceful_timeout = 5
    server.max_app_queue_size = 10
    server.h11_max_incomplete_size = config.http.max_header_bytes
    # Hypercorn's default of 100 resets connections under a burst; the
    # control plane's Unix socket refuses connects at once when it is full.
    server.backlog = config.http.backlog
    if tls and config.http.certfile and config.http.keyfile:
        server.certfile, server.keyfile = config.http.certfile, config.http.keyfile
    # Cleartext HTTP/2 (h2c, by Upgrade or by prior knowledge) only when
    # configured; over TLS, HTTP/2 comes through ALPN either way.
    server.gateway_h2c = config.http.h2c  # type: ignore[attr-defined]  # see _h2c_check_protocol
    return server


_original_check_protocol = H11Protocol._check_protocol


async def _h2c_check_protocol(self: H11Protocol, event: h11.Request) -> None:
    """Hypercorn switches any cleartext HTTP/1.1 connection to HTTP/2 on
    ``Upgrade: h2c`` or the prior-knowledge preface, with no setting to turn
    it off. With ``[http] h2c = false`` (the default) both are ignored here:
    the request is answered as HTTP/1.1 and a preface goes no further."""
    if getattr(self.config, "gateway_h2c", True):
        await _original_check_protocol(self, event)


H11Protocol._check_protocol = _h2c_check_protocol  # type: ignore[method-assign]


def announce(event: str, **fields: object) -> None:
    """One JSON line on stdout: how scripts and tests learn the bound addresses."""
    print(json.dumps({"event": event, **fields}), flush=True)


async def serve(
    config: Config,
    *,
    data_dir: Path | None = None,
    bind: str | None = None,
    admin_bind: str | None = None,
    test_clock: bool = False,
    prepare: Callable[[Runtime], Awaitable[None]] | None = None,
    task_status: trio.TaskStatus[tuple[list[str], list[str]]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Open the runtime, let ``prepare`` set it up (the demo creates its user
    there), serve every listener until SIGINT/SIGTERM, then close the store.

    Listeners: the public address is the data plane (Trio + httptools);
    the control plane (Hypercorn + Quart-Trio) listens on a Unix socket in a
    private directory that only the data plane uses, and on ``h2_bind`` if
    configured; the admin API has its own Hypercorn listener."""
    runtime = await Runtime.open(config, data_dir=data_dir, test_clock=test_clock)
    socket_dir = Path(tempfile.mkdtemp(prefix="login-gateway-"))  # mode 0700
    control_socket = socket_dir / "control.sock"
    try:
        if prepare is not None:
            await prepare(runtime)
        shutdown = trio.Event()
        public_app = create_public_app(runtime)
        counts = {name: ListenerCount() for name in ("control", "admin", "h2")}
        runtime.metrics.gauge(
            "gateway_hypercorn_open_connections",
            "Open connections of the Hypercorn listeners (the control plane's "
            "socket, admin, h2_bind).",
            ("listener",),
            lambda: {(name,): float(c.open_connections) for name, c in counts.items()},
        )
        async with trio.open_nursery() as background:
            background.start_soon(runtime.sweep_forever)
            background.start_soon(runtime.core.outbox.run)  # webhook deliveries
            background.start_soon(_stop_on_signal, shutdown)
            async with trio.open_nursery() as servers:
                await servers.start(
                    _listener,
                    RelayedClient(public_app, trusted=True),
                    f"unix:{control_socket}",
                    config,
                    shutdown,
                    False,
                    counts["control"],
                )
                edge = DataPlaneServer(runtime, f"unix:{control_socket}")
                public = await servers.start(edge.serve, bind or config.http.bind, shutdown)
                admin = await servers.start(
                    _listener,
                    create_admin_app(runtime),
                    admin_bind or config.http.admin_bind,
                    config,
                    shutdown,
                    True,
                    counts["admin"],
                )
                extra: dict[str, object] = {}
                if config.http.h2_bind:
                    extra["h2"] = await servers.start(
                        _listener,
                        RelayedClient(public_app, trusted=False),
                        config.http.h2_bind,
                        config,
                        shutdown,
                        True,
                        counts["h2"],
                    )
                _announce_admin_token(runtime)
                runtime.ready = True
                announce("listening", public=public, admin=admin, test_clock=test_clock, **extra)
                task_status.started((public, admin))
                await shutdown.wait()
                runtime.ready = False
            # Every listener has drained after the shutdown signal.
            background.cancel_scope.cancel()
    finally:
        with trio.CancelScope(shield=True):
            await runtime.close()
            shutil.rmtree(socket_dir, ignore_errors=True)


def _announce_admin_token(runtime: Runtime) -> None:
    """Say where support's token is: printed once when it was just made."""
    where = runtime.admin_token_file
    if runtime.admin_token_generated:
        kept = f", kept in {where}" if where else " for this run only (memory store)"
        print(
            f"admin token (generated{kept}; set GATEWAY_ADMIN_TOKEN to choose one): "
            + runtime.admin_token,
            file=sys.stderr,
            flush=True,
        )
    elif where is not None:
        print(f"admin token: in {where}", file=sys.stderr, flush=True)


async def _listener(
    app: ASGIApp,
    bind: str,
    config: Config,
    shutdown: trio.Event,
    tls: bool = True,
    count: ListenerCount | None = None,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    await serve_capped(
        ShieldedSend(app),
        hypercorn_config(bind, config, tls=tls),
        max_connections=config.http.max_connections,
        shutdown_trigger=shutdown.wait,
        count=count,
        task_status=task_status,
    )


async def _stop_on_signal(shutdown: trio.Event) -> None:
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for _ in signals:
            shutdown.set()
            return
