"""Summarise a pytest-benchmark JSON file of bench/micro as a Markdown table,
with the ratios the core's performance targets are stated in."""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path
from typing import Any


def per_call_ns(bench: dict[str, Any]) -> float:
    divisor = bench.get("extra_info", {}).get("per_call_divisor", 1)
    return float(bench["stats"]["mean"]) * 1e9 / divisor


def load(path: Path) -> tuple[dict[str, Any], dict[str, float]]:
    data = json.loads(path.read_text())
    return data, {b["fullname"].split("::")[-1]: per_call_ns(b) for b in data["benchmarks"]}


def render(path: Path) -> str:
    data, ns = load(path)
    lines = [
        f"Machine: {data['machine_info'].get('cpu', {}).get('brand_raw', platform.processor())}, "
        f"Python {data['machine_info']['python_version']}",
        "",
        "| benchmark | ns per call | calls/s |",
        "|---|---:|---:|",
    ]
    for name, value in sorted(ns.items()):
        lines.append(f"| {name} | {value:,.0f} | {1e9 / value:,.0f} |")
    floor = ns["test_floor_nogil_loop"]
    ratios = [
        (
            "pyotp TOTP.verify / compiled totp_verify (window 0)",
            ns["test_totp_verify_pyotp[0]"] / ns["test_totp_verify[compiled-0]"],
            ">= 30",
        ),
        (
            "pyotp TOTP.verify / compiled totp_verify (window 1)",
            ns["test_totp_verify_pyotp[1]"] / ns["test_totp_verify[compiled-1]"],
            "",
        ),
        (
            "compiled hotp per call / nogil floor per HMAC",
            ns["test_hotp[compiled]"] / floor,
            "<= 3",
        ),
        (
            "compiled totp_verify (window 0) per call / nogil floor per HMAC",
            ns["test_totp_verify[compiled-0]"] / floor,
            "<= 3",
        ),
        (
            "compiled totp_verify (window 1) per call / 3 x nogil floor per HMAC",
            ns["test_totp_verify[compiled-1]"] / (3 * floor),
            "<= 3",
        ),
        ("pure hotp / compiled hotp", ns["test_hotp[pure]"] / ns["test_hotp[compiled]"], ""),
        ("pure ocra / compiled ocra", ns["test_ocra[pure]"] / ns["test_ocra[compiled]"], ""),
    ]
    takes = 1e9 / ns["test_token_buckets_take[compiled]"]
    lines += ["", "| ratio | value | target |", "|---|---:|---|"]
    lines += [f"| {name} | {value:.2f} | {target} |" for name, value, target in ratios]
    lines.append(
        f"| compiled TokenBuckets.take per second (loop included) | {takes:,.0f} | >= 5,000,000 |"
    )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render(Path(sys.argv[1])))
