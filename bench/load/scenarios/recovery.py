"""recovery-flood: password-recovery requests at a multiple of what the
per-address limit lets through, beside health checks and legit logins.

Recovery asks nothing of its caller, so anyone can send it at any rate. The
gateway sheds it at the edge (a lane and a bucket per address), limits it
per name and per destination, and limits what reaches a person at the
notifier. The figures: ``/healthz`` p99 and full-login p99 (password +
TOTP) during the flood against quiet (target: at most 2x), and the messages
the flooded user received against the configured per-user limit. In the
quiet phase a probe also times recoveries for real users against names
nobody has (the answers are alike; this is what their timing says).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, deque
from collections.abc import Callable
from typing import Any

from bench.load.http import HttpClient, TransportError, encode_request, error_code, json_request
from bench.load.scenarios.attacks import paced
from bench.load.scenarios.base import (
    BudgetExhausted,
    LoginOps,
    RunContext,
    Scenario,
    login,
    logout,
)
from bench.load.scenarios.logins import provision_pool
from bench.load.target import loopback_source
from bench.load.users import PASSWORD, run_tag, usernames
from gateway.config import LoginAdmissionConfig, NotifierConfig


class RecoveryFlood(Scenario):
    name = "recovery-flood"
    description = (
        "health checks and legit logins (password + TOTP) at a steady rate, quiet and then "
        "beside a flood of password recoveries (half for one real user, half for names "
        "nobody has) from many loopback addresses at --flood-multiple (10) times what the "
        "per-address limit allows; /healthz and full-login p99 against quiet, and the "
        "messages the flooded user received against the per-user limit"
    )
    default_users = 50
    default_connections = 16
    FLOOD_MULTIPLE = 10.0
    FLOOD_IPS = 64
    FLOOD_CONNECTIONS = 256
    HEALTH_RATE = 50.0  # /healthz a second, one connection at a time per probe
    HEALTH_CONNECTIONS = 8
    LOGIN_RATE = 10.0  # legit full logins a second
    PROBE_NAMES = 40  # real users (with an e-mail) and as many names nobody has
    PROBE_RATE = 8.0  # probe recoveries a second, in the quiet phase
    PROBE_SOURCES = 8  # its addresses, within their per-address limit
    # Shares of the run: warm-up (connections, caches; not in the figures),
    # quiet, then the flood for the rest.
    WARMUP_SHARE = 0.1
    QUIET_SHARE = 0.35
    # The gateway's defaults (this scenario runs it unchanged).
    PER_ADDRESS_RATE = LoginAdmissionConfig().recovery_rate
    PER_USER_PER_MINUTE = NotifierConfig().per_user_per_minute

    def _option(self, ctx: RunContext, name: str, default: float) -> float:
        value = ctx.options.extra.get(name)
        return float(default if value is None else value)

    async def prepare(self, ctx: RunContext) -> None:
        self.pool = await provision_pool(ctx)
        tag = run_tag()
        self.victim = f"rf{tag}victim"
        self.email = f"{self.victim}@example.com"
        await ctx.admin.expect(
            "POST",
            "/admin/v1/users",
            {"username": self.victim, "password": PASSWORD, "email": self.email},
            status=201,
        )
        self.multiple = self._option(ctx, "flood_multiple", self.FLOOD_MULTIPLE)
        ips = int(self._option(ctx, "flood_ips", self.FLOOD_IPS))
        self.allowed_rate = self.PER_ADDRESS_RATE * ips
        self.flood_rate = self.multiple * self.allowed_rate
        sources = [loopback_source(f"127.0.{1 + i // 250}.{1 + i % 250}") for i in range(ips)]
        self.flood_clients = deque(
            ctx.client(sources[i % len(sources)]) for i in range(self.FLOOD_CONNECTIONS)
        )
        self.health_clients = deque(
            ctx.client(loopback_source("127.0.150.1")) for _ in range(self.HEALTH_CONNECTIONS)
        )
        self.login_clients = deque(
            ctx.client(loopback_source(f"127.0.100.{1 + i}"))
            for i in range(ctx.options.connections)
        )
        strangers = usernames("rf" + tag, 2000)
        names = [name for stranger in strangers for name in (self.victim, stranger)]
        self.flood_requests = [
            json_request(ctx.target, "POST", "/v1/recovery/password", {"username": name})
            for name in names
        ]
        self.health_request = encode_request(ctx.target, "GET", "/healthz")
        known = [f"rf{tag}k{i:03d}" for i in range(self.PROBE_NAMES)]
        await asyncio.gather(
            *(
                ctx.admin.expect(
                    "POST",
                    "/admin/v1/users",
                    {"username": n, "password": PASSWORD, "email": f"{n}@example.com"},
                    status=201,
                )
                for n in known
            )
        )
        unknown = [f"rf{tag}n{i:03d}" for i in range(self.PROBE_NAMES)]
        self.probes = deque(
            (kind, json_request(ctx.target, "POST", "/v1/recovery/password", {"username": n}))
            for pair in zip(known, unknown, strict=True)
            for kind, n in zip(("known", "unknown"), pair, strict=True)
        )
        self.probe_clients = deque(
            ctx.client(loopback_source(f"127.0.160.{1 + i}")) for i in range(self.PROBE_SOURCES)
        )
        self.flood_answers: Counter[str] = Counter()
        self.dropped: Counter[str] = Counter()

    async def run(self, ctx: RunContext) -> None:
        start_ns = time.perf_counter_ns()
        span_ns = int(ctx.budget.duration * 1e9)
        warm_end = start_ns + int(span_ns * self.WARMUP_SHARE)
        quiet_end = warm_end + int(span_ns * self.QUIET_SHARE)
        flood_end = start_ns + span_ns
        tasks: set[asyncio.Task[None]] = set()
        await self._phase(ctx, "warmup", warm_end, tasks, flood=False)
        quiet_started = time.perf_counter_ns()
        await self._phase(ctx, "quiet", quiet_end, tasks, flood=False)
        flood_started = time.perf_counter_ns()
        await self._phase(ctx, "flood", flood_end, tasks, flood=True)
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self.flood_seconds = (time.perf_counter_ns() - flood_started) / 1e9
        self.quiet_seconds = (flood_started - quiet_started) / 1e9
        sent = await ctx.admin.expect("GET", f"/admin/v1/outbox?to={self.email}")
        self.delivered = len(sent["messages"])

    async def _phase(
        self,
        ctx: RunContext,
        phase: str,
        until_ns: int,
        tasks: set[asyncio.Task[None]],
        *,
        flood: bool,
    ) -> None:
        async with asyncio.TaskGroup() as group:
            group.create_task(
                paced(ctx, self.HEALTH_RATE, until_ns, self._health_firer(ctx, phase, tasks))
            )
            group.create_task(
                paced(ctx, self.LOGIN_RATE, until_ns, self._login_firer(ctx, phase, tasks))
            )
            if phase == "quiet":
                group.create_task(
                    paced(ctx, self.PROBE_RATE, until_ns, self._probe_firer(ctx, tasks))
                )
            if flood:
                firer = self._flood_firer(ctx, tasks)
                group.create_task(paced(ctx, self.flood_rate, until_ns, firer))

    def _spawn(self, tasks: set[asyncio.Task[None]], coroutine: Any) -> None:
        task = asyncio.create_task(coroutine)
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    def _health_firer(
        self, ctx: RunContext, phase: str, tasks: set[asyncio.Task[None]]
    ) -> Callable[[int], None]:
        op, idle = ctx.recorder.op(f"{phase}:healthz"), self.health_clients

        async def one(client: HttpClient) -> None:
            try:
                await ctx.request(client, op, self.health_request)
            except (BudgetExhausted, TransportError):
                pass
            finally:
                idle.append(client)

        def fire(scheduled_ns: int) -> None:
            if not idle:
                self.dropped["healthz"] += 1
                return
            self._spawn(tasks, one(idle.popleft()))

        return fire

    def _login_firer(
        self, ctx: RunContext, phase: str, tasks: set[asyncio.Task[None]]
    ) -> Callable[[int], None]:
        ops, idle, pool = LoginOps.named(ctx.recorder, f"{phase}:"), self.login_clients, self.pool

        async def one(client: HttpClient, scheduled_ns: int) -> None:
            user = await pool.acquire()
            try:
                outcome = await login(ctx, client, user, pool, ops, started_ns=scheduled_ns)
                if outcome.token:
                    await logout(ctx, client, ctx.recorder.op("logout"), outcome.token)
            except (BudgetExhausted, TransportError):
                pass
            finally:
                pool.release(user)
                idle.append(client)

        def fire(scheduled_ns: int) -> None:
            if not idle:
                self.dropped["login"] += 1
                return
            self._spawn(tasks, one(idle.popleft(), scheduled_ns))

        return fire

    def _probe_firer(
        self, ctx: RunContext, tasks: set[asyncio.Task[None]]
    ) -> Callable[[int], None]:
        idle, probes = self.probe_clients, self.probes
        ops = {kind: ctx.recorder.op(f"probe:recovery_{kind}") for kind in ("known", "unknown")}

        async def one(client: HttpClient, kind: str, raw: bytes) -> None:
            try:
                await ctx.request(client, ops[kind], raw)
            except (BudgetExhausted, TransportError):
                pass
            finally:
                idle.append(client)

        def fire(scheduled_ns: int) -> None:
            if not idle or not probes:
                self.dropped["probe"] += 1
                return
            kind, raw = probes.popleft()  # each name once: the per-name limit stays out of it
            self._spawn(tasks, one(idle.popleft(), kind, raw))

        return fire

    def _flood_firer(
        self, ctx: RunContext, tasks: set[asyncio.Task[None]]
    ) -> Callable[[int], None]:
        op, idle, requests = (
            ctx.recorder.op("recovery_flood"),
            self.flood_clients,
            self.flood_requests,
        )
        sent = 0

        async def one(client: HttpClient, raw: bytes) -> None:
            try:
                answer = await ctx.request(client, op, raw)
                self.flood_answers[error_code(answer) or str(answer.status)] += 1
            except (BudgetExhausted, TransportError):
                pass
            finally:
                idle.append(client)

        def fire(scheduled_ns: int) -> None:
            nonlocal sent
            if not idle:
                self.dropped["flood"] += 1
                return
            raw = requests[sent % len(requests)]
            sent += 1
            self._spawn(tasks, one(idle.popleft(), raw))

        return fire

    def headline(self, ctx: RunContext, seconds: float) -> dict[str, Any]:
        def p99(op: str) -> float | None:
            histogram = ctx.recorder.op(op).histogram
            return histogram.percentile(99) if histogram.count else None

        def ratio(top: float | None, bottom: float | None) -> float | None:
            return top / bottom if top and bottom else None

        flood_seconds = getattr(self, "flood_seconds", None)
        # What the notifier may let through to one user over the flood: a
        # full burst, then its per-minute rate.
        limit = self.PER_USER_PER_MINUTE * (1 + (flood_seconds or 0) / 60)
        figures: dict[str, Any] = {
            "allowed_rate_per_s": self.allowed_rate,
            "flood_rate_per_s": self.flood_rate,
            "flood_multiple": self.multiple,
            "flood_source_ips": len({c.source for c in self.flood_clients}),
            "flood_answers": dict(self.flood_answers),
            "flood_answered_per_s": (
                ctx.recorder.op("recovery_flood").count / flood_seconds if flood_seconds else None
            ),
            "healthz_quiet_p99_us": p99("quiet:healthz"),
            "healthz_flood_p99_us": p99("flood:healthz"),
            "login_quiet_p99_us": p99("quiet:full_login"),
            "login_flood_p99_us": p99("flood:full_login"),
            "logins_quiet": ctx.recorder.op("quiet:full_login").statuses.get(200, 0),
            "logins_flood": ctx.recorder.op("flood:full_login").statuses.get(200, 0),
            "login_flood_failures": dict(ctx.recorder.op("flood:full_login").errors),
            "messages_to_flooded_user": getattr(self, "delivered", None),
            "per_user_limit_over_flood": limit,
            "phase_seconds": {
                "quiet": getattr(self, "quiet_seconds", None),
                "flood": flood_seconds,
            },
            "not_sent_all_connections_busy": dict(self.dropped),
        }
        for kind in ("known", "unknown"):
            histogram = ctx.recorder.op(f"probe:recovery_{kind}").histogram
            for q in (50, 99):
                value = histogram.percentile(q) if histogram.count else None
                figures[f"recovery_{kind}_p{q}_us"] = value
        figures["recovery_p50_known_over_unknown"] = ratio(
            figures["recovery_known_p50_us"], figures["recovery_unknown_p50_us"]
        )
        figures["healthz_p99_flood_over_quiet"] = ratio(
            figures["healthz_flood_p99_us"], figures["healthz_quiet_p99_us"]
        )
        figures["login_p99_flood_over_quiet"] = ratio(
            figures["login_flood_p99_us"], figures["login_quiet_p99_us"]
        )
        return figures
