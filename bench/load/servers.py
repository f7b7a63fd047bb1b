"""The servers a run drives, each started as its own process on loopback:
the gateway (with the test clock and the load-test profile), the bare
Hypercorn-Trio app, and nginx ``return 200``.

On a machine with two or more cores the server is pinned to one core and the
generator to another (``GENERATOR_CPU``), so neither steals the other's CPU
and the figures say what one gateway process does on one core.
"""

from __future__ import annotations

import json
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
SERVER_CPU = 0
GENERATOR_CPU = 1
LOAD_ADMIN_TOKEN = "load-test-admin-token-not-a-secret"

ARGON2_PROFILES = ("insecure-load-test", "production")
# Taken before anything is pinned.
_USABLE_CPUS = (
    frozenset(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else frozenset()
)


def load_test_profile(
    argon2: str = "insecure-load-test",
    rate_limits: Mapping[str, float] | None = None,
    store: str | None = None,
    upstream: str | None = None,
    audit: str = "",
) -> str:
    """The gateway config of a load run, as TOML.

    - ``argon2``: ``insecure-load-test`` (8 KiB, 1 pass: INSECURE, it makes
      password hashes almost free to brute-force; for load runs only) or
      ``production`` (the default cost, 64 MiB, 3 passes, 4 lanes).
    - per-IP bucket raised out of the way: every request of the generator
      comes from 127.0.0.1 (or a few loopback addresses), where a real
      deployment sees one address per client. The test clock stands still
      unless moved, so the buckets never refill on their own: the burst is
      what bounds a run.
    - per-user buckets and the lockout keep their production values unless a
      scenario says otherwise (``rate_limits``).
    - ``store``: the gateway's default (SQLite, durable) unless given
      (``memory``: to see what the durable writes cost).
    - ``upstream``: a proxy route ``/upstream`` (any session, prefix
      stripped) to that URL, for the proxied scenarios.
    """
    if argon2 not in ARGON2_PROFILES:
        raise ValueError(f"unknown argon2 profile {argon2!r}")
    limits: dict[str, float] = {"ip_rate": 1_000_000.0, "ip_burst": 1_000_000_000.0}
    limits.update(rate_limits or {})
    lines = [
        "# Written by bench.load for one load run.",
        "[argon2]",
        f'profile = "{argon2}"'
        + ("  # INSECURE: cheap hashes, for load tests only" if argon2 != "production" else ""),
        "",
        "[rate_limits]",
        *(f"{key} = {float(value)!r}" for key, value in limits.items()),
        "",
        # For the same reason, no cap per address on logins in flight: the
        # fair queues still serve the credential-stuffing flood's addresses
        # in turn with the legit users' ones.
        "[login_admission]",
        "per_client = 1000000",
        "",
        # The generator plays the proxy that asks forward auth.
        "[http]",
        'trusted_proxies = ["127.0.0.1/32"]',
        "",
    ]
    if store is not None:
        lines += ["[store]", f'backend = "{store}"', ""]
    if upstream is not None:
        lines += [
            "[[routes]]",
            'prefix = "/upstream"',
            f'upstream = "{upstream}"',
            "strip_prefix = true",
            "",
        ]
    # A file, as in production: on stdout the lines would fill the pipe to
    # this process, which stops reading once the gateway is up.
    lines += ["[audit]", f'path = "{audit}"', ""]
    return "\n".join(lines)


def pin_to_cpu(pid: int, cpu: int) -> bool:
    """Pin process ``pid`` (0: this one) to ``cpu`` when the machine has it."""
    if not hasattr(os, "sched_setaffinity"):
        return False
    if len(_USABLE_CPUS) < 2 or cpu not in _USABLE_CPUS:
        return False
    os.sched_setaffinity(pid, {cpu})
    return True


def unpin(pid: int) -> None:
    """Let process ``pid`` (0: this one) run on every core again (children
    inherit their parent's affinity, so an unpinned run must say so)."""
    if hasattr(os, "sched_setaffinity") and _USABLE_CPUS:
        os.sched_setaffinity(pid, _USABLE_CPUS)


def terminate(process: subprocess.Popen[Any]) -> None:
    """SIGTERM, then SIGKILL if it has not ended within STOP_TIMEOUT."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class ServerProcess:
    """A child process that prints ``{"event": "listening", "public": [...]}``
    on stdout when it is ready (the gateway and the bare app do)."""

    def __init__(
        self, name: str, command: list[str], env: Mapping[str, str] | None = None, pin: bool = True
    ) -> None:
        self.name = name
        self.command = command
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.pin = pin
        self.process: subprocess.Popen[str] | None = None
        self.output: list[str] = []
        self.ready: dict[str, Any] = {}

    @property
    def url(self) -> str:
        return str(self.ready["public"][0])

    @property
    def admin_url(self) -> str:
        return str(self.ready["admin"][0])

    def start(self) -> ServerProcess:
        self.process = subprocess.Popen(
            self.command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=self.env,
            cwd=REPO_ROOT,
        )
        if self.pin:
            pin_to_cpu(self.process.pid, SERVER_CPU)
        else:
            unpin(self.process.pid)
        self.ready = self._wait_for_listening()
        return self

    def _wait_for_listening(self) -> dict[str, Any]:
        assert self.process is not None and self.process.stdout is not None
        selector = selectors.DefaultSelector()
        selector.register(self.process.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + START_TIMEOUT
        while (left := deadline - time.monotonic()) > 0:
            if not selector.select(timeout=left):
                break
            line = self.process.stdout.readline()
            if not line:
                break
            self.output.append(line)
            if line.startswith("{"):
                message = json.loads(line)
                if message.get("event") == "listening":
                    selector.close()
                    return dict(message)
        selector.close()
        self.stop()
        raise RuntimeError(f"{self.name} did not start:\n" + "".join(self.output))

    def stop(self) -> int | None:
        process, self.process = self.process, None
        if process is None:
            return None
        terminate(process)
        if process.stdout is not None:
            self.output.extend(process.stdout.readlines())
            process.stdout.close()
        return process.returncode

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def gateway_command() -> list[str]:
    script = shutil.which("login-gateway", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "gateway.cli"]


class GatewayServer(ServerProcess):
    """``login-gateway serve --test-clock`` with a load-test profile, in a
    temporary data directory removed after the run."""

    def __init__(
        self,
        argon2: str = "insecure-load-test",
        rate_limits: Mapping[str, float] | None = None,
        pin: bool = True,
        store: str | None = None,
        upstream: str | None = None,
    ) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="bench-load-gateway-"))
        audit = str(self.workdir / "audit.jsonl")
        self.profile = load_test_profile(argon2, rate_limits, store, upstream, audit)
        self.argon2 = argon2
        config = self.workdir / "gateway.toml"
        config.write_text(self.profile)
        command = [
            *gateway_command(),
            "serve",
            "--config",
            str(config),
            "--data-dir",
            str(self.workdir / "data"),
            "--bind",
            "127.0.0.1:0",
            "--admin-bind",
            "127.0.0.1:0",
            "--test-clock",
        ]
        super().__init__("gateway", command, {"GATEWAY_ADMIN_TOKEN": LOAD_ADMIN_TOKEN}, pin)

    def stop(self) -> int | None:
        try:
            return super().stop()
        finally:
            shutil.rmtree(self.workdir, ignore_errors=True)


class BareAppServer(ServerProcess):
    """bench/load/bare_app.py: Hypercorn's trio worker answering 200."""

    def __init__(self, pin: bool = True) -> None:
        command = [sys.executable, "-m", "bench.load.bare_app", "--bind", "127.0.0.1:0"]
        super().__init__("bare hypercorn-trio app", command, {"PYTHONPATH": str(REPO_ROOT)}, pin)


class RawTrioServer(ServerProcess):
    """bench/load/raw_trio.py: trio.serve_tcp + httptools answering 200."""

    def __init__(self, pin: bool = True) -> None:
        command = [sys.executable, "-m", "bench.load.raw_trio", "--bind", "127.0.0.1:0"]
        super().__init__(
            "raw Trio + httptools responder", command, {"PYTHONPATH": str(REPO_ROOT)}, pin
        )


# --- nginx ------------------------------------------------------------------------


def nginx_config(workdir: Path, port: int, proxy_to: str | None = None) -> str:
    """A foreground, single-worker nginx answering ``return 200`` on
    127.0.0.1:``port`` (or, with ``proxy_to``, passing every request there
    over pooled keep-alive connections), every path under ``workdir``."""
    if proxy_to is None:
        location = """default_type text/plain;
            return 200 "ok";"""
    else:
        location = """proxy_pass http://upstream;
            proxy_http_version 1.1;
            proxy_set_header Connection "";"""
    upstream = (
        f"upstream upstream {{\n        server {proxy_to};\n        keepalive 64;\n    }}"
        if proxy_to
        else ""
    )
    server = f"""    keepalive_requests 1000000;
    keepalive_timeout 75s;
    {upstream}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            {location}
        }}
    }}"""
    return nginx_main(workdir, server)


def nginx_main(workdir: Path, http_block: str) -> str:
    """A foreground nginx with one worker and every file under ``workdir``,
    serving ``http_block`` (the body of its ``http {}``)."""
    user = "user root;\n" if os.geteuid() == 0 else ""  # temp files under root's workdir
    return f"""# Written for one run by login-gateway's bench or tests.
{user}daemon off;
master_process on;
worker_processes 1;
pid {workdir}/nginx.pid;
error_log {workdir}/error.log warn;
events {{
    worker_connections 4096;
}}
http {{
    access_log off;
    client_body_temp_path {workdir}/client_body;
    proxy_temp_path {workdir}/proxy;
    fastcgi_temp_path {workdir}/fastcgi;
    uwsgi_temp_path {workdir}/uwsgi;
    scgi_temp_path {workdir}/scgi;
{http_block}
}}
"""


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class NginxServer:
    """nginx in the foreground from a temporary directory; stopped with SIGTERM."""

    def __init__(self, nginx: str, pin: bool = True, proxy_to: str | None = None) -> None:
        self.nginx = nginx
        self.pin = pin
        self.proxy_to = proxy_to
        self.workdir = Path(tempfile.mkdtemp(prefix="bench-load-nginx-"))
        self.port = free_loopback_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> NginxServer:
        config = self.workdir / "nginx.conf"
        config.write_text(nginx_config(self.workdir, self.port, self.proxy_to))
        self.process = subprocess.Popen(
            [self.nginx, "-p", str(self.workdir), "-c", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=(lambda: pin_to_cpu(0, SERVER_CPU)) if self.pin else (lambda: unpin(0)),
        )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                error = self.process.stderr.read().decode() if self.process.stderr else ""
                self.stop()
                raise RuntimeError(f"nginx did not start: {error}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.05)  # nginx prints nothing when ready: poll its port
        self.stop()
        raise RuntimeError("nginx did not start listening in time")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None:
            terminate(process)
        if process is not None and process.stderr is not None:
            process.stderr.close()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> NginxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
