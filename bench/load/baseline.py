"""Baselines driven by the same generator in the same run: the bare
Hypercorn-Trio app (the control plane's serving stack), a raw Trio +
httptools responder (the data plane's ceiling), nginx ``return 200`` (the
machine's ceiling, and so the generator's own ceiling: nginx answers faster
than one Python core can ask) and, given a small upstream, nginx
``proxy_pass`` to it (what the reverse proxy is measured against). ``wrk``,
when installed, drives nginx too, to show how far the generator is from a C
load tool."""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.load import servers
from bench.load.run import RunSpec, run
from bench.load.stats import MAX_REQUESTS

WRK_CONNECTIONS = 64


def run_baselines(
    duration: float,
    connections: int | None,
    out: Path,
    pin: bool = True,
    progress: bool = True,
    upstream: str | None = None,
) -> list[dict[str, Any]]:
    results = []
    with servers.RawTrioServer(pin=pin) as raw:
        results.append(
            ping_baseline(
                raw.url,
                "baseline-raw-trio",
                "raw Trio + httptools responder",
                duration,
                connections,
                out,
                pin,
                progress,
            )
        )
    with servers.BareAppServer(pin=pin) as bare:
        results.append(
            ping_baseline(
                bare.url,
                "baseline-bare-hypercorn-trio",
                "bare Hypercorn-Trio app",
                duration,
                connections,
                out,
                pin,
                progress,
            )
        )
    nginx = shutil.which("nginx")
    if nginx:
        with servers.NginxServer(nginx, pin=pin) as server:
            results.append(
                ping_baseline(
                    server.url,
                    "baseline-nginx",
                    "nginx return 200",
                    duration,
                    connections,
                    out,
                    pin,
                    progress,
                )
            )
            wrk = shutil.which("wrk")
            if wrk:
                results.append(wrk_run(wrk, server.url, duration, out, pin))
        if upstream is not None:
            with servers.NginxServer(
                nginx, pin=pin, proxy_to=upstream.removeprefix("http://")
            ) as proxy:
                results.append(
                    ping_baseline(
                        proxy.url,
                        "baseline-nginx-proxy-pass",
                        "nginx proxy_pass to the small upstream",
                        duration,
                        connections,
                        out,
                        pin,
                        progress,
                    )
                )
    return results


@contextlib.contextmanager
def small_upstream() -> Iterator[str]:
    """The upstream of the proxy runs: nginx ``return 200`` (C, so the proxy
    in front of it is what is measured), not pinned: it takes what CPU the
    proxy under test leaves, the same for nginx and the gateway."""
    nginx = shutil.which("nginx")
    if nginx is None:
        raise RuntimeError("the proxy runs need nginx as their upstream (apt-get install nginx)")
    with servers.NginxServer(nginx, pin=False) as upstream:
        yield upstream.url


def ping_baseline(
    url: str,
    label: str,
    server: str,
    duration: float,
    connections: int | None,
    out: Path,
    pin: bool,
    progress: bool,
) -> dict[str, Any]:
    spec = RunSpec(
        "ping",
        duration=duration,
        max_requests=MAX_REQUESTS,  # nginx answers ~100k/s: let the duration bound it
        connections=connections,
        target=url,
        argon2=None,
        label=label,
        out=out,
        pin=pin,
        progress=progress,
        server_name=server,
    )
    return run(spec)


def parse_wrk(output: str) -> dict[str, float]:
    """Requests/s and the latency summary of ``wrk --latency`` output."""
    figures: dict[str, float] = {}
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if rate:
        figures["requests_per_s"] = float(rate.group(1))
    for percent, value, unit in re.findall(
        r"^\s+(50|90|99)%\s+([\d.]+)(us|ms|s)\s*$", output, re.M
    ):
        scale = {"us": 1.0, "ms": 1e3, "s": 1e6}[unit]
        figures[f"p{percent}_us"] = float(value) * scale
    return figures


def wrk_run(wrk: str, url: str, duration: float, out: Path, pin: bool) -> dict[str, Any]:
    """wrk (one thread, pinned to the generator's core) against ``url``."""
    command = [
        wrk,
        "-t1",
        f"-c{WRK_CONNECTIONS}",
        f"-d{max(1, round(duration))}s",
        "--latency",
        url + "/",
    ]
    if pin:
        command = (
            ["taskset", "-c", str(servers.GENERATOR_CPU), *command]
            if shutil.which("taskset")
            else command
        )
    completed = subprocess.run(
        command, capture_output=True, text=True, timeout=duration + 60, check=True
    )
    result = {
        "label": "baseline-wrk-nginx",
        "scenario": "wrk",
        "command": " ".join(command),
        "headline": parse_wrk(completed.stdout),
        "output": completed.stdout,
    }
    out.mkdir(parents=True, exist_ok=True)
    import json

    (out / "baseline-wrk-nginx.json").write_text(json.dumps(result, indent=1) + "\n")
    return result
