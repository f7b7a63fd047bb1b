"""Serving: the data plane on the public address, the control plane and the
admin API on their Hypercorn (Trio) listeners.

The control plane listens on a Unix socket in a private directory
(``login-gateway-*`` in the temporary directory). A gateway killed outright
leaves its directory behind; each start removes those of this user whose
socket nobody listens on any more.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import stat
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import h11
import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.events import Closed
from hypercorn.protocol.h11 import H11Protocol

from gateway.config import Config
from gateway.descriptors import DescriptorBudget, budget_from_limit
from gateway.edge.forwarded import TrustedProxies
from gateway.edge.server import DataPlaneServer
from gateway.errors import BadRequest
from gateway.http.admin import create_admin_app
from gateway.http.api import create_public_app
from gateway.http.hotpath import ASGIApp, RelayedClient, ShieldedSend
from gateway.http.listener import BudgetShare, ConnectionPolicy, ListenerCount, serve_capped
from gateway.http.wire import error_response
from gateway.runtime import Runtime
from gateway.tls import INTERMEDIATE_CIPHERS

log = logging.getLogger("gateway")
SOCKET_DIR_PREFIX = "login-gateway-"
CONTROL_SOCKET = "control.sock"
# A directory this young without a socket may be a gateway still starting.
STARTING_SECONDS = 60.0


def hypercorn_config(bind: str, config: Config, *, tls: bool = True) -> HypercornConfig:
    server = HypercornConfig()
    server.bind = [bind]
    server.accesslog = None  # the audit log records what matters; per-request lines cost
    server.errorlog = logging.getLogger("hypercorn.error")
    server.keep_alive_timeout = config.http.idle_timeout_seconds
    server.graceful_timeout = 5
    server.max_app_queue_size = 10
    server.h11_max_incomplete_size = config.http.max_header_bytes
    # ... which bounds only a head that is still incomplete: see _create_stream.
    server.gateway_max_header_bytes = config.http.max_header_bytes  # type: ignore[attr-defined]
    # The control plane's answers are relayed to clients: no product banner.
    server.include_server_header = False
    server.ciphers = INTERMEDIATE_CIPHERS  # the context itself comes from gateway.tls
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
_original_create_stream = H11Protocol._create_stream


class HeadTooLarge(BadRequest):
    status = 431
    default_message = "Request header fields too large"


def _head_too_large(protocol: H11Protocol, event: h11.Request) -> bool:
    limit: int | None = getattr(protocol.config, "gateway_max_header_bytes", None)
    if limit is None:
        return False
    size = len(event.method) + len(event.target) + 12
    for name, value in event.headers:
        size += len(name) + len(value) + 4
    return size > limit


async def _h2c_check_protocol(self: H11Protocol, event: h11.Request) -> None:
    """Hypercorn switches any cleartext HTTP/1.1 connection to HTTP/2 on
    ``Upgrade: h2c`` or the prior-knowledge preface, with no setting to turn
    it off. With ``[http] h2c = false`` (the default) both are ignored here:
    the request is answered as HTTP/1.1 and a preface goes no further."""
    if _head_too_large(self, event):
        return  # refused in _create_stream, never upgraded
    if getattr(self.config, "gateway_h2c", True):
        await _original_check_protocol(self, event)


async def _create_stream(self: H11Protocol, request: h11.Request) -> None:
    """h11 bounds a request head by ``max_incomplete_event_size`` only while
    it is incomplete: a 60 KB head in one read passes. Each request's head
    is measured here instead: past ``[http] max_header_bytes`` it is 431,
    and the connection closes."""
    if not _head_too_large(self, request):
        await _original_create_stream(self, request)
        return
    status, headers, body = error_response(HeadTooLarge())
    headers = [*headers, (b"connection", b"close"), *self.config.response_headers("h11")]
    await self._send_h11_event(h11.Response(status_code=status, headers=headers))
    await self._send_h11_event(h11.Data(data=body))
    await self._send_h11_event(h11.EndOfMessage())
    await self.send(Closed())


H11Protocol._check_protocol = _h2c_check_protocol  # type: ignore[method-assign]
H11Protocol._create_stream = _create_stream  # type: ignore[method-assign]


def remove_stale_socket_dirs(parent: Path | None = None) -> list[Path]:
    """Remove the private socket directories of gateways that are gone:
    this user's ``login-gateway-*`` whose control socket refuses a connect
    (or that have none, once past a start's time). A live gateway's
    directory is never touched. Returns what was removed."""
    parent = Path(tempfile.gettempdir()) if parent is None else parent
    uid = os.getuid()
    removed = []
    for entry in parent.glob(SOCKET_DIR_PREFIX + "*"):
        try:
            info = entry.lstat()
        except OSError:
            continue
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != uid:
            continue
        if _listened_on(entry / CONTROL_SOCKET, info.st_mtime):
            continue
        shutil.rmtree(entry, ignore_errors=True)
        removed.append(entry)
    return removed


def _listened_on(path: Path, made: float) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.setblocking(False)  # a full backlog answers EAGAIN, not a wait
    try:
        probe.connect(str(path))
    except FileNotFoundError:
        return time.time() - made < STARTING_SECONDS
    except ConnectionRefusedError:
        return False
    except OSError:
        return True  # busy, or not ours to judge: leave it
    finally:
        probe.close()
    return True


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
    budget = budget_from_limit()
    runtime = await Runtime.open(config, data_dir=data_dir, test_clock=test_clock)
    for stale in remove_stale_socket_dirs():
        log.info("removed %s, left behind by a gateway that is gone", stale)
    socket_dir = Path(tempfile.mkdtemp(prefix=SOCKET_DIR_PREFIX))  # mode 0700
    control_socket = socket_dir / CONTROL_SOCKET
    try:
        if prepare is not None:
            await prepare(runtime)
        shutdown = trio.Event()
        public_app = create_public_app(runtime)
        counts = {name: ListenerCount() for name in ("control", "admin", "h2")}
        runtime.metrics.gauge(
            "gateway_connection_descriptors",
            "Descriptors held by connections, and the budget they draw on.",
            ("kind",),
            lambda: {
                ("used",): float(budget.used),
                ("limit",): float(budget.total),
                ("reserve",): float(budget.reserve),
            },
        )
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
                    _policy(config, budget, "none"),
                )
                edge = DataPlaneServer(runtime, f"unix:{control_socket}", budget)
                public = await servers.start(edge.serve, bind or config.http.bind, shutdown)
                admin = await servers.start(
                    _listener,
                    create_admin_app(runtime),
                    admin_bind or config.http.admin_bind,
                    config,
                    shutdown,
                    True,
                    counts["admin"],
                    _policy(config, budget, "reserve"),
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
                        _policy(config, budget, "client"),
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
    policy: ConnectionPolicy | None = None,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    await serve_capped(
        ShieldedSend(app),
        hypercorn_config(bind, config, tls=tls),
        max_connections=config.http.max_connections,
        shutdown_trigger=shutdown.wait,
        count=count,
        policy=policy,
        task_status=task_status,
    )


def _policy(config: Config, budget: DescriptorBudget, share: BudgetShare) -> ConnectionPolicy:
    """The control plane's socket is the data plane's alone: no cap per
    address there (its peers are the relay), and nothing more to pay."""
    http = config.http
    if share == "none":
        return ConnectionPolicy()
    trusted = TrustedProxies(http.trusted_proxies, http.forwarded_header)
    return ConnectionPolicy(
        budget,
        share,
        per_client=http.max_connections_per_client,
        ipv6_prefix=http.ipv6_prefix,
        trusts=trusted.trusts,
    )


async def _stop_on_signal(shutdown: trio.Event) -> None:
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for _ in signals:
            shutdown.set()
            return
