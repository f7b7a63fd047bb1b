"""Baselines driven by the same generator in the same run: the bare
Hypercorn-Trio app (our serving stack's ceiling) and nginx ``return 200``
(the machine's ceiling, and so the generator's own ceiling: nginx answers
faster than one Python core can ask). ``wrk``, when installed, drives nginx
too, to show how far the generator is from a C load tool."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from bench.load import servers
from bench.load.run import RunSpec, run
from bench.load.stats import MAX_REQUESTS

WRK_CONNECTIONS = 64


def run_baselines(
    duration: float, connections: int | None, out: Path, pin: bool = True, progress: bool = True
) -> list[dict[str, Any]]:
    results = []
    with servers.BareAppServer(pin=pin) as bare:
        results.append(
            _ping(
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
                _ping(
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
    return results


def _ping(
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
