"""CPU time the gateway process spends per request on the data plane's hot
paths, for a fixed count: less sensitive than req/s to a shared machine's
drift, so two checkouts can be compared by alternating runs.

    python -m bench.load.cpu_cost [--requests 40000] [TREE ...]

Each TREE is a checkout with its own ``.venv`` (default: this one). For each,
a gateway (load-test profile, the generator as its trusted proxy, a route to
the raw Trio responder) answers ``GET /v1/session``, ``GET /auth/verify``
(with ``X-Forwarded-Method/-Uri``) and a proxied ``GET``, each ``--requests``
times over 8 keep-alive connections from loopback, after a warm-up; the
figure is the process's user + system CPU time over the count, in µs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import tempfile
from pathlib import Path

import httpx

ADMIN_TOKEN = "cpu-cost-admin-token-0123456789"
CONNECTIONS = 8
WARM_UP = 2000


def _start(
    command: list[str], cwd: str, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[str], dict[str, list[str]]]:
    process = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("{") and '"listening"' in line:
            return process, json.loads(line)
    raise RuntimeError(f"{command[0]} stopped before listening")


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _drive(port: int, request: bytes, count: int) -> None:
    async def connection() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(count // CONNECTIONS):
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(head[:200].decode("latin-1"))
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    await reader.readexactly(int(line.split(b":")[1]))
        writer.close()

    await asyncio.gather(*(connection() for _ in range(CONNECTIONS)))


def measure(tree: str, count: int) -> dict[str, float]:
    python = f"{tree}/.venv/bin/python"
    upstream, listening = _start([python, "-m", "bench.load.raw_trio"], tree)
    work = Path(tempfile.mkdtemp(prefix="cpu-cost-"))
    config = work / "gateway.toml"
    config.write_text(
        '[argon2]\nprofile = "insecure-load-test"\n[http]\ntrusted_proxies = ["127.0.0.1/32"]\n'
        '[audit]\npath = ""\n[[routes]]\nprefix = "/upstream"\n'
        f'upstream = "{listening["public"][0]}"\nstrip_prefix = true\n'
    )
    env = {**os.environ, "GATEWAY_ADMIN_TOKEN": ADMIN_TOKEN}
    serve = [f"{tree}/.venv/bin/login-gateway", "serve", "--config", str(config)]
    serve += ["--data-dir", str(work / "data"), "--bind", "127.0.0.1:0"]
    serve += ["--admin-bind", "127.0.0.1:0", "--test-clock"]
    gateway, bound = _start(serve, tree, env)
    try:
        public, admin = bound["public"][0], bound["admin"][0]
        httpx.post(
            admin + "/admin/v1/users",
            json={"username": "cpucost", "password": "secret123"},
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        ).raise_for_status()
        login = {"username": "cpucost", "password": "secret123", "platform": "tws"}
        token = httpx.post(public + "/v1/login", json=login).json()["token"]
        port = int(public.rsplit(":", 1)[1])
        common = f"Host: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n"
        forwarded = "X-Forwarded-Method: GET\r\nX-Forwarded-Uri: /reports/daily?page=2\r\n"
        requests = {
            "session": f"GET /v1/session HTTP/1.1\r\n{common}\r\n",
            "forward_auth": f"GET /auth/verify HTTP/1.1\r\n{common}{forwarded}\r\n",
            "proxied": f"GET /upstream/ping HTTP/1.1\r\n{common}\r\n",
        }
        costs = {}
        for name, text in requests.items():
            request = text.encode()
            asyncio.run(_drive(port, request, WARM_UP))
            before = _cpu_seconds(gateway.pid)
            asyncio.run(_drive(port, request, count))
            costs[name] = round((_cpu_seconds(gateway.pid) - before) / count * 1e6, 2)
        return costs
    finally:
        for process in (gateway, upstream):
            process.terminate()
            process.wait(timeout=30)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.load.cpu_cost")
    parser.add_argument("trees", nargs="*", default=["."])
    parser.add_argument("--requests", type=int, default=40_000)
    parser.add_argument("--rounds", type=int, default=1, help="alternate the trees this often")
    args = parser.parse_args(argv)
    for _ in range(args.rounds):
        for tree in args.trees:
            path = str(Path(tree).resolve())
            print(json.dumps({"tree": path, **measure(path, args.requests)}), flush=True)


if __name__ == "__main__":
    main()
