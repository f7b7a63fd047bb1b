"""Attack scenarios: credential-stuffing (a flood beside legit users) and
lockout-storm (parallel wrong passwords on a few users)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from bench.load.http import HttpClient, TransportError, error_code, json_request
from bench.load.scenarios.base import (
    BudgetExhausted,
    LoginOps,
    RunContext,
    Scenario,
    login,
    login_and_logout,
    logout,
)
from bench.load.scenarios.logins import provision_pool
from bench.load.target import loopback_source
from bench.load.users import PASSWORD, provision, run_tag, usernames

WRONG_PASSWORD = "wrong1234"


async def paced(ctx: RunContext, rate: float, until_ns: int, fire: Callable[[int], None]) -> None:
    """Call ``fire(scheduled_ns)`` ``rate`` times a second until ``until_ns``
    (perf_counter_ns) or the end of the budget: an open loop, so a slow
    server gets the offered load anyway, and latencies are measured from the
    scheduled start (no coordinated omission)."""
    if rate <= 0:
        return
    interval = int(1e9 / rate)
    due = time.perf_counter_ns()
    while not ctx.budget.exhausted:
        now = time.perf_counter_ns()
        if now >= until_ns:
            return
        while due <= now:
            fire(due)
            due += interval
        await asyncio.sleep(min(due, until_ns) / 1e9 - now / 1e9)


class CredentialStuffing(Scenario):
    name = "credential-stuffing"
    description = (
        "calibrate login capacity with legit users, then legit logins at a fraction of it "
        "(quiet); then the same legit load beside a flood of wrong passwords over many "
        "usernames from many loopback addresses at a multiple of capacity; then beside a "
        "flood from one address at its allowed rate; half the legit users keep their "
        "trusted-device cookie; legit p50/p99 per phase, with and without the cookie"
    )
    default_users = 300
    default_connections = 16
    FLOOD_MULTIPLE = 4.0
    LEGIT_FRACTION = 0.25
    FLOOD_USERNAMES = 2000
    FLOOD_CONNECTIONS = 256
    FLOOD_IPS = 16
    LEGIT_CONNECTIONS = 64
    SINGLE_RATE = 5.0  # the per-IP bucket's production rate
    SINGLE_CONNECTIONS = 64
    # Share of the run: calibrate, quiet, many-address flood, one-address flood;
    # the rest leaves time for the first flood's last answers between the two.
    PHASES = (0.2, 0.2, 0.25, 0.2)

    def _option(self, ctx: RunContext, name: str, default: float) -> float:
        value = ctx.options.extra.get(name)
        return float(default if value is None else value)

    async def prepare(self, ctx: RunContext) -> None:
        self.pool = await provision_pool(ctx, keeps_device=lambda index: index % 2 == 0)
        self.multiple = self._option(ctx, "flood_multiple", self.FLOOD_MULTIPLE)
        self.fraction = self._option(ctx, "legit_fraction", self.LEGIT_FRACTION)
        self.single_rate = self._option(ctx, "single_rate", self.SINGLE_RATE)
        count = int(self._option(ctx, "flood_usernames", self.FLOOD_USERNAMES))
        ips = int(self._option(ctx, "flood_ips", self.FLOOD_IPS))
        flood_connections = int(self._option(ctx, "flood_connections", self.FLOOD_CONNECTIONS))
        # Guessed names nobody has: each costs a hash until the per-user bucket
        # or the lockout sheds it.
        self.flood_names = usernames("st" + run_tag(), count)
        sources = [loopback_source(f"127.0.{1 + i // 250}.{1 + i % 250}") for i in range(ips)]
        self.flood_clients = deque(
            ctx.client(sources[i % len(sources)] if sources else None)
            for i in range(flood_connections)
        )
        # The one-address flood: many connections, one source.
        single = loopback_source("127.0.200.1")
        self.single_clients = deque(ctx.client(single) for _ in range(self.SINGLE_CONNECTIONS))
        # Legit users come from addresses of their own, as people do.
        self.legit_clients = deque(
            ctx.client(loopback_source(f"127.0.100.{1 + i}")) for i in range(self.LEGIT_CONNECTIONS)
        )
        self.flood_requests = [
            json_request(
                ctx.target,
                "POST",
                "/v1/login",
                {"username": name, "password": WRONG_PASSWORD, "platform": "tws"},
            )
            for name in self.flood_names
        ]

    async def run(self, ctx: RunContext) -> None:
        budget = ctx.budget
        assert budget.started_at is not None
        start_ns = time.perf_counter_ns()
        span_ns = int(budget.duration * 1e9)
        ends, at = [], 0.0
        for share in self.PHASES:
            at += share
            ends.append(start_ns + int(span_ns * at))
        calibrate_end, quiet_end, flood_end, _ = ends

        # 1. Capacity: legit logins as fast as they go (each user's first
        #    login also hands out its device cookie, kept by half of them).
        calibration = LoginOps.named(ctx.recorder, "calibrate:")
        await self._closed_loop(ctx, calibration, calibrate_end)
        elapsed = (time.perf_counter_ns() - start_ns) / 1e9
        self.capacity = calibration.full.statuses.get(200, 0) / elapsed if elapsed else 0.0
        self.legit_rate = self.fraction * self.capacity
        self.flood_rate = self.multiple * self.capacity
        self.dropped: Counter[str] = Counter()
        self.flood_answers: Counter[str] = Counter()
        self.single_answers: Counter[str] = Counter()
        tasks: set[asyncio.Task[None]] = set()
        flood_tasks: set[asyncio.Task[None]] = set()
        marks = [time.perf_counter_ns()]

        # 2. Quiet: legit logins at a fraction of capacity.
        await paced(ctx, self.legit_rate, quiet_end, self._legit_firer(ctx, "quiet", tasks))
        marks.append(time.perf_counter_ns())
        # 3. The same legit load beside a many-address flood.
        await self._beside_a_flood(
            ctx, "flood", flood_end, self.flood_rate, self.flood_clients, tasks, flood_tasks
        )
        marks.append(time.perf_counter_ns())
        # What the flood still has in flight ends before the next phase.
        await _drain(tasks, flood_tasks)
        marks.append(time.perf_counter_ns())
        single_end = marks[-1] + int(span_ns * self.PHASES[3])
        # 4. The same legit load beside one address at its allowed rate.
        await self._beside_a_flood(
            ctx, "single", single_end, self.single_rate, self.single_clients, tasks, flood_tasks
        )
        marks.append(time.perf_counter_ns())
        await _drain(tasks, flood_tasks)
        self.phase_seconds = {
            "calibrate": elapsed,
            "quiet": (marks[1] - marks[0]) / 1e9,
            "flood": (marks[2] - marks[1]) / 1e9,
            "single": (marks[4] - marks[3]) / 1e9,
        }

    async def _beside_a_flood(
        self,
        ctx: RunContext,
        phase: str,
        until_ns: int,
        rate: float,
        clients: deque[HttpClient],
        tasks: set[asyncio.Task[None]],
        flood_tasks: set[asyncio.Task[None]],
    ) -> None:
        """Legit logins at the legit rate beside a flood at ``rate`` from
        ``clients``, until ``until_ns``."""
        op = "stuffing" if phase == "flood" else "single_flood"
        async with asyncio.TaskGroup() as group:
            group.create_task(
                paced(ctx, self.legit_rate, until_ns, self._legit_firer(ctx, phase, tasks))
            )
            group.create_task(
                paced(ctx, rate, until_ns, self._flood_firer(ctx, flood_tasks, clients, op, phase))
            )

    async def _closed_loop(self, ctx: RunContext, ops: LoginOps, until_ns: int) -> None:
        pool = self.pool

        async def worker(client: HttpClient) -> None:
            while time.perf_counter_ns() < until_ns and not ctx.budget.exhausted:
                user = await pool.acquire()
                try:
                    await login_and_logout(ctx, client, user, pool, ops)
                except (BudgetExhausted, TransportError):
                    pass
                finally:
                    pool.release(user)

        count = min(ctx.options.connections, len(self.legit_clients))
        clients = [self.legit_clients[i] for i in range(count)]
        async with asyncio.TaskGroup() as group:
            for client in clients:
                group.create_task(worker(client))

    def _legit_firer(
        self, ctx: RunContext, phase: str, tasks: set[asyncio.Task[None]]
    ) -> Callable[[int], None]:
        idle, pool = self.legit_clients, self.pool
        # One op for every legit login, one for each kind of user.
        every = LoginOps.named(ctx.recorder, f"{phase}:")
        kinds = {
            True: LoginOps.named(ctx.recorder, f"{phase}:trusted:"),
            False: LoginOps.named(ctx.recorder, f"{phase}:untrusted:"),
        }

        async def one(client: HttpClient, scheduled_ns: int) -> None:
            user = await pool.acquire()
            trusted = user.device_cookie is not None
            try:
                outcome = await login(
                    ctx, client, user, pool, kinds[trusted], started_ns=scheduled_ns
                )
                taken = (time.perf_counter_ns() - scheduled_ns) // 1000
                every.full.record(outcome.status, taken, outcome.error)
                if outcome.token:
                    await logout(ctx, client, ctx.recorder.op("logout"), outcome.token)
            except (BudgetExhausted, TransportError):
                pass
            finally:
                pool.release(user)
                idle.append(client)

        def fire(scheduled_ns: int) -> None:
            if not idle:
                self.dropped["legit"] += 1  # every legit connection is busy
                return
            task = asyncio.create_task(one(idle.popleft(), scheduled_ns))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

        return fire

    def _flood_firer(
        self,
        ctx: RunContext,
        tasks: set[asyncio.Task[None]],
        idle: deque[HttpClient],
        op_name: str,
        kind: str,
    ) -> Callable[[int], None]:
        requests, op = self.flood_requests, ctx.recorder.op(op_name)
        answers = self.flood_answers if kind == "flood" else self.single_answers
        sent = 0

        async def one(client: HttpClient, raw: bytes) -> None:
            try:
                answer = await ctx.request(client, op, raw)
                answers[error_code(answer) or str(answer.status)] += 1
            except (BudgetExhausted, TransportError):
                pass
            finally:
                idle.append(client)

        def fire(scheduled_ns: int) -> None:
            nonlocal sent
            if not idle:
                self.dropped[kind] += 1  # every flood connection is busy
                return
            raw = requests[sent % len(requests)]
            sent += 1
            task = asyncio.create_task(one(idle.popleft(), raw))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

        return fire

    def headline(self, ctx: RunContext, seconds: float) -> dict[str, Any]:
        def p(op: str, q: float) -> float | None:
            histogram = ctx.recorder.op(op).histogram
            return histogram.percentile(q) if histogram.count else None

        def ratio(top: float | None, bottom: float | None) -> float | None:
            return top / bottom if top and bottom else None

        phases = getattr(self, "phase_seconds", {})
        figures: dict[str, Any] = {
            "capacity_logins_per_s": getattr(self, "capacity", None),
            "legit_rate_per_s": getattr(self, "legit_rate", None),
            "flood_rate_per_s": getattr(self, "flood_rate", None),
            "flood_multiple": self.multiple,
            "flood_usernames": len(self.flood_names),
            "flood_source_ips": len({c.source for c in self.flood_clients}),
            "single_flood_rate_per_s": self.single_rate,
            "legit_quiet_p50_us": p("quiet:full_login", 50),
            "legit_quiet_p99_us": p("quiet:full_login", 99),
            "legit_flood_p50_us": p("flood:full_login", 50),
            "legit_flood_p99_us": p("flood:full_login", 99),
            "legit_single_p99_us": p("single:full_login", 99),
            "legit_quiet_logins": ctx.recorder.op("quiet:full_login").statuses.get(200, 0),
            "legit_flood_logins": ctx.recorder.op("flood:full_login").statuses.get(200, 0),
            "legit_flood_failures": dict(ctx.recorder.op("flood:full_login").errors),
            "legit_single_failures": dict(ctx.recorder.op("single:full_login").errors),
            "flood_answers": dict(getattr(self, "flood_answers", {})),
            "single_flood_answers": dict(getattr(self, "single_answers", {})),
            "phase_seconds": phases,
            "flood_answered_per_s": _per_s(ctx.recorder.op("stuffing").count, phases.get("flood")),
            "legit_flood_logins_per_s": _per_s(
                ctx.recorder.op("flood:full_login").statuses.get(200, 0), phases.get("flood")
            ),
            "not_sent_all_connections_busy": dict(getattr(self, "dropped", {})),
        }
        for kind in ("trusted", "untrusted"):
            quiet = p(f"quiet:{kind}:full_login", 99)
            figures[f"{kind}_quiet_p99_us"] = quiet
            for phase in ("flood", "single"):
                under = p(f"{phase}:{kind}:full_login", 99)
                figures[f"{kind}_{phase}_p99_us"] = under
                figures[f"{kind}_p99_{phase}_over_quiet"] = ratio(under, quiet)
        q99, f99 = figures["legit_quiet_p99_us"], figures["legit_flood_p99_us"]
        figures["legit_p99_flood_over_quiet"] = ratio(f99, q99)
        figures["legit_p99_single_over_quiet"] = ratio(figures["legit_single_p99_us"], q99)
        q50, f50 = figures["legit_quiet_p50_us"], figures["legit_flood_p50_us"]
        figures["legit_p50_flood_over_quiet"] = ratio(f50, q50)
        return figures


async def _drain(*groups: set[asyncio.Task[None]]) -> None:
    pending = [task for group in groups for task in group]
    if pending:
        await asyncio.gather(*pending, return_exceptions=True)


def _per_s(count: int, seconds: float | None) -> float | None:
    return count / seconds if seconds else None


class LockoutStorm(Scenario):
    name = "lockout-storm"
    description = (
        "many parallel wrong passwords on a few users; exactly lockout.max_failures of them "
        "per user may be evaluated (invalid_credentials), every other one is refused "
        "(locked, or rate_limited while the last attempts are in flight)"
    )
    default_users = 5
    default_connections = 200
    # Let every attempt reach the lockout guard: with the production per-user
    # bucket (burst 20) most would be shed before it, and the race this
    # scenario checks would not be run.
    rate_limits: ClassVar[Mapping[str, float]] = {
        "user_rate": 1_000_000.0,
        "user_burst": 1_000_000_000.0,
    }

    async def prepare(self, ctx: RunContext) -> None:
        names = usernames("lk" + run_tag(), ctx.options.users)
        self.victims = [user.username for user in await provision(ctx.admin, names, totp=False)]
        self.evaluated: Counter[str] = Counter()
        self.answers: Counter[str] = Counter()

    async def run(self, ctx: RunContext) -> None:
        op = ctx.recorder.op("wrong_password")

        async def worker(index: int) -> None:
            victim = self.victims[index % len(self.victims)]
            raw = json_request(
                ctx.target,
                "POST",
                "/v1/login",
                {"username": victim, "password": WRONG_PASSWORD, "platform": "tws"},
            )
            client = ctx.client()
            while True:
                try:
                    answer = await ctx.request(client, op, raw)
                except BudgetExhausted:
                    return
                except TransportError:
                    continue
                code = error_code(answer) or str(answer.status)
                self.answers[code] += 1
                if code == "invalid_credentials":
                    self.evaluated[victim] += 1

        async with asyncio.TaskGroup() as group:
            for index in range(ctx.options.connections):
                group.create_task(worker(index))
        await self._check_locked(ctx)

    async def _check_locked(self, ctx: RunContext) -> None:
        """After the storm (untimed): the right password is refused, and
        support sees every victim locked."""
        client = ctx.client()
        self.right_password_answers: Counter[str] = Counter()
        self.locked_users = 0
        for victim in self.victims:
            raw = json_request(
                ctx.target,
                "POST",
                "/v1/login",
                {"username": victim, "password": PASSWORD, "platform": "tws"},
            )
            try:
                answer = await client.send(raw)
                self.right_password_answers[error_code(answer) or str(answer.status)] += 1
            except TransportError as error:
                self.right_password_answers[error.kind] += 1
            info = await ctx.admin.user(victim)
            self.locked_users += bool(info.get("locked"))

    def headline(self, ctx: RunContext, seconds: float) -> dict[str, Any]:
        per_user = {victim: self.evaluated.get(victim, 0) for victim in self.victims}
        expected = ctx.max_failures
        return {
            "max_failures": expected,
            "evaluated_per_user": per_user,
            "evaluated_total": sum(per_user.values()),
            "exactly_max_failures_evaluated": all(n == expected for n in per_user.values()),
            "answers": dict(self.answers),
            "users_locked_after": getattr(self, "locked_users", None),
            "right_password_after_storm": dict(getattr(self, "right_password_answers", {})),
        }
