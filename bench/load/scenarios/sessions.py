"""session-traffic: logged-in users on the hot path, and ping, the
baselines' scenario (GET / on keep-alive connections)."""

from __future__ import annotations

import asyncio
from typing import Any

from bench.load.http import TransportError, bearer, encode_request
from bench.load.scenarios.base import BudgetExhausted, LoginOps, RunContext, Scenario, login
from bench.load.scenarios.logins import provision_pool, setup_context

# What a logged-in client calls, by name: (method, path); any of them in --mix
# (session=8,tickle=1,auth_verify=1). ``proxied`` needs the gateway started
# with an upstream (the route /upstream, see servers.GatewayServer).
ENDPOINTS: dict[str, tuple[str, str]] = {
    "session": ("GET", "/v1/session"),
    "tickle": ("POST", "/v1/session/tickle"),
    "auth_verify": ("GET", "/auth/verify"),
    "proxied": ("GET", "/upstream/ping"),
}
DEFAULT_MIX = "session=9,tickle=1"
# What a forward-auth caller (Traefik, Caddy) says about the request it asks
# about; the gateway believes it from the generator's address, a trusted
# proxy in the load-test profile.
FORWARDED: dict[str, list[tuple[str, str]]] = {
    "auth_verify": [("X-Forwarded-Method", "GET"), ("X-Forwarded-Uri", "/reports/daily?page=2")]
}


def parse_mix(text: str) -> dict[str, int]:
    """``session=9,tickle=1`` -> weights by endpoint; a bare name weighs 1."""
    mix: dict[str, int] = {}
    for part in text.split(","):
        name, _, weight = part.strip().partition("=")
        if name not in ENDPOINTS:
            raise ValueError(f"unknown endpoint {name!r} in the mix; known: {', '.join(ENDPOINTS)}")
        value = int(weight) if weight else 1
        if value < 0:
            raise ValueError(f"negative weight for {name!r}")
        mix[name] = mix.get(name, 0) + value
    if not any(mix.values()):
        raise ValueError("the mix has no endpoint with a positive weight")
    return mix


def schedule(mix: dict[str, int]) -> list[str]:
    """The endpoints in an interleaved cycle with the mix's proportions
    (``session=2,tickle=1`` -> session, tickle, session), so every worker
    sends the same proportions over any stretch of the cycle."""
    total = sum(mix.values())
    cycle: list[str] = []
    credit = dict.fromkeys(mix, 0)
    for _ in range(total):  # smooth weighted round robin
        for name, weight in mix.items():
            credit[name] += weight
        best = max(credit, key=lambda n: credit[n])
        credit[best] -= total
        cycle.append(best)
    return cycle


class SessionTraffic(Scenario):
    name = "session-traffic"
    description = (
        "logged-in users calling the hot path: GET /v1/session (session check) and "
        "POST /v1/session/tickle, in the proportions of --mix"
    )
    default_users = 200
    default_connections = 64

    async def prepare(self, ctx: RunContext) -> None:
        self.mix = parse_mix(str(ctx.options.extra.get("mix") or DEFAULT_MIX))
        pool = await provision_pool(ctx)
        setup = setup_context(ctx)
        ops = LoginOps.named(setup.recorder)
        tokens: list[str] = []

        async def log_in(client_index: int) -> None:
            client = setup.client()
            for _ in range(client_index, ctx.options.users, 8):
                user = await pool.acquire()
                outcome = await login(setup, client, user, pool, ops, platform="tws")
                pool.release(user)
                if outcome.token is None:
                    raise RuntimeError(f"set-up login of {user.username} failed: {outcome.error}")
                tokens.append(outcome.token)
            client.close()

        async with asyncio.TaskGroup() as group:
            for index in range(8):
                group.create_task(log_in(index))
        # Every (endpoint, token) request is encoded once, here.
        self.requests = {
            name: [
                encode_request(
                    ctx.target, *ENDPOINTS[name], headers=[bearer(token), *FORWARDED.get(name, [])]
                )
                for token in tokens
            ]
            for name in self.mix
        }

    async def run(self, ctx: RunContext) -> None:
        cycle = schedule(self.mix)
        ops = {name: ctx.recorder.op(name) for name in self.mix}
        requests = self.requests
        connections = ctx.options.connections

        async def worker(index: int) -> None:
            client = ctx.client()
            n = index
            while True:
                name = cycle[n % len(cycle)]
                batch = requests[name]
                raw = batch[n % len(batch)]
                n += connections
                try:
                    await ctx.request(client, ops[name], raw)
                except BudgetExhausted:
                    return
                except TransportError:
                    continue

        async with asyncio.TaskGroup() as group:
            for index in range(connections):
                group.create_task(worker(index))

    def headline(self, ctx: RunContext, seconds: float) -> dict[str, Any]:
        figures: dict[str, Any] = {"mix": self.mix}
        for name in self.mix:
            stats = ctx.recorder.op(name)
            ok = stats.statuses.get(200, 0)
            figures[f"{name}_per_s"] = ok / seconds if seconds else None
            figures[f"{name}_not_ok"] = stats.count - ok
        return figures


class Ping(Scenario):
    """The baselines: GET / answered 200, to measure a server (bare
    Hypercorn-Trio, nginx) or the generator's own ceiling."""

    name = "ping"
    description = "GET / on keep-alive connections (baselines: bare app, nginx)"
    default_users = 1
    default_connections = 64

    async def run(self, ctx: RunContext) -> None:
        raw = encode_request(ctx.target, "GET", "/")
        op = ctx.recorder.op("ping")

        async def worker() -> None:
            client = ctx.client()
            while True:
                try:
                    await ctx.request(client, op, raw)
                except BudgetExhausted:
                    return
                except TransportError:
                    continue

        async with asyncio.TaskGroup() as group:
            for _ in range(ctx.options.connections):
                group.create_task(worker())

    def headline(self, ctx: RunContext, seconds: float) -> dict[str, Any]:
        ok = ctx.recorder.op("ping").statuses.get(200, 0)
        return {"requests_per_s": ok / seconds if seconds else None}
