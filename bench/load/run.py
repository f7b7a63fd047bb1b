"""One bounded run of one scenario: start the target if none is given,
provision, drive the load with a progress line a second, and write the
report.

The generator runs on uvloop in this process (pinned to its own core); the
gateway, bare app or nginx runs in a child process pinned to the other.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import signal
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvloop

from bench.load import report, servers
from bench.load.machine import hash_seconds, machine_info
from bench.load.scenarios import SCENARIOS, RunContext, RunOptions, Scenario
from bench.load.stats import (
    Recorder,
    RunBudget,
    check_bounds,
    print_progress,
    progress_line,
)
from bench.load.target import Target, loopback_target
from bench.load.users import AdminApi

REQUEST_TIMEOUT = 30.0  # a request with no answer by then is aborted and counted
PREPARE_TIMEOUT = 600.0  # provisioning and set-up logins must end by then
DEFAULT_DURATION = 15.0
DEFAULT_MAX_REQUESTS = 1_000_000
DEFAULT_OUT = Path("bench/results/load")


@dataclass
class RunSpec:
    scenario: str
    duration: float = DEFAULT_DURATION
    max_requests: int = DEFAULT_MAX_REQUESTS
    users: int | None = None
    connections: int | None = None
    target: str | None = None  # None: start a gateway (or, for ping, nothing to start)
    admin_url: str | None = None
    admin_token: str | None = None
    argon2: str | None = "insecure-load-test"  # of the started gateway; None: unknown
    label: str | None = None
    out: Path = DEFAULT_OUT
    pin: bool = True
    progress: bool = True
    max_failures: int = 10
    server_name: str | None = None  # what the target is, for the report
    store: str | None = None  # the started gateway's store backend (default: SQLite)
    upstream: str | None = None  # the started gateway's /upstream route goes there
    extra: dict[str, Any] = field(default_factory=dict)

    def options(self, scenario: type[Scenario]) -> RunOptions:
        return RunOptions(
            users=self.users or scenario.default_users,
            connections=self.connections or scenario.default_connections,
            duration=self.duration,
            max_requests=self.max_requests,
            extra=dict(self.extra),
        )


def run(spec: RunSpec) -> dict[str, Any]:
    """Run ``spec`` to the end and write its outputs; returns the result."""
    try:
        scenario_type = SCENARIOS[spec.scenario]
    except KeyError:
        raise ValueError(
            f"unknown scenario {spec.scenario!r}; known: {', '.join(SCENARIOS)}"
        ) from None
    options = spec.options(scenario_type)
    check_bounds(options.duration, options.max_requests, options.users, options.connections)
    if spec.target is not None:
        loopback_target(spec.target)  # refuse before starting anything
    if spec.admin_url is not None:
        loopback_target(spec.admin_url)
    # SIGTERM unwinds like Ctrl-C, so the server this run started is stopped.
    signal.signal(signal.SIGTERM, _terminate)
    with _target(spec, scenario_type) as (target, admin_target, token, server_name, profile):
        if spec.pin:
            servers.pin_to_cpu(0, servers.GENERATOR_CPU)
        else:
            servers.unpin(0)
        argon2 = None
        if spec.argon2 and scenario_type is not SCENARIOS["ping"]:
            argon2 = hash_seconds(spec.argon2)
        result = uvloop.run(_drive(scenario_type(), target, admin_target, token, options, spec))
    result.update(
        {
            "scenario": spec.scenario,
            "label": spec.label or spec.scenario,
            "description": scenario_type.description,
            "finished_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "machine": machine_info(),
            "generator": {
                "loop": "uvloop",
                "client": "asyncio Protocol + httptools, keep-alive",
                "pinned_cpu": servers.GENERATOR_CPU if spec.pin else None,
                "process": "separate from the server",
            },
            "target": {
                "url": target.url,
                "server": server_name,
                "started_by_generator": spec.target is None,
                "argon2": spec.argon2 if scenario_type is not SCENARIOS["ping"] else None,
                "profile": profile,
                "pinned_cpu": servers.SERVER_CPU if spec.pin and spec.target is None else None,
            },
            "argon2": argon2,
        }
    )
    result["files"] = [str(p) for p in report.write_outputs(result, spec.out)]
    return result


def _terminate(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def _target(
    spec: RunSpec, scenario: type[Scenario]
) -> Iterator[tuple[Target, Target | None, str | None, str, str | None]]:
    """(public target, admin target, admin token, server name, gateway profile)."""
    if spec.target is not None:
        admin = loopback_target(spec.admin_url) if spec.admin_url else None
        name = spec.server_name or "external target"
        yield loopback_target(spec.target), admin, spec.admin_token, name, None
        return
    if scenario is SCENARIOS["ping"]:
        raise ValueError("ping needs --target (the baseline command starts its servers)")
    gateway = servers.GatewayServer(
        spec.argon2 or "insecure-load-test",
        scenario.rate_limits,
        spec.pin,
        spec.store,
        spec.upstream,
    )
    with gateway:
        yield (
            loopback_target(gateway.url),
            loopback_target(gateway.admin_url),
            servers.LOAD_ADMIN_TOKEN,
            "login-gateway",
            gateway.profile,
        )


async def _drive(
    scenario: Scenario,
    target: Target,
    admin_target: Target | None,
    token: str | None,
    options: RunOptions,
    spec: RunSpec,
) -> dict[str, Any]:
    admin = AdminApi(admin_target, token or "") if admin_target is not None else None
    budget = RunBudget(options.duration, options.max_requests, asyncio.get_running_loop().time)
    ctx = RunContext(target, admin, budget, Recorder(), options, max_failures=spec.max_failures)  # type: ignore[arg-type]
    try:
        if admin is not None:
            await admin.now()  # learns whether the target has a test clock
        try:
            async with asyncio.timeout(PREPARE_TIMEOUT):
                await scenario.prepare(ctx)
        except TimeoutError:
            raise RuntimeError(
                f"set-up (provisioning users) did not finish in {PREPARE_TIMEOUT:g} s"
            ) from None
        label = spec.label or spec.scenario
        budget.start()
        ticker = asyncio.create_task(_tick(ctx, label, spec.progress))
        hard_stop = False
        try:
            async with asyncio.timeout(options.duration + REQUEST_TIMEOUT + 5):
                await scenario.run(ctx)
        except TimeoutError:
            hard_stop = True
        finally:
            seconds = budget.elapsed()
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
        ctx.recorder.tick(seconds)  # the last, partial second
        # Rates are over the measured span: the bound, or less if the
        # scenario ran out of work first; in-flight answers after it count.
        span = min(seconds, options.duration)
        return {
            "bounds": {
                "duration_s": options.duration,
                "max_requests": options.max_requests,
                "users": options.users,
                "connections": options.connections,
                "stopped_by": "hard stop" if hard_stop else budget.stopped_by or "scenario end",
                "request_timeout_s": REQUEST_TIMEOUT,
            },
            "seconds": span,
            "requests": budget.issued,
            "rps": budget.issued / span if span else None,
            "headline": scenario.headline(ctx, span),
            "ops": ctx.recorder.to_json(span),
            "series": ctx.recorder.series,
            "options": options.extra,
        }
    finally:
        for client in ctx.clients:
            client.close()
        if admin is not None:
            admin.close()


async def _tick(ctx: RunContext, label: str, show: bool) -> None:
    """Once a second: close the second in the series, print a progress line,
    and abort requests that have had no answer for REQUEST_TIMEOUT."""
    loop = asyncio.get_running_loop()
    last = 0.0
    while True:
        await asyncio.sleep(1.0)
        elapsed = ctx.budget.elapsed()
        point = ctx.recorder.tick(elapsed)
        errors: Counter[str] = Counter()
        for stats in ctx.recorder.ops.values():
            errors.update(stats.errors)
        if show:
            print_progress(progress_line(label, point, elapsed - last, errors), sys.stderr)
        last = elapsed
        cutoff = loop.time() - REQUEST_TIMEOUT
        for client in ctx.clients:
            client.expire(cutoff)
