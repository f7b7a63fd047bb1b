"""The data plane against its baselines, interleaved.

This machine's speed drifts by tens of percent over minutes (a shared VM),
so a baseline measured a minute before the run it is compared with says
little. ``run_edge`` measures in rounds, each baseline right next to the
runs compared with it: raw Trio + httptools, forward auth, session checks;
then nginx ``proxy_pass`` and the gateway's proxy to the same small
upstream. The bare Hypercorn-Trio app and nginx ``return 200`` (the
generator's ceiling) are measured once. The table gives every round's ratios
and their median.

    python -m bench.load edge --rounds 5 --duration 6
"""

from __future__ import annotations

import json
import shutil
import statistics
from pathlib import Path

from bench.load import servers
from bench.load.baseline import ping_baseline, small_upstream
from bench.load.run import RunSpec, run

# (label, session-traffic mix, compared with)
GATEWAY_RUNS = (
    ("forward-auth", "auth_verify", "raw"),
    ("session-check", "session", "raw"),
    ("proxied", "proxied", "proxy"),
)
TARGETS = {"bare": 10.0, "raw": 0.5, "proxy": 0.25}


def run_edge(
    rounds: int, duration: float, out: Path, pin: bool = True, progress: bool = True
) -> str:
    nginx = shutil.which("nginx")
    if nginx is None:
        raise RuntimeError("the edge runs need nginx (apt-get install nginx)")
    with small_upstream() as upstream:
        with servers.BareAppServer(pin=pin) as bare:
            ping_baseline(
                bare.url,
                "baseline-bare-hypercorn-trio",
                "bare Hypercorn-Trio app",
                duration,
                None,
                out,
                pin,
                progress,
            )
        with servers.NginxServer(nginx, pin=pin) as ceiling:
            ping_baseline(
                ceiling.url,
                "baseline-nginx",
                "nginx return 200",
                duration,
                None,
                out,
                pin,
                progress,
            )
        for round_ in range(1, rounds + 1):
            with servers.RawTrioServer(pin=pin) as raw:
                ping_baseline(
                    raw.url,
                    f"baseline-raw-trio-r{round_}",
                    "raw Trio + httptools responder",
                    duration,
                    None,
                    out,
                    pin,
                    progress,
                )
            for label, mix, _ in GATEWAY_RUNS:
                if label == "proxied":
                    to = upstream.removeprefix("http://")
                    with servers.NginxServer(nginx, pin=pin, proxy_to=to) as proxy:
                        ping_baseline(
                            proxy.url,
                            f"baseline-nginx-proxy-pass-r{round_}",
                            "nginx proxy_pass to the small upstream",
                            duration,
                            None,
                            out,
                            pin,
                            progress,
                        )
                spec = RunSpec(
                    "session-traffic",
                    duration=duration,
                    label=f"{label}-r{round_}",
                    out=out,
                    progress=progress,
                    pin=pin,
                    extra={"mix": mix},
                    upstream=upstream if label == "proxied" else None,
                )
                run(spec)
    table = summarize_edge(out, rounds)
    (out / "edge.md").write_text(table)
    return table


def _rate_and_p99(out: Path, label: str, op: str) -> tuple[float, float] | None:
    path = out / f"{label}.json"
    if not path.exists():
        return None
    result = json.loads(path.read_text())
    stats = result["ops"].get(op)
    if stats is None:
        return None
    return stats["ok_rate_per_s"], stats["latency_us"]["percentiles"]["p99"] / 1000


def summarize_edge(out: Path, rounds: int) -> str:
    bare = _rate_and_p99(out, "baseline-bare-hypercorn-trio", "ping")
    rows: list[str] = []
    ratios: dict[str, list[float]] = {}
    for round_ in range(1, rounds + 1):
        raw = _rate_and_p99(out, f"baseline-raw-trio-r{round_}", "ping")
        proxy = _rate_and_p99(out, f"baseline-nginx-proxy-pass-r{round_}", "ping")
        for label, mix, against in GATEWAY_RUNS:
            mine = _rate_and_p99(out, f"{label}-r{round_}", mix)
            base = raw if against == "raw" else proxy
            if mine is None or base is None:
                continue
            ratio = mine[0] / base[0]
            ratios.setdefault(f"{label} / {against}", []).append(ratio)
            cells = [
                str(round_),
                label,
                f"{mine[0]:,.0f}",
                f"{mine[1]:.2f}",
                f"{base[0]:,.0f}",
                f"{base[1]:.2f}",
                f"{ratio:.2f}",
            ]
            if against == "raw" and bare is not None:
                ratios.setdefault(f"{label} / bare", []).append(mine[0] / bare[0])
                cells.append(f"{mine[0] / bare[0]:.1f}")
            else:
                cells.append("-")
            rows.append("| " + " | ".join(cells) + " |")
    lines = [
        "| round | run | req/s | p99 ms | baseline req/s | baseline p99 ms | ratio | "
        "vs bare Hypercorn-Trio |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
        *rows,
        "",
        "| ratio | median | min | max | target |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, values in ratios.items():
        target = TARGETS[name.rsplit(" / ", 1)[1]]
        lines.append(
            f"| {name} | {statistics.median(values):.2f} | {min(values):.2f} | "
            f"{max(values):.2f} | >= {target:g} |"
        )
    lines.append("")
    for name, label in (
        ("bare Hypercorn-Trio", "baseline-bare-hypercorn-trio"),
        ("nginx return 200 (the generator's ceiling)", "baseline-nginx"),
    ):
        once = _rate_and_p99(out, label, "ping")
        if once is not None:
            lines.append(f"{name}: {once[0]:,.0f} req/s, p99 {once[1]:.2f} ms.")
    baselines = (
        "raw: the raw Trio + httptools responder of the same round; proxy: nginx "
        "proxy_pass to the same small upstream, in the same round."
    )
    return "\n".join([*lines, baselines]) + "\n"
