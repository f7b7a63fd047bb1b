"""Memory of the lock state that guessed usernames leave behind.

python -m bench.state [--names 1000000] [--out DIR]

Feeds ``--names`` distinct usernames nobody has through the real lockout
guard (one failed attempt each: reserve, then settle as failed), over the
memory store, in a fresh process per variant:

- ``bounded``: the gateway as it is, guessed names in the LRU
  (``lockout.max_guessed_names``, default 100,000);
- ``unbounded``: the same LRU made large enough for every name, which is
  what keeping every guessed name costs (the baseline).

Each variant reports its peak resident memory and the memory the state
holds at the end (tracemalloc), so the figures are the ratio of the two in
one run. (The SQLite store keeps exactly this in memory too, and writes no
row for a guessed name.)
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import trio

from gateway.auth.lockout import LockoutGuard, LockoutPolicy, Outcome
from gateway.clock import TestClock
from gateway.store.memory import GUESSED_LOCKS, MemoryStore


async def feed(names: int, capacity: int) -> dict[str, float]:
    store = MemoryStore(capacity)
    guard = LockoutGuard(LockoutPolicy(), store, TestClock())
    tracemalloc.start()
    started = time.perf_counter()
    for i in range(names):
        attempt = await guard.reserve(f"guess{i:08d}")
        await guard.settle(attempt, Outcome.FAILED)
    seconds = time.perf_counter() - started
    held, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "names": names,
        "capacity": capacity,
        "kept": len(store.guessed),
        "evicted": store.guessed.evicted,
        "held_mib": held / 2**20,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "attempts_per_s": names / seconds,
    }


def one(variant: str, names: int) -> dict[str, float]:
    capacity = GUESSED_LOCKS if variant == "bounded" else names
    return trio.run(feed, names, capacity)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.state")
    parser.add_argument("--names", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    parser.add_argument("--variant", choices=("bounded", "unbounded"))
    args = parser.parse_args(argv)
    if args.variant:
        print(json.dumps(one(args.variant, args.names)))
        return 0
    results = {}
    for variant in ("bounded", "unbounded"):
        out = subprocess.run(
            [sys.executable, "-m", "bench.state", "--variant", variant, "--names", str(args.names)],
            capture_output=True,
            text=True,
            check=True,
        )
        results[variant] = json.loads(out.stdout)
    bounded, unbounded = results["bounded"], results["unbounded"]
    lines = [
        f"Lock state of {args.names:,} distinct guessed usernames (one failed attempt each)",
        "",
        "| variant | names kept | held (MiB) | peak RSS (MiB) | attempts/s |",
        "|---|---:|---:|---:|---:|",
    ]
    for variant, r in results.items():
        lines.append(
            f"| {variant} (capacity {r['capacity']:,}) | {r['kept']:,} | {r['held_mib']:.1f} | "
            f"{r['peak_rss_mib']:.1f} | {r['attempts_per_s']:,.0f} |"
        )
    lines += [
        "",
        f"held, bounded / unbounded: {bounded['held_mib'] / unbounded['held_mib']:.3f}; "
        f"peak RSS: {bounded['peak_rss_mib'] / unbounded['peak_rss_mib']:.3f}",
    ]
    table = "\n".join(lines) + "\n"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "state.json").write_text(json.dumps(results, indent=2))
    (args.out / "state.md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
