"""Facts every report carries: the machine, and the cost of one Argon2id hash
at the profile the gateway runs (the bound on logins per second)."""

from __future__ import annotations

import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

from gateway.config import Argon2Config


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict[str, Any]:
    import ssl

    import httptools
    import uvloop

    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "os": platform.platform(),
        "openssl": ssl.OPENSSL_VERSION,
        "uvloop": uvloop.__version__,
        "httptools": httptools.__version__,
    }


def argon2_cost(profile: str) -> Argon2Config:
    return Argon2Config(profile=profile)  # type: ignore[arg-type]


def hash_seconds(profile: str, budget_seconds: float = 0.2, at_least: int = 5) -> dict[str, Any]:
    """Median time of one Argon2id hash at ``profile``'s cost, on this
    process's core, computed by the gateway's own ``PasswordHasher``."""
    from gateway.auth.passwords import PasswordHasher

    config = argon2_cost(profile)
    hasher = PasswordHasher(config)
    samples: list[float] = []
    spent = 0.0
    while len(samples) < at_least or (spent < budget_seconds and len(samples) < 10_000):
        started = time.perf_counter()
        hasher.hash("loadtest1")
        took = time.perf_counter() - started
        samples.append(took)
        spent += took
    seconds = statistics.median(samples)
    return {
        "profile": profile,
        "memory_cost_kib": config.memory_cost_kib,
        "iterations": config.iterations,
        "lanes": config.lanes,
        "hash_seconds": seconds,
        "samples": len(samples),
        "bound_logins_per_s": 2 / seconds,  # the machine's two cores hashing
        "bound_logins_per_s_one_core": 1 / seconds,
    }
